"""The Telegram client: aiogram Bot objects pointed at TELEGRAM_API_URL, and the one retry
policy for what handlers send directly."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import AnswerCallbackQuery, EditMessageText, GetUpdates, SendMessage
from aiogram.methods.base import Response, TelegramMethod
from aiogram.types import File, Message, MessageId, Update
from aiohttp import ClientError, ClientTimeout
from pydantic import ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)
from yarl import URL

from bot.settings import Settings, require_token
from handlers.telegram.files import QueuedForLater, outbox_item
from handlers.telegram.middlewares import current_session
from handlers.telegram.render import keep
from models import inbox, jsoncodec

log = logging.getLogger(__name__)

TRANSIENT = (TelegramServerError, TelegramNetworkError, TimeoutError)


# Queue a message that could not be sent directly: (chat id, method) -> queued?
Queue = Callable[[str, TelegramMethod[Any]], Awaitable[bool]]


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

    def _wait(self, exc: BaseException, attempt: int) -> float:
        """Seconds before the next attempt after attempt number `attempt` failed with `exc`."""
        if isinstance(exc, TelegramRetryAfter):
            return float(exc.retry_after)
        return min(0.2 * 2 ** (attempt - 1), 2.0)

    def _next_wait(self, state: RetryCallState) -> float:
        """tenacity's wait: its attempt n is the send's attempt n + 1 (the first went alone)."""
        exc = state.outcome.exception() if state.outcome else None
        return self._wait(exc, state.attempt_number + 1) if exc is not None else 0.0

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
            await keep(session, [outbox_item(chat, method)])
        if session is not None and session.in_transaction():
            # Prepare, commit, send: what the handler did so far commits before the network
            # call (for the read-only handlers this only ends their read).
            await session.commit()
        try:
            # The chat's pause, read once for the first attempt (with Redis, a round trip).
            held = await self.pacer.held_for(chat) if chat else 0.0
            if held > self.max_wait:
                raise TelegramRetryAfter(method=method, message="paused by an earlier 429",
                                         retry_after=int(held) + 1)
            if held > 0:
                await asyncio.sleep(held)
            first = time.monotonic()
            try:
                # Almost every send succeeds at once: the first try goes outside tenacity's
                # machinery (its set-up was ~3 % of the bot's CPU per send); retries are its.
                return await make_request(bot, method)
            except Exception as exc:
                if isinstance(exc, TelegramRetryAfter) and chat:
                    await self.pacer.hold(chat, exc.retry_after)
                if not self._retryable(exc) or self.attempts <= 1 \
                        or time.monotonic() - first >= self.max_wait * 2:
                    raise
                failed = exc
            await asyncio.sleep(self._wait(failed, 1))
            left = self.max_wait * 2 - (time.monotonic() - first)
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(self._retryable), wait=self._next_wait,
                stop=stop_after_attempt(self.attempts - 1) | stop_after_delay(max(left, 0.0)),
                reraise=True,
            ):
                with attempt:
                    pause = await self.pacer.held_for(chat) if chat else 0.0
                    if pause > 0:
                        await asyncio.sleep(pause)
                    try:
                        return await make_request(bot, method)
                    except TelegramRetryAfter as exc:
                        if chat:
                            await self.pacer.hold(chat, exc.retry_after)
                        raise
            raise AssertionError("unreachable: tenacity returns or re-raises")
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


class KeepingSession(AiohttpSession):
    """aiogram's session, cheaper per call: JSON bodies, answers parsed when read, and each
    `Response[T]` it has parsed an answer with kept alive.

    - A method without files is posted as one JSON body (aiogram builds a multipart form for
      every call: each field prepared and JSON-encoded on its own, then the form encoded);
      a method with a file goes as aiogram sends it.
    - A successful answer whose result is an object (a sent `Message`, a `File`) is not
      validated into pydantic models until something reads it (`LazyResult`): the intake's
      answers are sent and never read, while the outbox reads `message_id` (taken straight
      from the JSON). A plain `true` is returned as is. Errors, lists (getUpdates) and
      everything else go through aiogram's own `check_response`.
    - aiogram parses each answer with `Response[method.__returning__]`; pydantic keeps
      parametrized generics only weakly, so under load they were garbage-collected and
      rebuilt again and again (about a fifth of the bot's CPU in a profile). A strong
      reference to each one used stops that; building them all at start would also build the
      schemas of types never received (bot/lazy_types.py), about 30 MB."""

    def check_response(self, bot: Bot, method: TelegramMethod[Any], status_code: int,
                       content: str) -> Response[Any]:
        _keep(method.__returning__)
        return super().check_response(bot, method, status_code, content)

    async def make_request(self, bot: Bot, method: TelegramMethod[Any],
                           timeout: int | None = None) -> Any:  # noqa: ASYNC109 (aiogram's)
        payload = self.json_payload(bot, method)
        if payload is None:  # files: a multipart form, as aiogram sends it
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        # The URL parsed and the timeout object built once each, not on every call.
        urls = self.__dict__.setdefault("_urls", {})  # (token, API method) -> its URL
        url = urls.get((bot.token, method.__api_method__))
        if url is None:
            url = urls[bot.token, method.__api_method__] = URL(
                self.api.api_url(token=bot.token, method=method.__api_method__))
        limit = self.timeout if timeout is None else timeout
        if (waits := _TIMEOUTS.get(limit)) is None:
            waits = _TIMEOUTS[limit] = ClientTimeout(total=limit)
        try:
            async with session.post(url, data=self.json_dumps(payload), headers=_JSON,
                                    timeout=waits) as resp:
                raw = await resp.text()
        except TimeoutError as e:
            raise TelegramNetworkError(method=method, message="Request timeout error") from e
        except ClientError as e:
            raise TelegramNetworkError(method=method, message=f"{type(e).__name__}: {e}") \
                from e
        return self.result(bot, method, resp.status, raw)

    def json_payload(self, bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any] | None:
        """The method's fields as one JSON object, or None if it carries a file. The same
        values aiogram's form would send: defaults resolved, None and "" left out at the top
        and None inside objects and lists."""
        files: dict[str, Any] = {}
        payload = {}
        # The fields as they are, not `model_dump()` (which copies the whole model first, ~2 %
        # of the bot's CPU): methods have no aliases or serializers, a nested object is dumped
        # by `prepare_value` as aiogram's form does, and extra fields ride along as in a dump.
        fields: Any = method.__dict__
        if method.__pydantic_extra__:
            fields = {**fields, **method.__pydantic_extra__}
        for key, value in fields.items():
            prepared = self._plain(value, bot, files)
            if prepared is None or prepared == "":
                continue
            payload[key] = prepared
        return None if files else payload

    def _plain(self, value: Any, bot: Bot, files: dict[str, Any]) -> Any:
        kind = type(value)
        if kind is str or kind is int or kind is bool or kind is float or value is None:
            return value
        if kind is dict:
            return {k: p for k, v in value.items()
                    if (p := self._plain(v, bot, files)) is not None}
        if kind is list:
            return [p for v in value if (p := self._plain(v, bot, files)) is not None]
        # Defaults, files, dates, enums, nested objects: aiogram's own conversion (a file
        # lands in `files`, and the method then goes as a form).
        return self.prepare_value(value, bot=bot, files=files, _dumps_json=False)

    def result(self, bot: Bot, method: TelegramMethod[Any], status: int, raw: str) -> Any:
        """The answer's result: cheap for a success, aiogram's checks for anything else."""
        if HTTPStatus.OK <= status <= HTTPStatus.IM_USED:
            try:
                data = self.json_loads(raw)
            except ValueError:
                data = None
            if type(data) is dict and data.get("ok") is True:
                result = data.get("result")
                returning = method.__returning__
                if result is True and returning in _TRUE_OK:
                    return True
                if type(result) is dict and returning in _LAZY_OK:
                    return LazyResult(bot, returning, data)
                # Validated from the JSON already decoded (check_response would decode the
                # whole body again: for getUpdates, the largest one, ~1 % of the bot's CPU).
                try:
                    response = _keep(returning).model_validate(data, context={"bot": bot})
                except ValidationError as e:
                    raise ClientDecodeError("Failed to deserialize object", e, data) from e
                if type(result) is list and isinstance(method, GetUpdates):
                    return ReceivedUpdates(response.result, result)
                return response.result
        return self.check_response(bot, method, status, raw).result


def _keep(returning: Any) -> Any:
    kept = _KEPT.get(returning)
    if kept is None:
        kept = _KEPT[returning] = Response[returning]  # type: ignore[valid-type]
    return kept


_KEPT: dict[Any, Any] = {}
_TIMEOUTS: dict[Any, ClientTimeout] = {}
_JSON = {"Content-Type": "application/json"}
# Return types whose `true` is returned as is, and whose object is parsed when first read.
_TRUE_OK = frozenset({bool, Message | bool})
_LAZY_OK = frozenset({Message, Message | bool, File, MessageId})


class ReceivedUpdates(list[Update]):
    """getUpdates' answer: the updates, and `payloads`, each one's JSON as Telegram sent it
    (what the inbox records: no dump of each validated update back to JSON)."""

    def __init__(self, updates: list[Update], payloads: list[dict[str, Any]]) -> None:
        super().__init__(updates)
        self.payloads = payloads


class LazyResult:
    """A successful answer's object, validated into its pydantic type (e.g. `Message`) on
    first use. Reads as that object (attributes, methods, `isinstance`, equality);
    `message_id` comes from the JSON without building anything."""

    __slots__ = ("_lazy_bot", "_lazy_data", "_lazy_obj", "_lazy_type")

    def __init__(self, bot: Bot, returning: Any, data: dict[str, Any]) -> None:
        self._lazy_bot, self._lazy_type, self._lazy_data = bot, returning, data
        self._lazy_obj: Any = None

    def _lazy_get(self) -> Any:
        obj = self._lazy_obj
        if obj is None:
            response = _keep(self._lazy_type).model_validate(
                self._lazy_data, context={"bot": self._lazy_bot})
            obj = self._lazy_obj = response.result
        return obj

    def __getattr__(self, name: str) -> Any:
        if name == "message_id" and self._lazy_obj is None:
            found = self._lazy_data["result"].get("message_id")
            if type(found) is int:
                return found
        if name.startswith("_lazy_"):
            raise AttributeError(name)
        return getattr(self._lazy_get(), name)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance(result, Message) holds
        return type(self._lazy_get())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyResult):
            other = other._lazy_get()
        return bool(self._lazy_get() == other)

    __hash__ = None  # type: ignore[assignment]  # as the pydantic models it stands for

    def __repr__(self) -> str:
        return repr(self._lazy_get())


def make_bot(settings: Settings) -> Bot:
    """A Bot on TELEGRAM_API_URL (public or a self-hosted Bot API server); a request that
    gets no answer within TELEGRAM_REQUEST_TIMEOUT fails (and is retried or queued)."""
    api = TelegramAPIServer.from_base(settings.telegram_api_url.rstrip("/"))
    session = KeepingSession(api=api, timeout=settings.telegram_request_timeout,
                             json_loads=jsoncodec.loads, json_dumps=jsoncodec.dumps)
    return Bot(token=require_token(settings), session=session)
