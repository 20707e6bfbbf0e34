"""Broadcasts (`/siaran`): an admin's announcement to every citizen who has talked to the bot.

Citizens are queued in small batches (one short transaction each: recipient rows, their
outbox rows and the cursor together), at most `window` waiting at a time, so the outbox
stays small and citizens' own turns are never stalled behind a long write. A recipient is
unique per broadcast and the cursor moves with it, so a resumed broadcast messages no one
twice. The outbox worker settles each row (`settle`): delivered, blocked or failed, counted
in the same write as the row's outcome. Cancelling withdraws what is not sent yet.

`Gate` orders, within the process, queueing, the delivery of broadcast rows and a cancel:
once a cancel has committed, none of its rows is sent. Take it before opening a transaction.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, insert, not_, update
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import lifecycle
from models import inbox, repo
from models.domain import Channel, utcnow
from models.tables import Broadcast, BroadcastRecipient, Citizen, Outbox

TEXT_MAX = 4000
WINDOW = 60  # recipients queued but not settled yet, per broadcast
KEY = "bcast"  # outbox payload key: the broadcast a row belongs to ("cit": its citizen)


class Gate:
    """The in-process lock for a broadcast's queueing, deliveries and cancellation."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()


@dataclass
class Counts:
    id: int
    status: str
    total: int
    delivered: int
    blocked: int
    failed: int

    @property
    def done(self) -> int:
        return self.delivered + self.blocked + self.failed

    def params(self) -> dict[str, int]:
        return {"id": self.id, "total": self.total, "done": self.done,
                "delivered": self.delivered, "blocked": self.blocked, "failed": self.failed}


def counts(bc: Broadcast) -> Counts:
    return Counts(bc.id or 0, bc.status, bc.total, bc.delivered, bc.blocked, bc.failed)


def _eligible(created_before: Any, channels: list[str], admin_id: int) -> list[Any]:
    """Who receives a broadcast: citizens known when it started, on a channel we can reach,
    neither banned nor having blocked the bot; not the admin who sent it. The channel is
    compared as an expression (`channel || ''`), which no index serves: without statistics
    (the bot never runs ANALYZE) SQLite otherwise reads every citizen of the channel through
    the (channel, external_id) index and sorts them by id for each batch of 60 (65-95 ms a
    step at 200,000), where the id order of the primary key is what the batches walk."""
    return [col(Citizen.channel).concat("").in_(channels), col(Citizen.banned_at).is_(None),
            col(Citizen.blocked_since).is_(None), col(Citizen.created_at) <= created_before,
            not_(and_(col(Citizen.channel) == Channel.TELEGRAM.value,
                      col(Citizen.external_id) == str(admin_id)))]


async def running(session: AsyncSession) -> Broadcast | None:
    return (await session.exec(select(Broadcast).where(Broadcast.status == "running")
                               .order_by(col(Broadcast.id)))).first()


async def start(session: AsyncSession, admin_id: int, chat_id: int, text: str,
                channels: list[str], reader: Any = None) -> tuple[Broadcast, bool]:
    """A new running broadcast (committed), or the one already running and False. The
    citizens are counted through `reader` when given (SQLite's read-only engine: the count
    walks the whole citizen table, ~40 ms at 200,000, which on the main engine would hold
    the event loop; the total is for the progress message, the final count is exact)."""
    current = await running(session)
    if current is not None:
        await session.commit()
        return current, False
    now = utcnow()
    counting = select(func.count()).select_from(Citizen).where(
        *_eligible(now, channels, admin_id))
    if reader is None:
        total = await session.scalar(counting)
    else:
        with inbox.held(session):  # ends the read; the update is done with the insert
            await session.commit()
        async with reader() as read:
            total = await read.scalar(counting)
            await read.commit()
        current = await running(session)  # another admin's meanwhile
        if current is not None:
            await session.commit()
            return current, False
    bc = Broadcast(text=text, created_by=admin_id, chat_id=chat_id, total=int(total or 0),
                   created_at=now)
    session.add(bc)
    await session.commit()
    return bc, True


async def set_progress_message(session: AsyncSession, bc_id: int, message_id: int) -> None:
    await session.execute(update(Broadcast).where(col(Broadcast.id) == bc_id)
                          .values(progress_message_id=message_id)
                          .execution_options(synchronize_session=False))
    await session.commit()


async def admin_language(session: AsyncSession, deps: lifecycle.Deps, bc: Broadcast) -> str:
    """The language of the admin who started it (their private chat's), else the default."""
    admin = await repo.get_citizen(session, Channel.TELEGRAM.value, str(bc.created_by))
    return admin.language if admin is not None else deps.default_language


