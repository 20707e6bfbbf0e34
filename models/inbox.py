"""The inbox: inbound updates recorded before processing, and their exactly-once claim.

An update's effects and its `new -> done` flip commit in one transaction: the first commit
of the session processing it also flips the row (a session event), and fails with
`AlreadyProcessed` when the row was done already (a re-delivery raced past the recording,
or another process took it). So a re-delivered or re-processed update has one effect.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, event, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.domain import utcnow
from models.repo import insert_ignoring_conflict
from models.tables import Inbox

CLAIM_KEY = "aduan.inbox_claim"


class AlreadyProcessed(Exception):
    """The update was processed before: this transaction's effects are dropped."""


@dataclass
class Claim:
    """One inbox row being processed; `done` once its flip has committed."""

    inbox_id: int
    done: bool = False
    committing: bool = False


@contextmanager
def held(session: AsyncSession) -> Iterator[None]:
    """Commits inside do not mark the update done: they only end a read before a download,
    and the update's effects are still to come."""
    claim = session.sync_session.info.pop(CLAIM_KEY, None)
    try:
        yield
    finally:
        if claim is not None:
            session.sync_session.info[CLAIM_KEY] = claim


def attach(session: AsyncSession, claim: Claim) -> None:
    """The next commit of `session` also marks the inbox row done (or fails if it was)."""
    session.sync_session.info[CLAIM_KEY] = claim


_FLIP = (  # built once: it runs for every update
    update(Inbox).where(col(Inbox.id) == bindparam("rid"), col(Inbox.status) == "new")
    .values(status="done", processed_at=bindparam("at"))
    .execution_options(synchronize_session=False))


@event.listens_for(Session, "before_commit")
def _flip(session: Session) -> None:
    claim: Claim | None = session.info.get(CLAIM_KEY)
    if claim is None or claim.done:
        return
    # Core on the session's transaction (the ORM's DML path costs more than it gives here).
    result: Any = session.connection().execute(_FLIP, {"rid": claim.inbox_id, "at": utcnow()})
    if result.rowcount != 1:
        raise AlreadyProcessed(claim.inbox_id)
    claim.committing = True


@event.listens_for(Session, "after_commit")
def _flipped(session: Session) -> None:
    claim: Claim | None = session.info.get(CLAIM_KEY)
    if claim is not None and claim.committing:
        claim.done, claim.committing = True, False


@event.listens_for(Session, "after_soft_rollback")
def _not_flipped(session: Session, _previous: Any) -> None:
    claim: Claim | None = session.info.get(CLAIM_KEY)
    if claim is not None:
        claim.committing = False


async def record(session: AsyncSession, channel: str,
                 items: Sequence[tuple[str, str, dict[str, Any]]]) -> dict[str, int]:
    """Store (update_key, chat_key, payload) items once each, in one statement; returns the
    inbox id of every item recorded now (re-deliveries of recorded ones are left out)."""
    if not items:
        return {}
    now = utcnow()
    unique = {key: (chat, payload) for key, chat, payload in reversed(items)}  # first wins
    values = [{"channel": channel, "update_key": key, "chat_key": chat, "payload": payload,
               "status": "new", "attempts": 0, "received_at": now}
              for key, (chat, payload) in reversed(unique.items())]
    table = Inbox.__table__  # type: ignore[attr-defined]
    stmt = insert_ignoring_conflict(session, table, values)
    # Core on the session's transaction: the ORM's bulk-insert path costs more than it gives.
    conn = await session.connection()
    rows = await conn.execute(stmt.returning(table.c.update_key, table.c.id))
    return {key: rid for key, rid in rows.all()}


async def finish(session: AsyncSession, inbox_id: int, status: str) -> None:
    """Mark a row that no use case committed: `done` (nothing to change) or `failed`."""
    await session.execute(
        update(Inbox).where(col(Inbox.id) == inbox_id, col(Inbox.status) == "new")
        .values(status=status, processed_at=utcnow(), attempts=Inbox.attempts + 1)
        .execution_options(synchronize_session=False))


