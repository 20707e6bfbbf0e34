"""Telegram updates through the inbox: recorded, then processed in order per chat.

Long polling confirms an offset only after the batch is recorded (the next getUpdates
carries it), so a crash loses nothing: unconfirmed updates come again and recorded ones are
processed at the next start. A re-delivered update meets its existing row and is skipped;
the row's `done` flip commits with the update's effects (models/inbox.py), so one update
has one effect. Chats are processed concurrently, each chat's updates one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.types import Update
from aiogram.types.update import UpdateTypeLookupError
from aiohttp import web
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.leases import ChatLeases, worker_name
from handlers import lifecycle, logctx
from models import inbox
from models.domain import utcnow

if TYPE_CHECKING:
    from bot.ops import Metrics

log = logging.getLogger(__name__)

CHANNEL = "telegram"


def chat_key(update: Update) -> str:
    """The chat an update belongs to (its ordering key): group, private chat, or user; '-'
    for an update of a type this aiogram does not know (recorded and passed over, never a
    batch that cannot be recorded)."""
    try:
        event = update.event
    except UpdateTypeLookupError:
        return "-"
    chat = getattr(event, "chat", None)
    if chat is None:
        message = getattr(event, "message", None)
        chat = getattr(message, "chat", None)
    if chat is not None:
        return str(chat.id)
    user = getattr(event, "from_user", None)
    return f"u{user.id}" if user is not None else "-"


class InboxProcessor:
    """Feeds recorded updates to the Dispatcher: chats in parallel, each chat in order."""

    def __init__(self, dispatcher: Dispatcher, bot: Bot,
                 sessionmaker: async_sessionmaker[Any], metrics: Metrics | None = None) -> None:
        self.metrics = metrics
        self.dispatcher = dispatcher
        self.bot = bot
        self.sessionmaker = sessionmaker
        self._tails: dict[str, asyncio.Task[None]] = {}  # one entry per chat with work queued
        self.on_queued: Callable[[], None] | None = None  # wakes the outbox worker
        # Updates whose kept answers went: cleared in one statement per FLUSH_EVERY.
        self._answered: list[int] = []
        self._flushing: asyncio.Task[None] | None = None
        self._labelled: tuple[Any, Any, Any, Any] | None = None  # (metrics, its children)

    FLUSH_EVERY = 0.5

    def submit(self, key: str, inbox_id: int, update: Update) -> None:
        """Queue an update behind the chat's earlier ones."""
        previous = self._tails.get(key)
        task = asyncio.create_task(self._after(previous, inbox_id, update))
        self._tails[key] = task

        def _forget(done: asyncio.Task[None]) -> None:
            if self._tails.get(key) is done:
                del self._tails[key]

        task.add_done_callback(_forget)

    async def _after(self, previous: asyncio.Task[None] | None, inbox_id: int,
                     update: Update) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        await self.process(inbox_id, update)

    async def process(self, inbox_id: int, update: Update) -> None:
        """Run one update through the Dispatcher; a row its handlers did not mark is closed
        here (`done` when it changed nothing, `failed` when it raised)."""
        claim = inbox.Claim(inbox_id)
        failed = False
        logctx.update_id.set(str(update.update_id))
        logctx.ticket.set(None)
        started = time.perf_counter()
        try:
            await self.dispatcher.feed_update(self.bot, update, inbox_claim=claim,
                                              inbox_id=inbox_id)
        except Exception:  # the errors router normally answers; this is the last resort
            log.exception("update %s failed", update.update_id)
            failed = True
        if self.metrics is not None:
            latency, ok, failing = self._children()
            latency.observe(time.perf_counter() - started)
            (failing if failed else ok).inc()
        if claim.answer_saved:
            # Sent, queued in the outbox, or refused for good: no longer needs keeping.
            self._answered.append(inbox_id)
            if self._flushing is None:
                self._flushing = asyncio.create_task(self._flush_soon())
        if claim.done:
            return
        try:
            async with self.sessionmaker() as session:
                await inbox.finish(session, inbox_id, "failed" if failed else "done")
                await session.commit()
        except Exception:
            log.exception("could not close inbox row %s", inbox_id)

    def _children(self) -> tuple[Any, Any, Any]:
        """This channel's latency histogram and processed counters (ok, failed), looked up
        once per metrics object (a `labels()` lookup per update was ~0.5 % of the CPU)."""
        metrics = self.metrics
        cached = self._labelled
        if cached is None or cached[0] is not metrics:
            assert metrics is not None
            cached = self._labelled = (
                metrics, metrics.latency.labels(CHANNEL),
                metrics.processed.labels(CHANNEL, "ok"),
                metrics.processed.labels(CHANNEL, "failed"))
        return cached[1], cached[2], cached[3]

    async def _flush_soon(self) -> None:
        try:
            await asyncio.sleep(self.FLUSH_EVERY)  # batching: one statement for many updates
            await self.flush_answered()
        finally:
            self._flushing = None

    async def flush_answered(self) -> None:
        """Forget the kept answers of updates whose sending has finished."""
        ids, self._answered = self._answered, []
        if not ids:
            return
        try:
            async with self.sessionmaker() as session:
                await inbox.clear_answers(session, ids)
                await session.commit()
        except Exception:  # kept for the next flush; at worst resent after a restart
            log.warning("could not clear %d sent answers", len(ids), exc_info=True)
            self._answered.extend(ids)

    async def requeue_unsent(self, older_than: datetime | None = None) -> int:
        """Answers a dead process committed but may not have sent: into the outbox (sent
        once more at worst, never lost); returns how many updates had some."""
        async with self.sessionmaker() as session:
            taken = await inbox.take_unsent(session, CHANNEL, older_than)
            queued = [item for _rid, items in taken for item in items]
            for item in queued:
                lifecycle.enqueue(session, item["chat"], "text", item["payload"],
                                  item.get("report_id"))
            await session.commit()
        if taken:
            log.info("answers of %d updates not known to be sent: %d messages queued in the "
                     "outbox (a citizen's answer followed by a later update is dropped)",
                     len(taken), len(queued))
            if queued and self.on_queued is not None:
                self.on_queued()
        return len(taken)

    async def drain(self) -> None:
        """Wait until everything queued has been processed."""
        while self._tails:
            await asyncio.wait(list(self._tails.values()))
        await self.flush_answered()

    async def recover(self) -> int:
        """Process rows recorded before a crash or restart; returns how many. Answers a
        crash kept from being sent are queued first."""
        await self.requeue_unsent()
        async with self.sessionmaker() as session:
            rows = await inbox.pending(session, CHANNEL)
            await session.commit()
        for row in rows:
            try:
                update = Update.model_validate(row.payload, context={"bot": self.bot})
            except Exception:
                log.exception("inbox row %s is not a valid update", row.id)
                continue
            self.submit(row.chat_key, row.id or 0, update)
        return len(rows)


