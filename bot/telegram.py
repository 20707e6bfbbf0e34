"""The Telegram client: aiogram Bot objects pointed at TELEGRAM_API_URL, and the one retry
policy for what handlers send directly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import AnswerCallbackQuery, EditMessageText, GetUpdates, SendMessage
from aiogram.methods.base import Response, TelegramMethod
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from bot.settings import Settings, require_token
from handlers.telegram.files import QueuedForLater, dump_markup, queued_link
from handlers.telegram.middlewares import current_session
from models import inbox

log = logging.getLogger(__name__)

TRANSIENT = (TelegramServerError, TelegramNetworkError, TimeoutError)


# Queue a message that could not be sent directly: (chat id, method) -> queued?
Queue = Callable[[str, TelegramMethod[Any]], Awaitable[bool]]


def outbox_item(chat: str, method: TelegramMethod[Any]) -> dict[str, Any]:
    """A direct message as an outbox text row (chat, payload, report id): the form it is
    queued in when it cannot go now, or kept in with its update until it has gone."""
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
    if (link := queued_link.get()) is not None:
        item["report_id"], payload["link"] = link
    return item


class DirectReplies(BaseRequestMiddleware):
    """Handlers' own sends ride out a short 429 or a passing 5xx/timeout: `retry_after` is
    honoured per chat (the state is the outbox pacer's, shared), transient errors are
    retried briefly; a message that still cannot go is queued in the outbox instead of
    being dropped, and the handler is told by `QueuedForLater`."""

    def __init__(self, pacer: Any, queue: Queue | None = None, attempts: int = 3,
                 max_wait: float = 5.0) -> None:
        self.pacer = pacer
        self.queue = queue
        self.attempts = attempts
        self.max_wait = max_wait

    def _retryable(self, exc: BaseException) -> bool:
        if isinstance(exc, TelegramRetryAfter):
            return exc.retry_after <= self.max_wait
        return isinstance(exc, TRANSIENT)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TelegramRetryAfter):
            return float(exc.retry_after)
        return min(0.2 * 2 ** (state.attempt_number - 1), 2.0)

    async def __call__(self, make_request: Any, bot: Bot, method: TelegramMethod[Any]) -> Any:
        if isinstance(method, GetUpdates):
            return await make_request(bot, method)
        session = current_session.get()
        chat = str(getattr(method, "chat_id", "") or "")
        claim = inbox.claim_of(session) if session is not None else None
        if session is not None and claim is not None and not claim.answer_whole and chat \
                and isinstance(method, SendMessage | EditMessageText):
            # Kept with the update until sent: a crash after the commit below (or the one
            # that came before) and before this send loses nothing (models/inbox.py).
            if not claim.done:
                inbox.stash(session, [outbox_item(chat, method)])
            else:
                await inbox.save_late(session, claim, [outbox_item(chat, method)])
        if session is not None and session.in_transaction():
            # Prepare, commit, send: what the handler did so far commits before the network
            # call (for the read-only handlers this only ends their read).
            await session.commit()
        try:
            if chat and (held := await self.pacer.held_for(chat)) > self.max_wait:
                raise TelegramRetryAfter(method=method, message="paused by an earlier 429",
                                         retry_after=int(held) + 1)
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(self._retryable), wait=self._wait,
                stop=stop_after_attempt(self.attempts) | stop_after_delay(self.max_wait * 2),
                reraise=True,
            ):
                with attempt:
                    if chat and (pause := await self.pacer.held_for(chat)) > 0:
                        await asyncio.sleep(pause)
                    try:
                        return await make_request(bot, method)
                    except TelegramRetryAfter as exc:
                        if chat:
                            await self.pacer.hold(chat, exc.retry_after)
                        raise
        except (TelegramRetryAfter, *TRANSIENT) as exc:
            if isinstance(method, AnswerCallbackQuery):
                log.info("callback answer dropped: %s", exc)  # it expires; nothing to queue
                return True
            if self.queue is not None and isinstance(method, SendMessage | EditMessageText) \
                    and chat and await self.queue(chat, method):
                # Later direct answers to this chat queue behind this one, keeping the order.
                held = await self.pacer.held_for(chat)
                await self.pacer.hold(chat, max(self.max_wait * 2, held))
                log.info("%s to %s queued in the outbox after: %s", type(method).__name__,
                         chat, exc)
                raise QueuedForLater(chat) from exc
            raise
        raise AssertionError("unreachable")


class KeepingSession(AiohttpSession):
    """aiogram's session, keeping each `Response[T]` it has parsed an answer with alive.

    aiogram parses each answer with `Response[method.__returning__]`; pydantic keeps
    parametrized generics only weakly, so under load they were garbage-collected and rebuilt
    again and again (about a fifth of the bot's CPU in a profile). A strong reference to each
    one used stops that; building them all at start would also build the schemas of types
    never received (bot/lazy_types.py), about 30 MB."""

    def check_response(self, bot: Bot, method: TelegramMethod[Any], status_code: int,
                       content: str) -> Response[Any]:
        returning = method.__returning__
        if returning not in _KEPT:
            _KEPT[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot, method, status_code, content)


_KEPT: dict[Any, Any] = {}


def make_bot(settings: Settings) -> Bot:
    """A Bot on TELEGRAM_API_URL (public or a self-hosted Bot API server); a request that
    gets no answer within TELEGRAM_REQUEST_TIMEOUT fails (and is retried or queued)."""
    api = TelegramAPIServer.from_base(settings.telegram_api_url.rstrip("/"))
    session = KeepingSession(api=api, timeout=settings.telegram_request_timeout)
    return Bot(token=require_token(settings), session=session)
