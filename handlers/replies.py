"""What the core asks a channel to show: text plus buttons, rendered by each adapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Choice:
    label: str
    action: str
    arg: str = ""


@dataclass
class Reply:
    """A message to show; `choices` are rows of buttons; `request` asks for location/contact."""

    text: str
    choices: list[list[Choice]] = field(default_factory=list)
    request: Literal["location", "contact"] | None = None
    request_label: str | None = None
    skip_label: str | None = None
    remove_keyboard: bool = False
    edit: bool = False  # may replace the message whose button was pressed
    alert: str | None = None  # short notice for the button press itself


def split_text(text: str, limit: int) -> list[str]:
    """A text cut into pieces of at most `limit` characters, at a paragraph, line or word
    boundary where there is one: nothing is dropped."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces
