"""The delivery worker: sends outbox rows to Telegram, paced, retried, never dropped in silence.

Rows are claimed with a lease (so several processes can run workers) and sent oldest first,
one at a time per chat, so a card always precedes its album, pin and edits. A 429 waits its
`retry_after`; 5xx, timeouts and network errors back off exponentially; after
OUTBOX_MAX_ATTEMPTS a row is parked and the admins are told. A chat that refuses us (bot
blocked, removed from the group) is recorded and reported; its rows wait, undeliverable,
until the chat is reachable again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    InputMediaVideo,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from sqlalchemy import case, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, func, or_, select

from bot.loop import WakeableLoop
from handlers import broadcast, lifecycle, logctx
from handlers.telegram import cards
from handlers.telegram.files import restore_markup
from models.domain import Channel, utcnow
from models.media import MediaStore
from models.tables import Citizen, Opd, Outbox, Report

if TYPE_CHECKING:
    from bot.ops import Metrics
    from bot.whatsapp import WhatsAppClient

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)
# Card edits: after an action, and after the scheduler changed the light (sent last).
EDITS = ("edit_card", "relight_card")
BULK_SHARE = 0.8  # of OUTBOX_GLOBAL_PER_SECOND a broadcast may use
# A group's 20 messages are counted over a little more than Telegram's minute: a send reaches
# Telegram some time after its slot was taken, by a delay that varies with the load, and the
# 21st must not arrive inside the 1st one's minute.
GROUP_WINDOW = 60.5
MAX_IN_FLIGHT = 4  # sends under way at once per worker (each to a different chat); more
# crowd the event loop between a slot taken and its send, and arrivals bunch up under load


class Pacer:
    """Telegram's limits: ~1 message/s per chat, 20/min per group, 30/s overall; and the
    pauses a 429 asked for, per chat (shared with direct replies, bot/telegram.py).

    Per-chat entries are forgotten once they no longer restrict anything, so the dicts stay
    as small as the set of chats active in the last minute."""

    PRUNE_EVERY = 1000

    def __init__(self, chat_interval: float = 1.0, group_per_minute: int = 20,
                 global_per_second: int = 30, clock: Any = time.monotonic) -> None:
        self.chat_interval = chat_interval
        self.group_per_minute = group_per_minute
        self.global_per_second = global_per_second
        self.clock = clock
        self.last: dict[str, float] = {}
        self.group_sends: dict[str, deque[float]] = {}
        self.global_sends: deque[float] = deque()
        self.paused_until: dict[str, float] = {}
        self._records = 0

    def wait_time(self, chat: str) -> float:
        """Seconds until a message may be sent to `chat` (0 = now)."""
        now = self.clock()
        waits = [self.paused_until.get(chat, 0.0) - now,
                 self.last.get(chat, -1e9) + self.chat_interval - now]
        while self.global_sends and self.global_sends[0] <= now - 1.0:
            self.global_sends.popleft()
        if len(self.global_sends) >= self.global_per_second:
            waits.append(self.global_sends[0] + 1.0 - now)
        sends = self.group_sends.get(chat)
        if sends is not None:
            while sends and sends[0] <= now - GROUP_WINDOW:
                sends.popleft()
            if len(sends) >= self.group_per_minute:
                waits.append(sends[0] + GROUP_WINDOW - now)
        return max(0.0, *waits)

    def crowded(self, share: float) -> bool:
        """Whether the last second's sends used `share` of the overall limit (bulk messages
        such as broadcasts leave the rest to citizens' own answers)."""
        now = self.clock()
        while self.global_sends and self.global_sends[0] <= now - 1.0:
            self.global_sends.popleft()
        return len(self.global_sends) >= max(1, int(self.global_per_second * share))

    def paused_for(self, chat: str) -> float:
        """Seconds left of a 429's `retry_after` for `chat` (0 = not paused)."""
        return max(0.0, self.paused_until.get(chat, 0.0) - self.clock())

    def record(self, chat: str) -> None:
        now = self.clock()
        self.last[chat] = now
        self.global_sends.append(now)
        if chat.startswith("-"):
            self.group_sends.setdefault(chat, deque()).append(now)
        self._records += 1
        if self._records % self.PRUNE_EVERY == 0:
            self.prune()

    def pause(self, chat: str, seconds: float) -> None:
        self.paused_until[chat] = max(self.paused_until.get(chat, 0.0), self.clock() + seconds)

    # The interface both pacers share (bot/shared_limits.py `RedisPacer` keeps it in Redis).

    async def reserve(self, chat: str, share: float = 0.0, *, peek: bool = False) -> float:
        """Take a send slot for `chat` now (0.0) or say how many seconds to wait; with
        `share` > 0 (bulk), only while the last second used less than that share; with
        `peek`, only say (nothing is taken)."""
        wait = self.wait_time(chat)
        if wait <= 0 and share > 0 and self.crowded(share):
            wait = 0.05
        if wait <= 0 and not peek:
            self.record(chat)
        return wait

    async def hold(self, chat: str, seconds: float) -> None:
        """Pause sends to `chat` for `seconds` (a 429's `retry_after`)."""
        self.pause(chat, seconds)

    async def held_for(self, chat: str) -> float:
        """Seconds left of a 429's pause for `chat` (0 = not paused)."""
        return self.paused_for(chat)

    def prune(self) -> None:
        """Drop entries that no longer limit anything."""
        now = self.clock()
        self.last = {c: t for c, t in self.last.items() if t + self.chat_interval > now}
        self.paused_until = {c: t for c, t in self.paused_until.items() if t > now}
        self.group_sends = {c: d for c, d in self.group_sends.items()
                            if d and d[-1] > now - GROUP_WINDOW}


