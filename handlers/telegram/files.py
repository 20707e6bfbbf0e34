"""Telegram message contents: downloading files by id, and what a message carries."""

from __future__ import annotations

import io
from contextvars import ContextVar
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError, TelegramServerError
from aiogram.methods import SendMessage
from aiogram.methods.base import TelegramMethod
from aiogram.types import (
    ForceReply,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from handlers import intake as core

DOWNLOAD_ATTEMPTS = 3


# (report id, link kind) for a direct message that, if it has to be queued in the outbox,
# must still be linked to its report when the outbox sends it (e.g. a PIC's reply prompt).
queued_link: ContextVar[tuple[int, str] | None] = ContextVar("aduan_queued_link", default=None)


class QueuedForLater(Exception):
    """A direct answer could not go now; it waits in the outbox and will be delivered."""


def fetcher(bot: Bot) -> core.Fetch:
    """Downloads a Telegram file by id, retrying transient server and network errors."""

    async def fetch(media: core.Media) -> bytes:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(
                (TelegramServerError, TelegramNetworkError, aiohttp.ClientError)),
            stop=stop_after_attempt(DOWNLOAD_ATTEMPTS), wait=wait_exponential(0.2, max=1.0),
            reraise=True,
        ):
            with attempt:
                file = await bot.get_file(media.ref)
                if not file.file_path:
                    raise RuntimeError("Telegram returned no file path")
                buffer = io.BytesIO()
                await bot.download_file(file.file_path, destination=buffer, timeout=120)
                return buffer.getvalue()
        raise AssertionError("unreachable")

    return fetch


def content_of(message: Message) -> dict[str, Any] | None:
    """What a message carries, for relaying: text, or a copyable media message."""
    if message.text:
        return {"type": "text", "text": message.text}
    for kind in ("photo", "video", "voice", "document", "audio"):
        if getattr(message, kind):
            return {"type": kind, "chat_id": message.chat.id, "message_id": message.message_id,
                    "caption": message.caption or ""}
    return None


MARKUPS: dict[str, Any] = {"inline": InlineKeyboardMarkup, "reply": ReplyKeyboardMarkup,
                           "remove": ReplyKeyboardRemove, "force": ForceReply}

# The field that tells a keyboard's JSON form apart, by kind.
_MARKUP_KEYS = {"inline": "inline_keyboard", "reply": "keyboard", "remove": "remove_keyboard",
                "force": "force_reply"}


def dump_markup(markup: Any) -> dict[str, Any] | None:
    """A keyboard as outbox payload (restored by `restore_markup`); a keyboard already in
    the Bot API's JSON form (handlers/telegram/render.py) is taken as it is."""
    if type(markup) is dict:
        for kind, key in _MARKUP_KEYS.items():
            if key in markup:
                return {"type": kind, "data": markup}
        return None
    for kind, cls in MARKUPS.items():
        if isinstance(markup, cls):
            return {"type": kind, "data": markup.model_dump(mode="json", exclude_none=True)}
    return None


def restore_markup(raw: dict[str, Any] | None) -> Any:
    """The keyboard `dump_markup` stored, or None."""
    if not raw or raw.get("type") not in MARKUPS:
        return None
    return MARKUPS[raw["type"]].model_validate(raw.get("data") or {})


def outbox_item(chat: str, method: TelegramMethod[Any],
                link: tuple[int, str] | None = None) -> dict[str, Any]:
    """A direct message as an outbox text row (chat, payload, report id): the form it is
    queued in when it cannot go now, or kept in with its update until it has gone. `link`
    (report id, link kind), else `queued_link`: the message is linked when the outbox
    sends it."""
    payload: dict[str, Any] = {"text": getattr(method, "text", "") or ""}
    markup = dump_markup(getattr(method, "reply_markup", None))
    if markup is not None:
        payload["markup"] = markup
    if getattr(method, "parse_mode", None) == "HTML":
        payload["html"] = True
    reply = getattr(method, "reply_parameters", None)
    if isinstance(method, SendMessage) and reply is not None:
        payload["reply_to"] = reply.message_id
    if getattr(method, "message_thread_id", None):
        payload["thread_id"] = method.message_thread_id  # type: ignore[attr-defined]
    item: dict[str, Any] = {"chat": chat, "payload": payload}
    if (link := link or queued_link.get()) is not None:
        item["report_id"], payload["link"] = link
    return item
