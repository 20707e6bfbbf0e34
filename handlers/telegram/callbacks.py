"""Callback data for every inline button the bot shows (all well under 64 bytes)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class IntakeCb(CallbackData, prefix="in"):
    """A button of the citizen conversation: action plus an optional argument."""

    action: str
    arg: str = ""


class LangCb(CallbackData, prefix="lang"):
    code: str
