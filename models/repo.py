"""Repositories: queries and writes over one AsyncSession. They never commit; use cases do."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, bindparam, delete, event, func, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient, make_transient_to_detached
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.domain import Status, new_ticket_code, utcnow
from models.prepared import Prepared
from models.tables import (
    Attachment,
    Category,
    Citizen,
    Draft,
    Opd,
    Outbox,
    Pic,
    Report,
    ReportEvent,
)


def insert_ignoring_conflict(session: AsyncSession, table: Any, values: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for this session's database (SQLite or PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    stmt = (pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)).values(values)
    return stmt.on_conflict_do_nothing()


async def count_reports(session: AsyncSession) -> int:
    result = await session.execute(select(func.count()).select_from(Report))
    return int(result.scalar_one())


# Set in a session's info when it queued outbox rows: the delivery worker is woken after it.
OUTBOX_QUEUED = "aduan.outbox_queued"


class DraftConflict(Exception):
    """The draft changed under us (another process); reload and retry."""


async def get_citizen(session: AsyncSession, channel: str, external_id: str) -> Citizen | None:
    result = await session.exec(_GET_CITIZEN, params={"c": channel, "u": external_id})
    return result.first()


_GET_CITIZEN = select(Citizen).where(col(Citizen.channel) == bindparam("c"),
                                     col(Citizen.external_id) == bindparam("u"))


async def upsert_citizen(
    session: AsyncSession,
    channel: str,
    external_id: str,
    *,
    language: str,
    display_name: str | None = None,
    username: str | None = None,
    likely_new: bool = False,
) -> tuple[Citizen, bool]:
    """Citizen for (channel, id), created with `language` if new; returns (citizen, created).
    `likely_new`: try the INSERT before the read (a crowd's first messages: one statement
    instead of two; someone known costs one more), on SQLite only."""
    if likely_new and session.get_bind().dialect.name == "postgresql":
        # Not there: PostgreSQL's INSERT ... ON CONFLICT DO NOTHING takes a value of the id
        # sequence even when it writes nothing, so every known citizen the cache forgot
        # would burn an id of the 32-bit key (SQLite's does not).
        likely_new = False
    citizen = None if likely_new else await get_citizen(session, channel, external_id)
    created = citizen is None
    if citizen is None:
        # Inserted with its name and username (no UPDATE right after the INSERT), by one
        # INSERT ... ON CONFLICT DO NOTHING built once: no savepoint (two more statements,
        # round trips on PostgreSQL) and no ORM flush for a crowd's first messages.
        fresh = Citizen(channel=channel, external_id=external_id, language=language,
                        display_name=display_name[:200] if display_name else None,
                        username=(username[:64] or None) if username is not None else None,
                        last_seen_at=utcnow())
        if await insert_new(session, fresh):
            return fresh, True
        citizen = await get_citizen(session, channel, external_id)  # known, or another first
        assert citizen is not None
        created = False
    if citizen.blocked_since is not None:  # they talk to us again: deliver what waited
        citizen.blocked_since = None
        await requeue_undeliverable(session, external_id, external_id)
    if display_name:
        citizen.display_name = display_name[:200]
    if username is not None:
        citizen.username = username[:64] or None
    citizen.last_seen_at = utcnow()
    session.add(citizen)
    return citizen, created


async def insert_new(session: AsyncSession, obj: Any) -> bool:
    """A new object written by one prepared `INSERT ... ON CONFLICT DO NOTHING RETURNING id`
    (every column but the id, built once per table and dialect) and attached to the session
    as loaded: no savepoint (two more statements, round trips on PostgreSQL) and no ORM
    flush. False, and nothing written, when a unique column conflicts. A rollback of the
    transaction (or savepoint) takes the row back and makes the object new again, as an ORM
    insert's would (not left expired in the identity map under an id SQLite may reuse)."""
    table = type(obj).__table__
    dialect = session.get_bind().dialect.name
    stmt = _INSERT_NEW.get((table.name, dialect))
    if stmt is None:
        insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = _INSERT_NEW[table.name, dialect] = Prepared(
            insert_(table).values({c.name: bindparam(c.name, type_=c.type)
                                   for c in table.columns if c.name != "id"})
            .on_conflict_do_nothing().returning(table.c.id))
    values = {c.name: getattr(obj, c.name) for c in table.columns if c.name != "id"}

    def write(sync: Any) -> int | None:
        return stmt.run(sync.connection(), values).scalar()

    new_id = await session.run_sync(write)
    if new_id is None:
        return False
    obj.id = new_id
    make_transient_to_detached(obj)  # the row exists: attach it as loaded
    session.add(obj)
    sync = session.sync_session
    scope = sync.get_nested_transaction() or sync.get_transaction()
    sync.info.setdefault(_CORE_INSERTED, []).append((obj, values, scope))
    return True


