"""Telegram message contents: downloading files by id, and what a message carries."""

from __future__ import annotations

import io
from contextvars import ContextVar
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError, TelegramServerError
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


def dump_markup(markup: Any) -> dict[str, Any] | None:
    """A keyboard as outbox payload (restored by `restore_markup`)."""
    for kind, cls in MARKUPS.items():
        if isinstance(markup, cls):
            return {"type": kind, "data": markup.model_dump(mode="json", exclude_none=True)}
    return None


def restore_markup(raw: dict[str, Any] | None) -> Any:
    """The keyboard `dump_markup` stored, or None."""
    if not raw or raw.get("type") not in MARKUPS:
        return None
    return MARKUPS[raw["type"]].model_validate(raw.get("data") or {})