async def advance(session: AsyncSession, deps: lifecycle.Deps, bc_id: int,
                  channels: list[str], window: int = WINDOW) -> tuple[Broadcast | None, int]:
    """One step of a running broadcast (committed): queue the next citizens while fewer than
    `window` wait; when nobody is left and every row is settled, finish it with the final
    count for the admin. Returns the broadcast and how many were queued."""
    bc = await session.get(Broadcast, bc_id, populate_existing=True)
    if bc is None or bc.status != "running":
        await session.commit()
        return bc, 0
    # Its rows still pending = its recipients not settled (settled in the row's own write);
    # counted through the outbox's status index, which only ever holds a few pending rows.
    waiting = int(await session.scalar(
        select(func.count()).select_from(Outbox).where(
            Outbox.status == "pending",
            Outbox.payload[KEY].as_integer() == bc_id))  # type: ignore[index]
        or 0)
    if waiting > window // 2:
        await session.commit()
        return bc, 0
    rows = (await session.execute(
        select(Citizen.id, Citizen.channel, Citizen.external_id, Citizen.language)
        .where(col(Citizen.id) > bc.cursor, *_eligible(bc.created_at, channels, bc.created_by))
        .order_by(col(Citizen.id)).limit(window - waiting))).all()
    if not rows:
        if waiting:
            await session.commit()
            return bc, 0
        await _finish(session, deps, bc, "done", "bc-done")
        return bc, 0
    cursor, text = bc.cursor, bc.text
    await session.commit()  # the reads end here; the texts are made outside a transaction
    by_lang: dict[str, str] = {}
    now = utcnow()
    outbox = []
    for cid, channel, external_id, lang in rows:
        if lang not in by_lang:
            by_lang[lang] = deps.translator(lang, "bc-message", text=text)
        outbox.append({"channel": channel, "chat_id": external_id, "kind": "text",
                       "payload": {"text": by_lang[lang], KEY: bc_id, "cit": cid,
                                   "no_alert": True},
                       "status": "pending", "attempts": 0, "next_attempt_at": now,
                       "created_at": now})
    # One short write: the cursor (only from where this batch was read, and only while the
    # broadcast runs: a cancel or another process that won stops it), the recipients and
    # their outbox rows, with Core statements.
    moved = await session.execute(
        update(Broadcast).where(col(Broadcast.id) == bc_id, col(Broadcast.status) == "running",
                                col(Broadcast.cursor) == cursor)
        .values(cursor=rows[-1][0]).execution_options(synchronize_session=False))
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        return await session.get(Broadcast, bc_id, populate_existing=True), 0
    await session.execute(insert(BroadcastRecipient), [
        {"broadcast_id": bc_id, "citizen_id": cid, "status": "queued"} for cid, *_ in rows])
    await session.execute(insert(Outbox), outbox)
    await session.commit()
    return bc, len(rows)


async def _finish(session: AsyncSession, deps: lifecycle.Deps, bc: Broadcast, status: str,
                  key: str, **extra: int) -> None:
    """Close the broadcast and queue the final count for the admin (committed)."""
    if status == "done":  # those banned or gone meanwhile were not queued: count who was
        bc.total = int(await session.scalar(
            select(func.count()).select_from(BroadcastRecipient).where(
                BroadcastRecipient.broadcast_id == bc.id)) or 0)
    bc.status, bc.finished_at = status, utcnow()
    session.add(bc)
    lang = await admin_language(session, deps, bc)
    text = deps.translator(lang, key, **counts(bc).params(), **extra)
    lifecycle.enqueue(session, bc.chat_id, "text", {"text": text, "no_alert": True})
    await session.commit()


async def cancel(session: AsyncSession, deps: lifecycle.Deps, bc_id: int | None = None
                 ) -> Broadcast | None:
    """Cancel the running broadcast (or `bc_id`): rows not sent yet are withdrawn, the admin
    gets the final count (committed). None if nothing was running. Hold the Gate."""
    bc = await running(session) if bc_id is None else await session.get(Broadcast, bc_id)
    if bc is None or bc.status != "running":
        await session.commit()
        return None
    won = await session.execute(
        update(Broadcast).where(col(Broadcast.id) == bc.id, col(Broadcast.status) == "running")
        .values(status="cancelled").execution_options(synchronize_session=False))
    if won.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        return None
    withdrawn = await session.execute(
        update(Outbox).where(col(Outbox.status) == "pending",
                             Outbox.payload[KEY].as_integer() == bc.id)  # type: ignore[index]
        .values(status="withdrawn").execution_options(synchronize_session=False))
    await session.execute(
        update(BroadcastRecipient).where(col(BroadcastRecipient.broadcast_id) == bc.id,
                                         col(BroadcastRecipient.status) == "queued")
        .values(status="withdrawn").execution_options(synchronize_session=False))
    await session.refresh(bc)
    await _finish(session, deps, bc, "cancelled", "bc-cancelled",
                  withdrawn=int(withdrawn.rowcount or 0))  # type: ignore[attr-defined]
    return bc


OUTCOMES = {"sent": "delivered", "undeliverable": "blocked", "parked": "failed"}


async def settle(session: AsyncSession, row: Outbox) -> None:
    """The outbox decided a broadcast row (sent, chat unreachable, parked): its recipient and
    the broadcast's counters follow, in the same write (not committed). A row still to be
    retried changes nothing. A blocked chat's row is dropped, not kept for their return."""
    outcome = OUTCOMES.get(row.status)
    bc_id, citizen_id = row.payload.get(KEY), row.payload.get("cit")
    if outcome is None or not isinstance(bc_id, int) or not isinstance(citizen_id, int):
        return
    if row.status == "undeliverable":
        row.status = "dropped"
    result = await session.execute(
        update(BroadcastRecipient).where(col(BroadcastRecipient.broadcast_id) == bc_id,
                                         col(BroadcastRecipient.citizen_id) == citizen_id,
                                         col(BroadcastRecipient.status) == "queued")
        .values(status=outcome).execution_options(synchronize_session=False))
    if result.rowcount == 1:  # type: ignore[attr-defined]
        counter = getattr(Broadcast, outcome)
        await session.execute(update(Broadcast).where(col(Broadcast.id) == bc_id)
                              .values({counter: counter + 1})
                              .execution_options(synchronize_session=False))