_INSERT_NEW: dict[tuple[str, str], Prepared] = {}  # (table, dialect) -> its INSERT

# Session info: (object, its values, the transaction or savepoint) for rows inserted by Core.
_CORE_INSERTED = "aduan.core_inserted"


@event.listens_for(Session, "after_commit")
def _inserted_kept(session: Session) -> None:
    session.info.pop(_CORE_INSERTED, None)


@event.listens_for(Session, "after_soft_rollback")
def _inserted_undone(session: Session, previous: Any) -> None:
    """Objects whose rows a rolled-back transaction (or savepoint) inserted by Core are new
    again: out of the session, without an id, their values as given."""
    inserted = session.info.get(_CORE_INSERTED)
    if not inserted:
        return
    undone = [item for item in inserted if not previous.nested or item[2] is previous]
    for item in undone:
        obj, values, _scope = item
        inserted.remove(item)
        if obj in session:
            session.expunge(obj)
        make_transient(obj)
        for name, value in values.items():
            setattr(obj, name, value)
        obj.id = None


async def set_language(session: AsyncSession, citizen_id: int, language: str) -> None:
    await session.execute(update(Citizen).where(col(Citizen.id) == citizen_id)
                          .values(language=language)
                          .execution_options(synchronize_session=False))


async def load_draft(session: AsyncSession, channel: str, external_id: str) -> Draft | None:
    """The stored draft, read afresh (never a stale copy from the session's identity map)."""
    result = await session.exec(
        select(Draft).where(Draft.channel == channel, Draft.external_id == external_id)
        .execution_options(populate_existing=True)
    )
    return result.first()


async def save_draft(
    session: AsyncSession, channel: str, external_id: str, step: str, data: dict[str, Any],
    version: int | None,
) -> int:
    """Insert (version None) or compare-and-set update a draft; returns the new version.

    One statement either way: an insert that meets an existing draft does nothing (no
    savepoint needed) and, like a lost compare-and-set, raises DraftConflict."""
    stmt, params, new = draft_write(session.get_bind().dialect.name, channel, external_id,
                                    step, data, version)
    if await core_rowcount(session, stmt, params) != 1:
        raise DraftConflict
    return new


def draft_write(dialect: str, channel: str, external_id: str, step: str, data: dict[str, Any],
                version: int | None) -> tuple[Prepared, dict[str, Any], int]:
    """`save_draft`'s statement, its parameters and the version it writes; it must match
    exactly one row (else DraftConflict)."""
    now = utcnow()
    if version is None:
        # A new draft starts at a random version, never at 1 again: a process holding an
        # old draft's version in its cache cannot match a draft written since.
        first = secrets.randbelow(1 << 30) + 1
        values = {"channel": channel, "external_id": external_id, "step": step, "data": data,
                  "version": first, "updated_at": now}
        return _new_draft(dialect), values, first
    return _SAVE_DRAFT, {"c": channel, "u": external_id, "v": version, "step": step,
                         "data": data, "version": version + 1, "updated_at": now}, version + 1


async def core_rows(session: AsyncSession, stmt: Any, params: dict[str, Any]) -> list[Any]:
    """A Core SELECT's rows on the session's transaction, in one hop into SQLAlchemy's
    greenlet: no ORM execution context and result around a statement that selects columns
    (at Send, ~40 % of such a read's CPU)."""
    def run(sync: Any) -> list[Any]:
        return list(sync.connection().execute(stmt, params).all())

    return await session.run_sync(run)


async def core_rowcount(session: AsyncSession, stmt: Any,
                        params: dict[str, Any] | None = None) -> int:
    """Run a Core statement on the session's transaction (no ORM DML path); the rows it
    matched. One hop into SQLAlchemy's greenlet (`run_sync`), not two (`connection()`, then
    `execute`): ~25 µs less per statement."""
    def run(sync: Any) -> int:
        if isinstance(stmt, Prepared):
            return int(stmt.run(sync.connection(), params or {}).rowcount)
        return int(sync.connection().execute(stmt, params).rowcount)

    return await session.run_sync(run)


