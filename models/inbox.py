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

from sqlalchemy import bindparam, event, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.domain import utcnow
from models.prepared import Prepared
from models.tables import Inbox

CLAIM_KEY = "aduan.inbox_claim"


class AlreadyProcessed(Exception):
    """The update was processed before: this transaction's effects are dropped."""


@dataclass
class Claim:
    """One inbox row being processed; `done` once its flip has committed.

    `answer` holds the direct answers (outbox text rows: chat, payload, report id) to be
    written with the flip, so an answer survives a crash between the commit and its send;
    `answer_whole` says every answer of the update is in it (no send need add itself);
    `answer_saved` that it is in the database (to be cleared once sent)."""

    inbox_id: int
    done: bool = False
    committing: bool = False
    answer: list[dict[str, Any]] | None = None
    answer_whole: bool = False
    answer_saved: bool = False


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


_FLIP = Prepared(  # built once: it runs for every update
    update(Inbox).where(col(Inbox.id) == bindparam("rid"), col(Inbox.status) == "new")
    .values(status="done", processed_at=bindparam("at"), answer=bindparam("answer"))
    .execution_options(synchronize_session=False))


@event.listens_for(Session, "before_commit")
def _flip(session: Session) -> None:
    claim: Claim | None = session.info.get(CLAIM_KEY)
    if claim is None or claim.done or session.in_nested_transaction():
        # (a SAVEPOINT released is not the commit: the flip goes with the outer one, with
        # the answers the use case stashes after it)
        return
    # On the session's transaction, as the driver's SQL (models/prepared.py).
    params = {"rid": claim.inbox_id, "at": utcnow(), "answer": claim.answer or None}
    result: Any = _FLIP.run(session.connection(), params)
    if result.rowcount != 1:
        raise AlreadyProcessed(claim.inbox_id)
    claim.committing = True


def flip_write(claim: Claim) -> tuple[Prepared, dict[str, Any], type[Exception]]:
    """The flip as a lean write (models/lean.py): statement, parameters, and the error when
    it matches no row. `flipped(claim)` once it has committed."""
    params = {"rid": claim.inbox_id, "at": utcnow(), "answer": claim.answer or None}
    return _FLIP, params, AlreadyProcessed


def flipped(claim: Claim) -> None:
    """The claim's flip committed (with its kept answers, if any)."""
    claim.done, claim.committing = True, False
    claim.answer_saved = bool(claim.answer)


@event.listens_for(Session, "after_commit")
def _flipped(session: Session) -> None:
    claim: Claim | None = session.info.get(CLAIM_KEY)
    if claim is not None and claim.committing:
        flipped(claim)


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
    # Core on the session's transaction, the rows as executemany parameters of one statement
    # built once per dialect (SQLAlchemy's "insertmanyvalues" sends them as one INSERT): a
    # multi-row VALUES clause built per batch cost twice as much (~170 µs per update).
    dialect = session.get_bind().dialect.name
    stmt = _RECORD.get(dialect)
    if stmt is None:
        table = Inbox.__table__  # type: ignore[attr-defined]
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = _RECORD[dialect] = insert(table).on_conflict_do_nothing().returning(
            table.c.update_key, table.c.id)
    conn = await session.connection()
    rows = await conn.execute(stmt, values)
    return {key: rid for key, rid in rows.all()}


_RECORD: dict[str, Any] = {}  # dialect name -> the recording INSERT


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


# ---- direct answers: committed with the update, cleared once sent ---------------------------


def claim_of(session: AsyncSession) -> Claim | None:
    """The inbox claim the session's next commit flips (None outside an update)."""
    return session.sync_session.info.get(CLAIM_KEY)


def stash(session: AsyncSession, items: list[dict[str, Any]], whole: bool = False) -> bool:
    """Add direct answers to be written with the update's flip; False when the flip has
    committed already (or there is no update): then the caller saves them with `save_late`.
    `whole`: these are all of the update's answers (the sends need not add themselves)."""
    claim = claim_of(session)
    if claim is None or claim.done:
        return False
    claim.answer = [*(claim.answer or []), *items]
    claim.answer_whole = claim.answer_whole or whole
    return True


