"""Writing a conversation as a prompt, for models that have no chat template.

The built-in model was never trained on conversations, and neither are many
small base models; a plain transcript ("User: ...", "Assistant: ...") is the
format such a model is most likely to continue sensibly, and the next
speaker's label is a natural place to stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

__all__ = ["CHAT_STOPS", "Message", "format_chat"]

ROLE_LABELS: Final = {"system": "System", "user": "User", "assistant": "Assistant"}
TURN_SEPARATOR: Final = "\n\n"
ANSWER_CUE: Final = "Assistant:"
CHAT_STOPS: Final = ("\nUser:", "\nSystem:")
"""Where a transcript-prompted answer ends: the model starting someone else's turn."""


class Message(Protocol):
    """Any chat message with a role and text, such as the app's ``ChatMessage``
    Struct; typed structurally so that models need not import the app."""

    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str: ...


def format_chat(messages: Sequence[Message]) -> str:
    """The conversation as a transcript that ends where the assistant answers.

    >>> from types import SimpleNamespace as M
    >>> print(format_chat([M(role="system", content="Be brief."),
    ...                    M(role="user", content="What is a tuple?")]))
    System: Be brief.
    <BLANKLINE>
    User: What is a tuple?
    <BLANKLINE>
    Assistant:
    """
    turns = [f"{_label(m.role)}: {m.content.strip()}" for m in messages]
    return TURN_SEPARATOR.join([*turns, ANSWER_CUE])


def _label(role: str) -> str:
    if role not in ROLE_LABELS:
        known = ", ".join(ROLE_LABELS)
        raise ValueError(f"format_chat: unknown message role {role!r}; use one of {known}")
    return ROLE_LABELS[role]
