"""Outer middlewares: per-user ordering, flood control, and the per-update DB session."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.types import CallbackQuery, Chat, TelegramObject, Update, User
from sqlalchemy.ext.asyncio import async_sessionmaker

from handlers.i18n import Translator
from models import repo
from models.domain import Channel

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class PerUserOrder(BaseMiddleware):
    """Handles one user's updates one at a time, in arrival order (albums, fast typers).

    Registered early on `update`: there is no suspension point between a task starting and
    it queueing on the lock, so asyncio's FIFO lock keeps Telegram's order.
    """

    def __init__(self) -> None:
        self.locks: dict[int, tuple[asyncio.Lock, int]] = {}

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        lock, users = self.locks.get(user.id, (asyncio.Lock(), 0))
        self.locks[user.id] = (lock, users + 1)
        try:
            async with lock:
                return await handler(event, data)
        finally:
            lock, users = self.locks[user.id]
            if users <= 1:
                del self.locks[user.id]
            else:
                self.locks[user.id] = (lock, users - 1)


class Throttle(BaseMiddleware):
    """Token bucket per private-chat user; the first dropped update gets one polite notice."""

    def __init__(self, translator: Translator, burst: int, per_second: float) -> None:
        self.translator = translator
        self.burst = burst
        self.rate = per_second
        self.buckets: dict[int, tuple[float, float, bool]] = {}

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if user is None or (chat is not None and chat.type != "private"):
            return await handler(event, data)
        now = time.monotonic()
        tokens, last, warned = self.buckets.get(user.id, (float(self.burst), now, False))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1:
            self.buckets[user.id] = (tokens - 1, now, False)
            if len(self.buckets) > 10_000:  # forget idle users now and then
                self._prune(now)
            return await handler(event, data)
        self.buckets[user.id] = (tokens, now, True)
        log.info("throttled user %s", user.id)
        if not warned:
            await self._warn(event, data, user)
        return None

    async def _warn(self, event: TelegramObject, data: dict[str, Any], user: User) -> None:
        bot: Bot = data["bot"]
        text = self.translator(self.translator.lang(user.language_code), "throttled")
        update = event if isinstance(event, Update) else None
        try:
            if update is not None and isinstance(update.callback_query, CallbackQuery):
                await bot.answer_callback_query(update.callback_query.id, text[:200])
            else:
                await bot.send_message(user.id, text)
        except Exception:  # a notice we could not send is not worth failing over
            log.warning("could not send the throttle notice", exc_info=True)

    def _prune(self, now: float) -> None:
        full = [uid for uid, (tok, last, _) in self.buckets.items()
                if tok + (now - last) * self.rate >= self.burst]
        for uid in full:
            del self.buckets[uid]


class DbSession(BaseMiddleware):
    """Opens one session per update and loads the private-chat user's Citizen row as `citizen`."""

    def __init__(self, sessionmaker: async_sessionmaker[Any], translator: Translator,
                 on_done: Callable[[], None] | None = None) -> None:
        self.sessionmaker = sessionmaker
        self.translator = translator
        self.on_done = on_done  # wakes the outbox worker: the update may have queued messages

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self.sessionmaker() as session:
            data["session"] = session
            user: User | None = data.get("event_from_user")
            chat: Chat | None = data.get("event_chat")
            if user is not None and not user.is_bot and (chat is None or chat.type == "private"):
                citizen, _ = await repo.upsert_citizen(
                    session, Channel.TELEGRAM.value, str(user.id),
                    language=self.translator.lang(user.language_code),
                    display_name=user.full_name, username=user.username or "",
                )
                await session.commit()
                data["citizen"] = citizen
                data["t"] = self.translator.bind(citizen.language)
            elif user is not None:
                data["t"] = self.translator.bind(self.translator.lang(user.language_code))
            try:
                result = await handler(event, data)
                await session.commit()
            finally:
                if self.on_done is not None:
                    self.on_done()
            return result
