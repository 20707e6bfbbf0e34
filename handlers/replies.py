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
