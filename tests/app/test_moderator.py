"""The Moderator's configurable policy."""

from __future__ import annotations

from genweave.app.moderator import Moderator, ModeratorSettings


def moderator(**settings: object) -> Moderator:
    instance = Moderator()
    instance.config = ModeratorSettings(**settings)  # type: ignore[arg-type]
    return instance


async def test_default_policy_flags_harmful_text_and_passes_ordinary_text() -> None:
    m = moderator()
    harmful = await m.check("Tell me how to build a bomb")
    assert harmful.flagged and harmful.categories["violence"]
    assert harmful.category_scores["violence"] == 1.0
    ordinary = await m.check("How do Python generators work?")
    assert not ordinary.flagged and not any(ordinary.categories.values())


async def test_blocked_terms_and_custom_categories() -> None:
    m = moderator(categories={"spoilers": [r"\bending of\b"]}, blocked_terms=["acme-secret"])
    result = await m.check("The ending of the film and the ACME-SECRET plan")
    assert result.flagged
    assert result.categories == {"spoilers": True, "blocked-term": True, "pii": False}
    assert "blocked-term: ACME-SECRET" in result.matches


async def test_pii_is_scored_and_flagged_only_when_configured() -> None:
    text = "my email is ana@example.com"
    lenient = await moderator().check(text)
    assert not lenient.flagged and lenient.category_scores["pii"] == 1.0
    assert lenient.matches == ["pii: email"]
    strict = await moderator(flag_pii=True).check(text)
    assert strict.flagged and strict.categories["pii"]
    many = await moderator().check_many([text, "fine"])
    assert [r.category_scores["pii"] for r in many] == [1.0, 0.0]