class SharedInboxProcessor(InboxProcessor):
    """Several workers on one PostgreSQL (webhook mode behind a load balancer): a chat's
    updates are processed in order whichever worker recorded them. A worker takes the chat's
    lease (one atomic upsert), processes the chat's oldest new rows one by one, renewing the
    lease while it works, and gives it up; a worker that finds the lease taken leaves its row
    to the holder, who takes it next. A sweeper picks up chats left waiting (a worker that
    died, or a row recorded just as the holder let go)."""

    # A worker killed while holding a chat leaves it waiting until the lease runs out; the
    # heartbeat renews it every LEASE/4 while one update takes long, so it can be short.
    LEASE = timedelta(seconds=30)
    SWEEP_EVERY = 5.0
    SWEEP_AGE = timedelta(seconds=2)
    # A processed update's kept answers are someone else's to send only once its chat is no
    # longer leased (no worker is sending them) and they are older than a flush of a live
    # worker's sent answers (InboxProcessor.FLUSH_EVERY) could take.
    UNSENT_AGE = timedelta(seconds=5)
    BATCH = 2  # rows read per turn: the one to process, and whether another waits

    def __init__(self, dispatcher: Dispatcher, bot: Bot, sessionmaker: async_sessionmaker[Any],
                 metrics: Metrics | None = None, holder: str | None = None) -> None:
        super().__init__(dispatcher, bot, sessionmaker, metrics)
        self.holder = holder or worker_name()
        self.leases = ChatLeases(sessionmaker, CHANNEL, self.holder, self.LEASE, self.BATCH)
        self._draining: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._stopped = asyncio.Event()

    def submit(self, key: str, inbox_id: int, update: Update) -> None:
        self.kick(key)

    def kick(self, key: str) -> None:
        """Make sure this worker looks at the chat's waiting updates."""
        if key in self._draining:
            self._again.add(key)
            return
        task = asyncio.create_task(self._drain_logged(key))
        self._draining[key] = task
        # Normally the task takes itself off; this covers one cancelled before it started.
        task.add_done_callback(lambda t: self._draining.get(key) is t
                               and self._draining.pop(key, None))

    async def _drain_logged(self, key: str) -> None:
        """Drain the chat, again while kicks came in meanwhile. The task leaves `_draining`
        itself, right after its last look at `_again` with no await between: a kick that
        comes later starts a new drain instead of being noted for one that has ended (a done
        callback runs a loop turn late, and a kick in that turn was lost to the sweeper)."""
        try:
            while True:
                await self._drain(key)
                if key not in self._again:
                    break
        except Exception:  # the database failed us: the sweeper comes back to the chat
            log.warning("chat %s left for the sweeper", key, exc_info=True)
        finally:
            if self._draining.get(key) is asyncio.current_task():
                del self._draining[key]

    def _sent_of(self, rows: list[int]) -> list[int]:
        """Of these processed rows, those whose kept answers went, taken off the batch the
        next flush clears: they are cleared with the chat's release instead."""
        ids = set(rows)
        mine = [rid for rid in self._answered if rid in ids]
        if mine:
            self._answered = [rid for rid in self._answered if rid not in ids]
        return mine

    async def _release(self, key: str, processed: list[int]) -> bool:
        """Let the chat go; whether a row waits now (one transaction). The answers sent for
        its updates are cleared in it: once the lease is gone, a sweeper takes any answer
        still kept for one a dead worker left, and would send it a second time."""
        more = await self.leases.release_and_look(key, self._clearing(processed))
        processed.clear()
        return more

    def _clearing(self, processed: list[int]) -> Any:
        """The release's first statement: clear the sent answers of these rows (if any)."""
        sent = self._sent_of(processed)
        if not sent:
            return None

        async def clear(session: Any) -> None:
            await inbox.clear_answers(session, sent)

        return clear

    async def _drain(self, key: str) -> None:
        """Per update: one transaction takes (or renews) the chat and reads its two oldest
        rows; the first is processed; when it was the last one, one transaction lets the chat
        go and looks for rows recorded meanwhile. Renewing before each further row also tells
        whether another worker took the chat over meanwhile. One update alone costs two
        short transactions besides its own."""
        last: int | None = None
        held = False
        processed: list[int] = []  # rows handled under the current lease
        try:
            while True:
                self._again.discard(key)
                rows = await self.leases.claim_rows(key)
                if rows is None:
                    # Another worker holds the chat: it takes our row after its own; or, after
                    # our first row, the lease lapsed while it ran (a stall, a heartbeat that
                    # could not renew) and another worker has the chat now.
                    held = False
                    return
                held = True
                if rows and last is not None and (rows[0].id or 0) <= last:
                    return  # a row that could not even be closed: the sweeper retries it
                if rows:
                    last = rows[0].id
                    processed.append(last or 0)
                    await self._process_row(key, rows[0])
                if len(rows) > 1 or key in self._again:
                    continue  # more waits: renew and read again
                held = False
                if not await self._release(key, processed):
                    return
                # A row was recorded (here or elsewhere) while we held the chat: again.
        finally:
            if held:
                await self.leases.release(key, self._clearing(processed))

    async def _process_row(self, key: str, row: Any) -> None:
        """One recorded update, the lease renewed while it takes long."""
        try:
            update = Update.model_validate(row.payload, context={"bot": self.bot})
        except Exception:
            log.exception("inbox row %s is not a valid update", row.id)
            async with self.sessionmaker() as session:
                await inbox.finish(session, row.id or 0, "failed")
                await session.commit()
            return
        beat = asyncio.create_task(self.leases.heartbeat(key))
        try:
            await self.process(row.id or 0, update)
        finally:
            beat.cancel()

    async def sweep(self) -> int:
        """Kick every chat with updates waiting longer than SWEEP_AGE; how many. Answers a
        dead worker kept from being sent (its chat's lease gone) go to the outbox."""
        try:
            await self.requeue_unsent(utcnow() - self.UNSENT_AGE)
        except Exception:  # the waiting chats below still get their turn
            log.exception("could not queue answers a dead worker left")
        async with self.sessionmaker() as session:
            keys = await inbox.waiting_chats(session, CHANNEL, utcnow() - self.SWEEP_AGE)
            await session.commit()
        for key in keys:
            self.kick(key)
        return len(keys)

    async def run_sweeper(self) -> None:
        while not self._stopped.is_set():
            try:
                await self.sweep()
            except Exception:
                log.exception("inbox sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self.SWEEP_EVERY)

    def stop(self) -> None:
        self._stopped.set()

    async def recover(self) -> int:
        return await self.sweep()

    async def drain(self) -> None:
        while self._draining:
            await asyncio.wait(list(self._draining.values()))
        await self.flush_answered()


async def record_updates(sessionmaker: async_sessionmaker[Any], updates: list[Update],
                         metrics: Metrics | None = None,
                         payloads: list[dict[str, Any]] | None = None) -> dict[str, int]:
    """One short transaction recording a batch; returns update id -> inbox id of the updates
    recorded now (re-deliveries left out). `payloads`: each update's JSON as received (from
    getUpdates' answer or the webhook's body), recorded as it is; else each is dumped."""
    if not updates:
        return {}
    if payloads is None:
        payloads = getattr(updates, "payloads", None)  # bot/telegram.py ReceivedUpdates
    if payloads is None or len(payloads) != len(updates):
        payloads = [u.model_dump(mode="json", exclude_unset=True) for u in updates]
    items = [(str(u.update_id), chat_key(u), payload)
             for u, payload in zip(updates, payloads, strict=True)]
    async with sessionmaker() as session:
        stored = await inbox.record(session, CHANNEL, items)
        await session.commit()
    if metrics is not None:
        metrics.received.labels(CHANNEL).inc(len(stored))
    return stored


SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class TelegramWebhook:
    """Webhook mode: Telegram POSTs each update; it is checked, recorded and answered 200 at
    once, then processed exactly as in polling mode. A wrong or missing secret is 401 and
    records nothing; a database that cannot record is 503, so Telegram delivers it again."""

    def __init__(self, bot: Bot, sessionmaker: async_sessionmaker[Any],
                 processor: InboxProcessor, secret: str) -> None:
        self.bot = bot
        self.sessionmaker = sessionmaker
        self.processor = processor
        self.secret = secret.encode()

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self.secret):
            log.warning("webhook call with a missing or wrong secret from %s", request.remote)
            return web.Response(status=401, text="unauthorized")
        try:
            body = await request.json()
            update = Update.model_validate(body, context={"bot": self.bot})
        except Exception:  # not an update: Telegram never sends one, so nothing to retry
            log.warning("webhook body is not a Telegram update")
            return web.Response(status=400, text="not an update")
        try:
            stored = await record_updates(self.sessionmaker, [update], self.processor.metrics,
                                          [body])
        except Exception:
            log.exception("could not record update %s; Telegram will deliver it again",
                          update.update_id)
            return web.Response(status=503, text="try again")
        inbox_id = stored.get(str(update.update_id))
        if inbox_id is None:
            log.info("update %s delivered again: already recorded", update.update_id)
        else:
            self.processor.submit(chat_key(update), inbox_id, update)
        return web.Response(text="ok")