async def pending(session: AsyncSession, channel: str, limit: int = 1000) -> Sequence[Inbox]:
    """Rows recorded but not processed (a crash in between), oldest first."""
    result = await session.exec(
        select(Inbox).where(Inbox.channel == channel, Inbox.status == "new")
        .order_by(col(Inbox.id)).limit(limit))
    return result.all()


# ---- per-chat leases: several workers, one chat's updates in order ---------------------------


def _lease_name(channel: str, chat_key: str) -> str:
    return f"chat:{channel}:{chat_key}"[:64]


async def claim_chat(session: AsyncSession, channel: str, chat_key: str, holder: str,
                     until: datetime, now: datetime) -> bool:
    """Take (or renew) the lease on a chat's updates: one statement, atomic on SQLite and
    PostgreSQL. True when this holder has it now; not committed."""
    from models.tables import JobLease

    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(JobLease).values(name=_lease_name(channel, chat_key), holder=holder,
                                   lease_until=until)
    lease = JobLease.__table__.c  # type: ignore[attr-defined]
    stmt = stmt.on_conflict_do_update(
        index_elements=[lease.name],
        set_={"holder": stmt.excluded.holder, "lease_until": stmt.excluded.lease_until},
        where=(lease.lease_until.is_(None)) | (lease.lease_until < now)
        | (lease.holder == holder))
    rows = (await session.execute(stmt.returning(lease.name))).all()
    return bool(rows)


async def release_chat(session: AsyncSession, channel: str, chat_key: str, holder: str,
                       now: datetime) -> None:
    """Give the chat's lease up (if this holder still has it); not committed."""
    from models.tables import JobLease

    await session.execute(
        update(JobLease).where(col(JobLease.name) == _lease_name(channel, chat_key),
                               col(JobLease.holder) == holder)
        .values(lease_until=None, last_run_at=now).execution_options(synchronize_session=False))


async def oldest_new(session: AsyncSession, channel: str, chat_key: str) -> Inbox | None:
    """The chat's oldest update not processed yet, whichever worker recorded it."""
    result = await session.exec(
        select(Inbox).where(Inbox.channel == channel, Inbox.chat_key == chat_key,
                            Inbox.status == "new").order_by(col(Inbox.id)).limit(1))
    return result.first()


async def waiting_chats(session: AsyncSession, channel: str, older_than: datetime,
                        limit: int = 500) -> list[str]:
    """Chats with updates recorded before `older_than` and still not processed."""
    result = await session.exec(
        select(Inbox.chat_key).where(Inbox.channel == channel, Inbox.status == "new",
                                     col(Inbox.received_at) < older_than)
        .group_by(col(Inbox.chat_key)).limit(limit))
    return list(result.all())


# ---- the shared inbox's cheaper round trips (bot/inbox.py SharedInboxProcessor) --------------


async def claim_chat_rows(session: AsyncSession, channel: str, chat_key: str, holder: str,
                          until: datetime, now: datetime, limit: int) -> list[Inbox] | None:
    """Take (or renew) the chat's lease and, when this holder has it, read the chat's oldest
    `limit` new rows, in one transaction (not committed): None when another holder has the
    chat, else the rows (oldest first; empty when none waits). The shared processor reads
    two: the one to process, and whether another waits."""
    if not await claim_chat(session, channel, chat_key, holder, until, now):
        return None
    result = await session.exec(
        select(Inbox).where(Inbox.channel == channel, Inbox.chat_key == chat_key,
                            Inbox.status == "new").order_by(col(Inbox.id)).limit(limit))
    return list(result.all())


async def release_chat_and_look(session: AsyncSession, channel: str, chat_key: str,
                                holder: str, now: datetime) -> bool:
    """Give the chat's lease up and say whether a new row waits (not committed). The release
    comes first: a worker that recorded a row after this look and found the chat held waits
    on the released lease row and takes the chat itself, and a row recorded before it is
    seen here (PostgreSQL's READ COMMITTED reads afresh per statement; SQLite's writers are
    serialised)."""
    await release_chat(session, channel, chat_key, holder, now)
    result = await session.exec(
        select(Inbox.id).where(Inbox.channel == channel, Inbox.chat_key == chat_key,
                               Inbox.status == "new").limit(1))
    return result.first() is not None
