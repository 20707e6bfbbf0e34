"""The Telegram client: aiogram Bot objects pointed at TELEGRAM_API_URL."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import GetUpdates

from bot.settings import Settings, require_token

log = logging.getLogger(__name__)


class RetryDirectReplies(BaseRequestMiddleware):
    """Answers sent straight from a handler ride out a short 429 or a passing 5xx.

    Long waits are not worth holding a conversation turn for: those raise, the user's
    update fails and the errors router answers. Outbox delivery uses a Bot without this.
    """

    def __init__(self, attempts: int = 3, max_wait: float = 10.0) -> None:
        self.attempts = attempts
        self.max_wait = max_wait

    async def __call__(self, make_request: Any, bot: Bot, method: Any) -> Any:
        if isinstance(method, GetUpdates):
            return await make_request(bot, method)
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt == self.attempts or exc.retry_after > self.max_wait:
                    raise
                log.info("429 on %s; waiting %ss", type(method).__name__, exc.retry_after)
                await asyncio.sleep(exc.retry_after)
            except (TelegramServerError, TelegramNetworkError):
                if attempt == self.attempts:
                    raise
                await asyncio.sleep(0.2 * attempt)
        raise AssertionError("unreachable")


def make_bot(settings: Settings, *, retry: bool = True) -> Bot:
    """A Bot on TELEGRAM_API_URL (public or a self-hosted Bot API server)."""
    api = TelegramAPIServer.from_base(settings.telegram_api_url.rstrip("/"))
    session = AiohttpSession(api=api)
    if retry:
        session.middleware(RetryDirectReplies())
    return Bot(token=require_token(settings), session=session)