class TelegramPoller:
    """getUpdates -> inbox -> processor, until stopped."""

    def __init__(self, bot: Bot, sessionmaker: async_sessionmaker[Any],
                 processor: InboxProcessor, allowed_updates: list[str],
                 timeout: int = 25) -> None:
        self.bot = bot
        self.sessionmaker = sessionmaker
        self.processor = processor
        self.allowed_updates = allowed_updates
        self.timeout = timeout
        self._stopped = asyncio.Event()
        self._poll: asyncio.Task[list[Update]] | None = None

    def stop(self) -> None:
        self._stopped.set()
        if self._poll is not None:
            self._poll.cancel()

    async def run(self) -> None:
        await self.processor.recover()
        offset: int | None = None
        backoff = 0.5
        while not self._stopped.is_set():
            # The long poll itself may outlast TELEGRAM_REQUEST_TIMEOUT: allow for it.
            self._poll = asyncio.create_task(self.bot.get_updates(
                offset=offset, timeout=self.timeout, allowed_updates=self.allowed_updates,
                request_timeout=self.timeout + int(self.bot.session.timeout)))
            try:
                updates = await self._poll
                stored = await self.record(updates)
            except asyncio.CancelledError:
                if self._stopped.is_set():
                    break
                raise
            except TelegramRetryAfter as exc:
                await self._wait(exc.retry_after)
                continue
            except (TelegramNetworkError, TelegramServerError, OSError) as exc:
                log.warning("polling failed (%s); again in %.1fs", exc, backoff)
                await self._wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            except Exception:  # the database could not record: poll the same batch again
                log.exception("could not record updates; again in %.1fs", backoff)
                await self._wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            finally:
                self._poll = None
            backoff = 0.5
            if updates:
                offset = updates[-1].update_id + 1
            for update in updates:
                inbox_id = stored.get(str(update.update_id))
                if inbox_id is None:
                    log.info("update %s delivered again: already recorded", update.update_id)
                    continue
                self.processor.submit(chat_key(update), inbox_id, update)
        await self.processor.drain()

    async def record(self, updates: list[Update]) -> dict[str, int]:
        return await record_updates(self.sessionmaker, updates, self.processor.metrics)

    async def _wait(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopped.wait(), seconds)
        except TimeoutError:
            pass
