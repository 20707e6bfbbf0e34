"""Callback data for every inline button the bot shows (all well under 64 bytes)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class IntakeCb(CallbackData, prefix="in"):
    """A button of the citizen conversation: action plus an optional argument."""

    action: str
    arg: str = ""


class LangCb(CallbackData, prefix="lang"):
    code: str


class CardCb(CallbackData, prefix="c"):
    """A report card button in an OPD group: report id, action, card version, argument.

    handlers.lifecycle renders these as plain strings in the same layout.
    """

    r: int
    a: str
    v: int
    x: str = ""


class FeedbackCb(CallbackData, prefix="fb"):
    """The citizen's 'is it fixed?' answer: yes / no / a 1-5 rating."""

    r: int
    a: str


class VerifyCb(CallbackData, prefix="vf"):
    """A verification card button in the operators' group: report id, action, version, arg."""

    r: int
    a: str
    v: int
    x: str = ""