def _new_draft(dialect: str) -> Prepared:
    """The new draft's INSERT ... ON CONFLICT DO NOTHING, built once per dialect (built per
    call, with its values inlined, its cache key alone cost ~0.5 ms of CPU per filing)."""
    stmt = _NEW_DRAFT.get(dialect)
    if stmt is None:
        insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
        table = Draft.__table__  # type: ignore[attr-defined]
        stmt = _NEW_DRAFT[dialect] = Prepared(insert_(table).values(
            channel=bindparam("channel"), external_id=bindparam("external_id"),
            step=bindparam("step"), data=bindparam("data", type_=JSON),
            version=bindparam("version"), updated_at=bindparam("updated_at"),
        ).on_conflict_do_nothing())
    return stmt


_NEW_DRAFT: dict[str, Prepared] = {}  # dialect name -> the new draft's INSERT

# Built once: an intake step's statements are the same every time but for their values.
_SAVE_DRAFT = Prepared(
    update(Draft)
    .where(col(Draft.channel) == bindparam("c"), col(Draft.external_id) == bindparam("u"),
           col(Draft.version) == bindparam("v"))
    .values(step=bindparam("step"), data=bindparam("data", type_=JSON), version=bindparam(
        "version"), updated_at=bindparam("updated_at"))
    .execution_options(synchronize_session=False)
)


async def delete_draft(session: AsyncSession, channel: str, external_id: str,
                       version: int | None = None) -> None:
    """Remove the draft; with `version`, only that version of it (else DraftConflict)."""
    params = {"c": channel, "u": external_id}
    if version is None:
        await core_rowcount(session, _DELETE_DRAFT, params)
        return
    if await core_rowcount(session, _DELETE_DRAFT_VERSION, {**params, "v": version}) != 1:
        raise DraftConflict


def draft_delete(channel: str, external_id: str) -> tuple[Prepared, dict[str, Any]]:
    """`delete_draft`'s statement (any version, none there is fine) and its parameters."""
    return _DELETE_DRAFT, {"c": channel, "u": external_id}


_DELETE_ANY_DRAFT = delete(Draft).where(col(Draft.channel) == bindparam("c"),
                                        col(Draft.external_id) == bindparam("u"))
_DELETE_DRAFT = Prepared(_DELETE_ANY_DRAFT)
_DELETE_DRAFT_VERSION = Prepared(_DELETE_ANY_DRAFT.where(col(Draft.version) == bindparam("v")))


async def purge_drafts(session: AsyncSession, older_than: datetime) -> int:
    result = await session.execute(delete(Draft).where(col(Draft.updated_at) < older_than))
    return int(result.rowcount or 0)


async def active_categories(session: AsyncSession) -> Sequence[Category]:
    result = await session.exec(
        select(Category).where(Category.active == True).order_by(  # noqa: E712
            col(Category.sort), col(Category.id)
        )
    )
    return result.all()


async def get_category(session: AsyncSession, category_id: int) -> Category | None:
    return await session.get(Category, category_id)


async def get_opd(session: AsyncSession, opd_id: int) -> Opd | None:
    return await session.get(Opd, opd_id)


def _locked(query: Any, lock: bool) -> Any:
    """`lock`: the row read afresh and locked until the commit (PostgreSQL; SQLite's writers
    are serialised by BEGIN IMMEDIATE), so an edit computed from it is not mixed with another
    edit committed meanwhile (the ORM writes only the columns it sees changed)."""
    if not lock:
        return query
    return query.with_for_update().execution_options(populate_existing=True)


async def opd_by_code(session: AsyncSession, code: str, lock: bool = False) -> Opd | None:
    result = await session.exec(_locked(select(Opd).where(Opd.code == code.upper()), lock))
    return result.first()


async def category_by_code(session: AsyncSession, code: str, lock: bool = False
                           ) -> Category | None:
    result = await session.exec(
        _locked(select(Category).where(Category.code == code.lower()), lock))
    return result.first()


async def list_opds(session: AsyncSession, active_only: bool = False) -> Sequence[Opd]:
    """Every OPD by code; `active_only` leaves out the deactivated ones."""
    query = select(Opd).order_by(col(Opd.code))
    if active_only:
        query = query.where(Opd.active == True)  # noqa: E712
    result = await session.exec(query)
    return result.all()


async def report_by_nonce(session: AsyncSession, nonce: str) -> Report | None:
    result = await session.exec(
        select(Report).where(Report.draft_nonce == nonce)
    )
    return result.first()


async def report_by_code(session: AsyncSession, code: str) -> Report | None:
    result = await session.exec(select(Report).where(Report.code == code))
    return result.first()


async def reports_of(session: AsyncSession, citizen_id: int, limit: int = 10) -> Sequence[Report]:
    result = await session.exec(
        select(Report)
        .where(Report.citizen_id == citizen_id)
        .order_by(col(Report.created_at).desc(), col(Report.id).desc())
        .limit(limit)
    )
    return result.all()