class OutboxWorker(WakeableLoop):
    """Delivers pending outbox rows (Telegram, and WhatsApp when on) until stopped."""

    name = "outbox"

    def __init__(self, bot: Bot, sessionmaker: async_sessionmaker[Any], media: MediaStore,
                 deps: lifecycle.Deps, *, pacer: Any = None, max_attempts: int = 8,
                 backoff_base: float = 2.0, whatsapp: WhatsAppClient | None = None) -> None:
        super().__init__()
        self.bot = bot
        self.whatsapp = whatsapp
        self.sessionmaker = sessionmaker
        self.media = media
        self.deps = deps
        self.pacer = pacer or Pacer()
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.on_blocked: Any = None  # (channel, chat id) -> None: a citizen blocked the bot
        # How long a row being sent is kept from other workers: longer than a send can take.
        self.lease = LEASE
        self.metrics: Metrics | None = None
        self._digest_cache: tuple[str, str, bytes] | None = None
        # Sends under way, one per chat: a request that hangs (until TELEGRAM_REQUEST_TIMEOUT)
        # holds up its own chat only, never everybody else's deliveries.
        self._in_flight: dict[str, asyncio.Task[None]] = {}

    def _count(self, row: Outbox, result: str) -> None:
        if self.metrics is not None:
            self.metrics.deliveries.labels(row.channel, result).inc()
            if result == "retry_after":
                self.metrics.rate_limited.labels(row.channel).inc()
        # Broadcast rows are sent under this gate (a cancel takes it too), within BULK_SHARE
        # of the overall rate.
        self.broadcast_gate: broadcast.Gate | None = None

    @property
    def channels(self) -> list[str]:
        """Channels this worker can deliver to (WhatsApp rows wait while it is off)."""
        return [Channel.TELEGRAM.value] + ([Channel.WHATSAPP.value] if self.whatsapp else [])

    async def step(self) -> float | None:
        """Send every row that may go now; returns seconds until the next one is due."""
        now = utcnow()
        async with self.sessionmaker() as session:
            # Only each chat's oldest pending row: one busy group cannot hide everyone else.
            # Cards re-lit by the scheduler wait behind everything else of their chat: after a
            # flood, hundreds of light edits must not hold up a PIC's prompt or a relay.
            urgent = func.min(case((col(Outbox.kind) != "relight_card", col(Outbox.id))))
            heads = (select(func.coalesce(urgent, func.min(Outbox.id)))
                     .where(Outbox.status == "pending", col(Outbox.channel).in_(self.channels))
                     .group_by(col(Outbox.chat_id)))
            rows = (await session.exec(
                select(Outbox).where(col(Outbox.id).in_(heads)).order_by(col(Outbox.id))
                .limit(1000))).all()
        next_due: float | None = None
        seen: set[str] = set()
        for row in rows:
            if row.chat_id in seen:
                continue  # one at a time per chat, oldest first
            seen.add(row.chat_id)
            if row.chat_id in self._in_flight:
                continue  # its previous message is still on the way; its end wakes us
            if len(self._in_flight) >= MAX_IN_FLIGHT:
                break
            if row.next_attempt_at > now:
                due = (row.next_attempt_at - now).total_seconds()
                next_due = due if next_due is None else min(next_due, due)
                continue
            if row.lease_until is not None and row.lease_until > now:
                continue
            bulk = broadcast.KEY in row.payload
            # The slot itself is taken in `deliver`, just before the send: the lease keeps
            # other workers off this chat meanwhile.
            wait = await self.pacer.reserve(row.chat_id, BULK_SHARE if bulk else 0.0,
                                            peek=True)
            if wait > 0:
                next_due = wait if next_due is None else min(next_due, wait)
                continue
            if await self._lease(row.id or 0, now):
                self._start(row.chat_id, row.id or 0, bulk)
        return next_due

    def _start(self, chat: str, row_id: int, bulk: bool) -> None:
        """Deliver a leased row in the background; its end wakes the loop for the chat's
        next row (or, when the pacer had no slot after all, for the retry)."""

        async def run() -> None:
            try:
                if bulk and self.broadcast_gate is not None:
                    async with self.broadcast_gate.lock:
                        await self.deliver(row_id)
                else:
                    await self.deliver(row_id)
            except Exception:  # the lease lapses and the row is tried again
                log.exception("outbox %s delivery failed", row_id)

        task = asyncio.create_task(run(), name=f"outbox-{row_id}")
        self._in_flight[chat] = task

        def done(_t: asyncio.Task[None]) -> None:
            if self._in_flight.get(chat) is task:
                del self._in_flight[chat]
            self.wake()

        task.add_done_callback(done)

    async def run(self) -> None:
        """The loop; when stopped, the sends under way finish (or are given up)."""
        try:
            await super().run()
        finally:
            if self._in_flight:
                _, pending = await asyncio.wait(list(self._in_flight.values()), timeout=10.0)
                for task in pending:
                    task.cancel()

    async def _lease(self, row_id: int, now: Any) -> bool:
        async with self.sessionmaker() as session:
            result = await session.execute(
                update(Outbox)
                .where(col(Outbox.id) == row_id, col(Outbox.status) == "pending",
                       or_(col(Outbox.lease_until).is_(None), col(Outbox.lease_until) < now))
                .values(lease_until=now + self.lease).execution_options(synchronize_session=False))
            await session.commit()
            return result.rowcount == 1  # type: ignore[attr-defined]

    async def deliver(self, row_id: int) -> float:
        """Send one leased row and record the outcome: a short read, the send with no
        transaction open, then a short write. Returns 0, or the seconds to wait when the
        pacer had no slot (the lease is then given back)."""
        async with self.sessionmaker() as session:
            row = await session.get(Outbox, row_id)
            if row is None or row.status != "pending":
                await session.commit()
                return 0.0
            covered = None
            if row.kind in EDITS and row.report_id is not None:
                # Edits of this card queued up to now show no newer state than the one read
                # just below; edits queued after this read may, and stay pending.
                covered = await session.scalar(select(func.max(Outbox.id)).where(
                    Outbox.report_id == row.report_id, Outbox.chat_id == row.chat_id,
                    col(Outbox.kind).in_(EDITS), Outbox.status == "pending"))
            report = await session.get(Report, row.report_id) if row.report_id else None
            logctx.ticket.set(report.code if report is not None else None)
            citizen = None
            rendered: tuple[str, InlineKeyboardMarkup | None] | None = None
            photo: bytes | None = None
            if row.channel == Channel.WHATSAPP.value:
                citizen = (await session.exec(select(Citizen).where(
                    Citizen.channel == row.channel, Citizen.external_id == row.chat_id))).first()
            elif row.kind in ("card", *EDITS) and report is not None \
                    and "text" not in row.payload:
                rendered = await cards.render(session, self.deps, report)
            elif row.kind == "reminder":
                rendered = (await cards.render_reminder(session, self.deps, row.payload), None)
            elif row.kind == "digest":
                rendered, photo = await self._digest(session, row.payload)
            await session.commit()  # no transaction is held over the network call
            # Files are read before the slot is taken: a send must follow its slot closely, not
            # after a wait for the thread pool (busy storing citizens' photos in a crowd).
            files = await self._preload(row)
            share = BULK_SHARE if broadcast.KEY in row.payload else 0.0
            if (wait := await self.pacer.reserve(row.chat_id, share)) > 0:
                row.lease_until = None
                session.add(row)
                await session.commit()
                return wait
            if row.channel == Channel.WHATSAPP.value:
                await self._deliver_whatsapp(session, row, report, citizen)
                return 0.0
            try:
                messages = await self._send(row, report, rendered, photo, files)
            except TelegramRetryAfter as exc:
                log.info("429 for chat %s: retry after %ss", row.chat_id, exc.retry_after)
                row.next_attempt_at = utcnow() + timedelta(seconds=exc.retry_after)
                row.last_error = f"429 retry after {exc.retry_after}"
                await self.pacer.hold(row.chat_id, exc.retry_after)
                self._count(row, "retry_after")
            except TelegramMigrateToChat as exc:
                await self._migrated(session, row, exc.migrate_to_chat_id)
            except (TelegramForbiddenError, TelegramNotFound) as exc:
                await self._unreachable(session, row, exc.message)
            except TelegramBadRequest as exc:
                text = exc.message.lower()
                if "message is not modified" in text:
                    self._done(row, [])
                elif "chat not found" in text or "bot was kicked" in text:
                    await self._unreachable(session, row, exc.message)
                else:
                    await self._park(session, row, f"400 {exc.message}")
            except (TelegramServerError, TelegramNetworkError, aiohttp.ClientError,
                    TimeoutError, OSError) as exc:
                await self._retry(session, row, f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # unexpected: counted, so it is parked and reported
                log.exception("outbox %s failed unexpectedly", row.id)
                await self._retry(session, row, f"{type(exc).__name__}: {exc}")
            else:
                self._done(row, messages)
                self._record_links(session, row, report, messages)
                if row.kind in EDITS and rendered is not None and covered:
                    await self._coalesced(session, row, covered)
            row.lease_until = None
            if broadcast.KEY in row.payload:
                await broadcast.settle(session, row)
            session.add(row)
            if report is not None:
                session.add(report)
            await session.commit()
        return 0.0

    async def _coalesced(self, session: Any, row: Outbox, covered: int) -> None:
        """Edits of the same card queued before this one was rendered are done too: it
        showed a state at least as new as theirs."""
        await session.execute(
            update(Outbox).where(col(Outbox.report_id) == row.report_id,
                                 col(Outbox.chat_id) == row.chat_id,
                                 col(Outbox.kind).in_(EDITS),
                                 col(Outbox.status) == "pending", col(Outbox.id) != row.id,
                                 col(Outbox.id) <= covered)
            .values(status="superseded").execution_options(synchronize_session=False))

    async def _deliver_whatsapp(self, session: Any, row: Outbox, report: Report | None,
                                citizen: Citizen | None) -> None:
        assert self.whatsapp is not None
        from bot.whatsapp import DeliveryError

        try:
            wamid = await self.whatsapp.send(row, citizen, report)
        except Exception as exc:  # unexpected: counted, so it is parked and reported
            if not isinstance(exc, DeliveryError):
                log.exception("outbox %s failed unexpectedly", row.id)
                exc = DeliveryError("transient", f"{type(exc).__name__}: {exc}")
            if exc.kind == "retry_after":
                row.next_attempt_at = utcnow() + timedelta(seconds=exc.retry_after or 30)
                row.last_error = exc.message[:500]
                await self.pacer.hold(row.chat_id, exc.retry_after or 30)
                self._count(row, "retry_after")
            elif exc.kind == "template" and not row.payload.get("force_template"):
                row.payload = {**row.payload, "force_template": True}
                row.last_error = exc.message[:500]
            elif exc.kind == "unreachable":
                await self._unreachable(session, row, exc.message)
            elif exc.kind == "transient":
                await self._retry(session, row, exc.message)
            else:
                await self._park(session, row, exc.message)
        else:
            self._done(row, [])
            row.provider_message_id = wamid
        row.lease_until = None
        if broadcast.KEY in row.payload:
            await broadcast.settle(session, row)
        session.add(row)
        await session.commit()

    # -- sending ----------------------------------------------------------------------------

    async def _digest(self, session: Any, payload: dict[str, Any]
                      ) -> tuple[tuple[str, None] | None, bytes | None]:
        """The weekly digest's text (HTML) or chart, computed when it is sent, on the read
        engine (seconds of reading over a large database hold no write lock)."""
        from handlers.reports import weekly_digest

        await session.commit()
        key = payload["week_end"]
        if self._digest_cache is None or self._digest_cache[0] != key:
            reader = self.deps.reader or self.sessionmaker
            async with reader() as read:
                made = await weekly_digest(read, self.deps, datetime.fromisoformat(key))
                await read.rollback()
            self._digest_cache = (key, *made)  # the chart row follows the text row
        _, text, png = self._digest_cache
        if payload.get("part") == "chart":
            return None, png
        return (text, None), None

    async def _preload(self, row: Outbox) -> list[tuple[str, BufferedInputFile]] | None:
        """The files a Telegram album/photo/voice row uploads (None: none, or unreadable now,
        in which case `_send` reads them again and fails into the retry path)."""
        if row.channel != Channel.TELEGRAM.value or row.kind not in ("album", "photo", "voice"):
            return None
        p = row.payload
        paths = p["files"] if row.kind == "album" else [[row.kind, p["path"]]]
        try:
            return await asyncio.to_thread(self._read_files, paths)
        except (OSError, KeyError, ValueError):
            return None

    async def _send(self, row: Outbox, report: Report | None,
                    rendered: tuple[str, InlineKeyboardMarkup | None] | None = None,
                    photo: bytes | None = None,
                    preloaded: list[tuple[str, BufferedInputFile]] | None = None
                    ) -> list[Message]:
        p = row.payload
        chat_id = int(row.chat_id)
        thread = p.get("thread_id")
        parse_mode = "HTML" if p.get("html") or rendered is not None else None
        markup = _markup(p.get("buttons")) or restore_markup(p.get("markup"))
        if rendered is not None:
            markup = rendered[1]
        reply = self._reply_to(row, report)
        # HTML is never cut (an entity could be split); cards are sized to fit already, and
        # long plain texts were split into several rows when queued.
        text = rendered[0] if rendered is not None else p.get("text", "")
        if not parse_mode:
            text = text[:4096]
        if row.kind == "digest" and photo is not None:
            msg = await self.bot.send_photo(
                chat_id, BufferedInputFile(photo, "rapor.png"), message_thread_id=thread)
            return [msg]
        if row.kind in ("text", "card", "reminder", "digest"):
            msg = await self.bot.send_message(
                chat_id, text, parse_mode=parse_mode, reply_markup=markup,
                message_thread_id=thread, reply_parameters=reply,
                link_preview_options=LinkPreviewOptions(is_disabled=True))
            return [msg]
        if row.kind in (*EDITS, "close_card"):
            mid = p.get("message_id") or (report.card_message_id if report and
                                          str(report.card_chat_id) == row.chat_id else None)
            if mid is None:
                return []  # the card never made it out; nothing to edit
            await self.bot.edit_message_text(
                text=text, chat_id=chat_id, message_id=mid, parse_mode=parse_mode,
                reply_markup=markup or InlineKeyboardMarkup(inline_keyboard=[]),
                link_preview_options=LinkPreviewOptions(is_disabled=True))
            return []
        if row.kind == "album":
            files = preloaded or await asyncio.to_thread(self._read_files, p["files"])
            if len(files) == 1:
                kind, upload = files[0]
                send = self.bot.send_photo if kind == "photo" else self.bot.send_video
                msg = await send(chat_id, upload, message_thread_id=thread,
                                 reply_parameters=reply)
                return [msg]
            media = [InputMediaPhoto(media=f) if k == "photo" else InputMediaVideo(media=f)
                     for k, f in files]
            return list(await self.bot.send_media_group(
                chat_id, media=media, message_thread_id=thread,  # type: ignore[arg-type]
                reply_parameters=reply))
        if row.kind == "location":
            msg = await self.bot.send_location(
                chat_id, latitude=p["latitude"], longitude=p["longitude"],
                message_thread_id=thread, reply_parameters=reply)
            return [msg]
        if row.kind == "photo":
            [(_, upload)] = preloaded or await asyncio.to_thread(self._read_files,
                                                                 [["photo", p["path"]]])
            msg = await self.bot.send_photo(chat_id, upload, caption=p.get("caption"),
                                            message_thread_id=thread, reply_parameters=reply)
            return [msg]
        if row.kind == "voice":
            [(_, upload)] = preloaded or await asyncio.to_thread(self._read_files,
                                                                 [["voice", p["path"]]])
            msg = await self.bot.send_voice(chat_id, upload, message_thread_id=thread,
                                            reply_parameters=reply)
            return [msg]
        if row.kind == "copy":
            copied = await self.bot.copy_message(
                chat_id, from_chat_id=int(p["from_chat_id"]), message_id=int(p["message_id"]),
                caption=p.get("caption"), message_thread_id=thread, reply_parameters=reply)
            return [Message.model_construct(message_id=copied.message_id)]
        raise ValueError(f"unknown outbox kind {row.kind}")

    def _reply_to(self, row: Outbox, report: Report | None) -> ReplyParameters | None:
        target = row.payload.get("reply_to")
        if target == "card":
            if report is None or report.card_message_id is None or \
                    str(report.card_chat_id) != row.chat_id:
                return None
            target = report.card_message_id
        if isinstance(target, int):
            return ReplyParameters(message_id=target, allow_sending_without_reply=True)
        return None

    def _read_files(self, files: list[list[str]]) -> list[tuple[str, BufferedInputFile]]:
        out = []
        for kind, rel in files:
            path = self.media.path(rel)
            out.append((kind, BufferedInputFile(path.read_bytes(), filename=path.name)))
        return out

    # -- outcomes ---------------------------------------------------------------------------

    def _done(self, row: Outbox, messages: list[Message]) -> None:
        self._count(row, "sent")
        row.status, row.sent_at = "sent", utcnow()
        row.sent_message_id = messages[0].message_id if messages else None
        row.last_error = None

    def _record_links(self, session: Any, row: Outbox, report: Report | None,
                      messages: list[Message]) -> None:
        if report is None or not messages:
            return
        chat = int(row.chat_id)
        if row.kind == "card":
            report.card_chat_id, report.card_message_id = chat, messages[0].message_id
        kind = row.payload.get("link")
        if kind:
            for msg in messages:
                lifecycle.link_message(session, chat, msg.message_id, report.id or 0, kind)

    async def _retry(self, session: Any, row: Outbox, error: str) -> None:
        self._count(row, "retry")
        row.attempts += 1
        row.last_error = error[:500]
        if row.attempts >= self.max_attempts:
            await self._park(session, row, error)
            return
        delay = min(self.backoff_base * 2 ** (row.attempts - 1), 600.0)
        row.next_attempt_at = utcnow() + timedelta(seconds=delay)
        log.info("outbox %s to %s failed (%s); retry in %.1fs", row.id, row.chat_id, error,
                 delay)

    async def _park(self, session: Any, row: Outbox, error: str) -> None:
        self._count(row, "parked")
        row.status, row.last_error = "parked", error[:500]
        log.error("outbox %s to %s parked: %s", row.id, row.chat_id, error)
        if not row.payload.get("no_alert"):
            code = await self._code(session, row)
            await lifecycle.alert_admins(session, self.deps, "alert-parked", chat=row.chat_id,
                                         code=code, error=error[:200])
        self.wake()

    async def _unreachable(self, session: Any, row: Outbox, error: str) -> None:
        self._count(row, "unreachable")
        """The bot was blocked or removed: record it, tell the admins once, keep the rows."""
        row.status, row.last_error = "undeliverable", error[:500]
        first = False
        if row.channel == Channel.TELEGRAM.value and int(row.chat_id) < 0:
            chat = int(row.chat_id)
            opds = (await session.exec(select(Opd).where(Opd.chat_id == chat))).all()
            for opd in opds:
                first = first or opd.unreachable_since is None
                opd.unreachable_since = opd.unreachable_since or utcnow()
                session.add(opd)
            if first and not row.payload.get("no_alert"):
                names = ", ".join(o.code for o in opds) or row.chat_id
                await lifecycle.alert_admins(session, self.deps, "alert-group-unreachable",
                                             opd=names, error=error[:200])
        else:
            citizen = (await session.exec(select(Citizen).where(
                Citizen.channel == row.channel,
                Citizen.external_id == row.chat_id))).first()
            if citizen is not None and citizen.blocked_since is None:
                citizen.blocked_since = utcnow()
                session.add(citizen)
                first = True
                if self.on_blocked is not None:  # their next message must unblock them
                    self.on_blocked(row.channel, row.chat_id)
            if first and not row.payload.get("no_alert"):
                code = await self._code(session, row)
                await lifecycle.alert_admins(session, self.deps, "alert-citizen-blocked",
                                             code=code)
        log.warning("chat %s unreachable: %s", row.chat_id, error)
        self.wake()

    async def _migrated(self, session: Any, row: Outbox, new_chat: int) -> None:
        """A group became a supergroup: follow it, for this row and the OPD."""
        old = row.chat_id
        for opd in (await session.exec(select(Opd).where(Opd.chat_id == int(old)))).all():
            opd.chat_id = new_chat
            session.add(opd)
        await session.execute(update(Outbox).where(col(Outbox.chat_id) == old,
                                                   col(Outbox.status) == "pending")
                              .values(chat_id=str(new_chat))
                              .execution_options(synchronize_session=False))
        row.chat_id = str(new_chat)

    async def _code(self, session: Any, row: Outbox) -> str:
        if row.report_id is None:
            return "-"
        report = await session.get(Report, row.report_id)
        return report.code if report else "-"


def _markup(buttons: list[list[list[str]]] | None) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=label, callback_data=data) for label, data in row]
        for row in buttons])
