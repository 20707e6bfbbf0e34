"""Outer middlewares: flood control and the per-update DB session.

Ordering per chat is the inbox processor's job (bot/inbox.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.types import CallbackQuery, Chat, TelegramObject, Update, User
from sqlalchemy.ext.asyncio import async_sessionmaker

from handlers import bans
from handlers.i18n import Translator
from handlers.lifecycle import QUEUED_KEY
from models import inbox
from models.citizens import CitizenCache
from models.db import closing
from models.domain import Channel

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

class _CurrentSession:
    """The session of the update being handled: the Bot's request middleware ends its
    transaction before any call to Telegram, so no transaction (on SQLite: the write lock) is
    ever held over the network (bot/telegram.py). Held in a box emptied when the update ends:
    a task the update started (a photo's download) keeps the box in its context, and must
    not find the session once a later update uses it again (DbSession's spare sessions)."""

    def __init__(self) -> None:
        self._box: ContextVar[list[Any] | None] = ContextVar("aduan_current_session",
                                                             default=None)

    def get(self) -> Any:
        """The session of the update being handled here, or None."""
        box = self._box.get()
        return box[0] if box else None

    def enter(self, session: Any) -> list[Any]:
        """`session` is the current update's (in this context and the tasks it starts)."""
        box = [session]
        self._box.set(box)
        return box

    def leave(self, box: list[Any]) -> None:
        """The update ended: no task it started finds its session any more."""
        box.clear()
        self._box.set(None)


current_session = _CurrentSession()


class Throttle(BaseMiddleware):
    """Token bucket per private-chat user; the first dropped update gets one polite notice.

    The same buckets serve WhatsApp (`take`, keyed by channel and number): one flood
    control for both channels. With a shared `store` (Redis, bot/shared_limits.py) the
    buckets are every worker's; this process' own serve while the store does not answer."""

    def __init__(self, translator: Translator, burst: int, per_second: float,
                 store: Any = None) -> None:
        self.translator = translator
        self.burst = burst
        self.rate = per_second
        self.store = store  # async take(key, burst, rate) -> (admitted, warn) | None
        self.buckets: dict[int | str, tuple[float, float, bool]] = {}

    async def take(self, key: int | str) -> tuple[bool, bool]:
        """Take a token for `key` from the shared store, else from this process' buckets:
        (admitted, warn now: the first drop of a flood)."""
        if self.store is not None:
            taken = await self.store.take(key, self.burst, self.rate)
            if taken is not None:
                if not taken[0]:
                    log.info("throttled user %s", key)
                return taken
        return self.admit(key)

    def admit(self, key: int | str) -> tuple[bool, bool]:
        """Take a token for `key`: (admitted, warn now: the first drop of a flood)."""
        now = time.monotonic()
        tokens, last, warned = self.buckets.get(key, (float(self.burst), now, False))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        # Told once per flood: a token trickling back mid-flood does not earn a second
        # notice; a bucket refilled to the full burst does.
        warned = warned and tokens < self.burst
        if tokens >= 1:
            self.buckets[key] = (tokens - 1, now, warned)
            if len(self.buckets) > 10_000:  # forget idle users now and then
                self._prune(now)
            return True, False
        self.buckets[key] = (tokens, now, True)
        log.info("throttled user %s", key)
        return False, not warned

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if user is None or (chat is not None and chat.type != "private"):
            return await handler(event, data)
        admitted, warn = await self.take(user.id)
        if admitted:
            return await handler(event, data)
        citizens = data.get("citizens")
        known = citizens.peek("telegram", str(user.id)) if citizens is not None else None
        if warn and (known is None or known.banned_at is None):  # a banned flooder: silence
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
    """One session per update; the private-chat user's Citizen as `citizen` (written only
    when something changed); the update's inbox claim commits with its use case."""

    def __init__(self, sessionmaker: async_sessionmaker[Any], translator: Translator,
                 citizens: CitizenCache, on_done: Callable[[], None] | None = None) -> None:
        self.sessionmaker = sessionmaker
        self.translator = translator
        self.citizens = citizens
        self.on_done = on_done  # wakes the outbox worker: the update may have queued messages
        # Sessions closed cleanly, used again: a new AsyncSession per update was ~2 % of the
        # bot's CPU. A closed session holds nothing but its (cleared) `info`.
        self._spare: list[Any] = []

    SPARE = 256  # about the updates a crowd has in flight at once

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        session = self._spare.pop() if self._spare else self.sessionmaker()
        result = await self._with(session, handler, event, data)
        if len(self._spare) < self.SPARE:  # not on an exception: that session is let go
            session.info.clear()
            self._spare.append(session)
        return result

    async def _with(self, session: Any, handler: Handler, event: TelegramObject,
                    data: dict[str, Any]) -> Any:
        claim: inbox.Claim | None = data.get("inbox_claim")
        async with closing(session):
            data["session"] = session
            current = current_session.enter(session)
            deps = data.get("deps")
            if deps is not None and deps.roles is not None:
                # Granted admins count wherever handlers ask for `admin_ids` (help, menus).
                data["admin_ids"] = await deps.roles.admins(session)
            user: User | None = data.get("event_from_user")
            chat: Chat | None = data.get("event_chat")
            citizen = None
            if user is not None and not user.is_bot and (chat is None or chat.type == "private"):
                citizen = await self.citizens.resolve(
                    session, Channel.TELEGRAM.value, str(user.id),
                    language=self.translator.lang(user.language_code),
                    display_name=user.full_name, username=user.username or "",
                )
                data["citizen"] = citizen
                data["t"] = self.translator.bind(citizen.language)
            elif user is not None:
                data["t"] = self.translator.bind(self.translator.lang(user.language_code))
            if claim is not None:
                inbox.attach(session, claim)
            try:
                if citizen is not None and await bans.turned_away(session, self.translator,
                                                                   citizen):
                    result = None  # banned: told once (queued above), otherwise ignored
                else:
                    result = await handler(event, data)
                if claim is None or not claim.done or session.in_transaction() \
                        or session.new or session.dirty or session.deleted:
                    # Marks the update done if no use case committed. (An empty commit after
                    # the use case's own was ~30 µs of ORM bookkeeping per update.)
                    await session.commit()
            except inbox.AlreadyProcessed:
                log.info("update %s was processed before: effects dropped",
                         getattr(event, "update_id", "?"))
                return None
            finally:
                current_session.leave(current)
                # Wake the delivery worker only when this update queued something: a wake
                # costs the worker a scan of the outbox.
                if self.on_done is not None and session.info.pop(QUEUED_KEY, False):
                    self.on_done()
            return result