async def count_reports_of(session: AsyncSession, citizen_id: int) -> int:
    result = await session.execute(
        select(func.count()).select_from(Report).where(col(Report.citizen_id) == citizen_id)
    )
    return int(result.scalar_one())


async def events_of(session: AsyncSession, report_id: int) -> Sequence[ReportEvent]:
    result = await session.exec(
        select(ReportEvent)
        .where(ReportEvent.report_id == report_id)
        .order_by(col(ReportEvent.at), col(ReportEvent.id))
    )
    return result.all()


async def attachments_of(session: AsyncSession, report_id: int) -> Sequence[Attachment]:
    result = await session.exec(
        select(Attachment).where(Attachment.report_id == report_id).order_by(col(Attachment.id))
    )
    return result.all()


async def create_report(
    session: AsyncSession,
    report: Report,
    attachments: list[dict[str, Any]],
    *,
    prefix: str,
    actor_id: str,
    actor_name: str | None,
    code_length: int = 4,
) -> Report:
    """Insert a report with a fresh unique ticket code, its attachments and a `created` event.

    `code_length` grows with the number of reports (domain.ticket_length) so a collision
    stays rare; one that happens anyway is retried, a character longer after a few tries.
    The report is written by one prepared `INSERT ... ON CONFLICT DO NOTHING RETURNING id`
    and attached to the session as loaded, as a citizen's first contact is: no savepoint
    around an ORM flush (two more statements, and ~0.8 ms of a filing's CPU)."""
    for attempt in range(20):
        report.code = new_ticket_code(prefix, min(code_length + attempt // 3, 8))
        if await insert_new(session, report):
            break
        if await report_by_code(session, report.code) is None:
            # Not a code collision: the same draft sent twice (its nonce is unique).
            raise IntegrityError("INSERT INTO report", None,
                                 Exception(f"draft {report.draft_nonce} already filed"))
    else:  # pragma: no cover - 29^6 codes make this unreachable in practice
        raise RuntimeError("could not allocate a ticket code")
    assert report.id is not None
    now = utcnow()
    files = [{"report_id": report.id, "kind": item["kind"], "path": item["path"],
              "size": item["size"], "sha256": item["sha256"], "mime": item.get("mime"),
              "source_ref": item.get("source_ref"), "created_at": now} for item in attachments]
    event = {"report_id": report.id, "at": now, "kind": "created", "actor_kind": "citizen",
             "actor_id": actor_id, "actor_name": actor_name, "from_status": None,
             "to_status": Status.RECEIVED.value, "note": None}

    def write(sync: Any) -> None:
        # Core rows in one hop, not ORM objects and a flush (~0.4 ms of a filing's CPU):
        # nothing reads them back as objects in this transaction.
        conn = sync.connection()
        if files:
            conn.execute(_ADD_ATTACHMENTS, files)
        conn.execute(_ADD_EVENT, event)

    await session.run_sync(write)
    return report


_ADD_ATTACHMENTS = insert(Attachment.__table__)  # type: ignore[attr-defined]
_ADD_EVENT = insert(ReportEvent.__table__)  # type: ignore[attr-defined]


async def find_pic(session: AsyncSession, opd_id: int, user_id: int | None,
                   username: str | None) -> Pic | None:
    if user_id is not None:
        found = (await session.exec(select(Pic).where(Pic.opd_id == opd_id,
                                                      Pic.user_id == user_id))).first()
        if found is not None:
            return found
    if username:
        return (await session.exec(select(Pic).where(
            Pic.opd_id == opd_id, Pic.username == username.lower().lstrip("@")))).first()
    return None


async def pics_of(session: AsyncSession, opd_id: int) -> Sequence[Pic]:
    result = await session.exec(select(Pic).where(Pic.opd_id == opd_id).order_by(col(Pic.id)))
    return result.all()


async def requeue_undeliverable(session: AsyncSession, old_chat: int | str,
                                new_chat: int | str) -> int:
    """Messages a chat refused go out again (to `new_chat`) once it is reachable; edits of
    messages in the old chat are dropped (a fresh card is posted instead)."""
    await session.execute(
        update(Outbox)
        .where(col(Outbox.chat_id) == str(old_chat), col(Outbox.status) == "undeliverable",
               col(Outbox.kind).in_(("edit_card", "close_card")))
        .values(status="superseded")
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(
        update(Outbox)
        .where(col(Outbox.chat_id) == str(old_chat), col(Outbox.status) == "undeliverable")
        .values(chat_id=str(new_chat), status="pending", next_attempt_at=utcnow(),
                lease_until=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        session.info[OUTBOX_QUEUED] = True
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
