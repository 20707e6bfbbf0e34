"""Housekeeping statements: rows past their retention, deleted a short chunk at a time.

Each function deletes up to `limit` rows in the caller's transaction (not committed) and
returns how many; the caller commits and calls again until fewer than `limit` come back
(bot/ops.py `housekeeping`). What is deleted is chosen by the rows' own state, so a run
stopped midway (a crash, a restart) leaves nothing half done: the next run carries on.

One status at a time: SQLite reads `status IN (a, b)` as two ranges of the status index, and
once the first status has no old rows left every chunk would walk that status's recent rows
(a month of delivered messages) again before reaching the second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.tables import Draft, Inbox, JobLease, Outbox

OUTBOX_PURGED = ("sent", "superseded")  # parked and undeliverable rows stay for the admins
INBOX_PURGED = ("done", "failed")  # new rows are still to be processed
# Rows per transaction. On SQLite the main engine's statements run on the event loop's
# thread (models/sqlite_inline.py): 500 outbox rows with their five indexes take ~10 ms at a
# year's size (5,000 took 100-300 ms, every citizen waiting). PostgreSQL blocks nobody.
SQLITE_CHUNK = 500
POSTGRES_CHUNK = 5000


def chunk_size(sessionmaker: async_sessionmaker[Any], sqlite: int = SQLITE_CHUNK,
               other: int = POSTGRES_CHUNK) -> int:
    """`sqlite` when the sessionmaker's engine is SQLite, else `other`."""
    bind = sessionmaker.kw.get("bind")
    name = getattr(getattr(bind, "dialect", None), "name", "")
    return sqlite if name == "sqlite" else other


async def in_chunks(sessionmaker: async_sessionmaker[Any],
                    step: Callable[[Any, int], Awaitable[int]], chunk: int) -> int:
    """`step(session, chunk)` in its own short transaction, again and again until it does
    fewer than `chunk`; the event loop runs everything else between two chunks (on SQLite the
    main engine's statements run on the loop's thread, and a free write lock is taken without
    suspending). Returns the total done."""
    total = 0
    while True:
        async with sessionmaker() as session:
            done = await step(session, chunk)
            await session.commit()
        total += done
        if done < chunk:
            return total
        await asyncio.sleep(0)


async def _delete_chosen(session: AsyncSession, key: Any, chosen: Any) -> int:
    """Delete the rows of `key`'s table whose key `chosen` (a limited select) picks; how many."""
    result = await session.execute(
        delete(key.table).where(key.in_(chosen.scalar_subquery()))
        .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def purge_outbox(session: AsyncSession, status: str, before: datetime, limit: int
                       ) -> int:
    """Up to `limit` outbox rows of `status` (sent or superseded) created before `before`."""
    assert status in OUTBOX_PURGED
    old = (select(Outbox.id).where(col(Outbox.status) == status,
                                   col(Outbox.created_at) < before).limit(limit))
    return await _delete_chosen(session, col(Outbox.id), old)


async def purge_inbox(session: AsyncSession, status: str, before: datetime, limit: int) -> int:
    """Up to `limit` inbox rows of `status` (done or failed) received before `before`."""
    assert status in INBOX_PURGED
    old = (select(Inbox.id).where(col(Inbox.status) == status,
                                  col(Inbox.received_at) < before).limit(limit))
    return await _delete_chosen(session, col(Inbox.id), old)


async def purge_chat_leases(session: AsyncSession, before: datetime, limit: int) -> int:
    """Up to `limit` per-chat inbox leases given up before `before` (one row per chat ever
    seen otherwise)."""
    old = (select(JobLease.name).where(col(JobLease.name).startswith("chat:"),
                                       col(JobLease.lease_until).is_(None),
                                       col(JobLease.last_run_at) < before).limit(limit))
    return await _delete_chosen(session, col(JobLease.name), old)


async def purge_drafts(session: AsyncSession, older_than: datetime, limit: int) -> int:
    """Up to `limit` drafts untouched since before `older_than` (a crowd's abandoned drafts
    expire together: 20,000 in one statement held the loop 15-30 ms, growing with the
    crowd)."""
    old = select(Draft.id).where(col(Draft.updated_at) < older_than).limit(limit)
    return await _delete_chosen(session, col(Draft.id), old)