async def save_late(session: AsyncSession, claim: Claim, items: list[dict[str, Any]]) -> None:
    """An answer about to go after the update's flip committed (a handler that committed,
    then answered): written to the row on its own; not committed."""
    claim.answer = [*(claim.answer or []), *items]
    await session.execute(
        update(Inbox).where(col(Inbox.id) == claim.inbox_id).values(answer=claim.answer)
        .execution_options(synchronize_session=False))
    claim.answer_saved = True


async def clear_answers(session: AsyncSession, ids: Sequence[int]) -> None:
    """These updates' answers went (or were queued, or can never go): forget them. One
    statement for a batch; not committed."""
    await session.execute(
        update(Inbox).where(col(Inbox.id).in_(list(ids)), col(Inbox.answer).is_not(None))
        .values(answer=None).execution_options(synchronize_session=False))


async def take_unsent(session: AsyncSession, channel: str, older_than: datetime | None,
                      now: datetime | None = None, limit: int = 200
                      ) -> list[tuple[int, list[dict[str, Any]]]]:
    """Answers committed with their update whose sending never finished (the process died
    after the commit): taken off their rows (each once, whoever else looks) and returned as
    (inbox id, items) for the outbox; not committed. With `older_than` (several workers) only
    rows processed before it whose chat no worker holds now (a live worker may still be
    sending them); without, every such row (one process, at start-up).

    A private chat that has a later update already had that update answered with where the
    citizen stands now: its older answer is dropped (items empty), not sent late out of turn.
    """
    # The channel compared as an expression: SQLite (no statistics; the bot never runs
    # ANALYZE) would otherwise walk the (channel, update_key) index over the whole inbox
    # instead of the small partial index of rows with an answer kept (~300 ms at a year's
    # size, at start-up and on every sweep, with the loop blocked).
    query = select(Inbox.id, Inbox.chat_key).where(
        col(Inbox.channel).concat("") == channel, col(Inbox.answer).is_not(None))
    if older_than is not None:
        query = query.where(col(Inbox.processed_at) < older_than)
    rows = (await session.execute(query.order_by(col(Inbox.id)).limit(limit))).all()
    if not rows:
        return []
    chats = sorted({c for _, c in rows})
    busy: set[str] = set()
    if older_than is not None:
        busy = await leased_chats(session, channel, chats, now or utcnow())
    private = [c for c in chats if not c.startswith("-")]
    newest: dict[str, int] = {}
    if private:
        result = await session.execute(
            select(Inbox.chat_key, func.max(Inbox.id)).where(
                Inbox.channel == channel, col(Inbox.chat_key).in_(private))
            .group_by(col(Inbox.chat_key)))
        newest = {chat: int(top) for chat, top in result.all()}
    taken: list[tuple[int, list[dict[str, Any]]]] = []
    for rid, chat in rows:
        if chat in busy:
            continue
        # Locked, then cleared only if still there: two workers sweeping at once take it once.
        current = (await session.execute(
            select(Inbox.answer).where(col(Inbox.id) == rid).with_for_update())).first()
        if current is None or current[0] is None:
            continue
        result: Any = await session.execute(
            update(Inbox).where(col(Inbox.id) == rid, col(Inbox.answer).is_not(None))
            .values(answer=None).execution_options(synchronize_session=False))
        if result.rowcount == 1:
            stale = newest.get(chat, 0) > (rid or 0)
            taken.append((rid or 0, [] if stale else list(current[0])))
    return taken


async def leased_chats(session: AsyncSession, channel: str, keys: Sequence[str],
                       now: datetime) -> set[str]:
    """Of these chats, the ones a worker holds the lease on now."""
    from models.tables import JobLease

    if not keys:
        return set()
    names = {_lease_name(channel, k): k for k in keys}
    result = await session.execute(
        select(JobLease.name).where(col(JobLease.name).in_(list(names)),
                                    col(JobLease.lease_until) > now))
    return {names[n] for (n,) in result.all() if n in names}


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
