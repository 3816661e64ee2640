"""The Moderator: a configurable guardrail for what goes into and comes out of the model.

The policy (categories with their terms and patterns, blocked terms, PII) lives
in the topology file under ``[components.Moderator]``, so it changes without a
code change.  Results have the shape of OpenAI's moderation endpoint.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

from genweave.app.pii import find_pii
from genweave.app.types import ModerationResult
from genweave.component import component, method

__all__ = ["DEFAULT_CATEGORIES", "Moderator", "ModeratorSettings"]

DEFAULT_CATEGORIES: Final = {
    "violence": [r"\bkill(?:ing|ed)? (?:him|her|them|you|people)\b", r"\bbuild (?:a|an) bomb\b",
                 r"\bmass shooting\b", r"\bstab(?:bing)? (?:him|her|them|you)\b"],
    "self-harm": [r"\b(?:kill|hurt|harm) myself\b", r"\bsuicide (?:method|plan)s?\b"],
    "harassment": [r"\byou(?:'re| are) (?:worthless|pathetic|an idiot)\b", r"\bshut up,? idiot\b"],
    "hate": [r"\b(?:all|those) \w+ (?:people )?(?:are|should be) (?:vermin|subhuman)\b"],
    "illicit": [r"\bhow (?:do i|to) (?:make|cook) (?:meth|methamphetamine)\b",
                r"\bsteal (?:a|someone's) (?:credit card|identity)\b"],
}
PII_CATEGORY: Final = "pii"
BLOCKED_CATEGORY: Final = "blocked-term"
FLAG_SCORE: Final = 1.0
_NO_MATCH: Final = 0.0


class ModeratorSettings(msgspec.Struct, frozen=True):
    """The policy.  ``categories`` maps a name to regular expressions (case-insensitive)."""

    categories: dict[str, list[str]] = msgspec.field(
        default_factory=lambda: {name: list(p) for name, p in DEFAULT_CATEGORIES.items()}
    )
    blocked_terms: list[str] = []
    detect_pii: bool = True
    flag_pii: bool = False
    """PII is always reported in scores; only flagged (refused) when this is set."""


@component(config=ModeratorSettings)
class Moderator:
    """Scores text against the policy; ``flagged`` means the text should be refused."""

    config: ModeratorSettings

    def __init__(self) -> None:
        self._compiled: dict[str, list[re.Pattern[str]]] | None = None

    def _patterns(self) -> dict[str, list[re.Pattern[str]]]:
        if self._compiled is None:
            self._compiled = {
                name: [re.compile(p, re.IGNORECASE) for p in patterns]
                for name, patterns in self.config.categories.items()
            }
            if self.config.blocked_terms:
                self._compiled[BLOCKED_CATEGORY] = [
                    re.compile(rf"\b{re.escape(term)}\b", re.IGNORECASE)
                    for term in self.config.blocked_terms
                ]
        return self._compiled

    @method(idempotent=True)
    async def check(self, text: str) -> ModerationResult:
        categories: dict[str, bool] = {}
        scores: dict[str, float] = {}
        matches: list[str] = []
        for name, patterns in self._patterns().items():
            hits = [m.group() for p in patterns for m in p.finditer(text)]
            categories[name] = bool(hits)
            scores[name] = FLAG_SCORE if hits else _NO_MATCH
            matches.extend(f"{name}: {hit}" for hit in hits)
        if self.config.detect_pii:
            pii = find_pii(text)
            categories[PII_CATEGORY] = bool(pii) and self.config.flag_pii
            scores[PII_CATEGORY] = FLAG_SCORE if pii else _NO_MATCH
            matches.extend(f"{PII_CATEGORY}: {m.kind}" for m in pii)
        return ModerationResult(any(categories.values()), categories, scores, matches)

    @method(idempotent=True)
    async def check_many(self, texts: list[str]) -> list[ModerationResult]:
        return [await self.check(text) for text in texts]
