"""Oversight over time: lights that change by themselves, reminders to the OPD groups,
escalation to the admins, auto-close of resolved reports, expired drafts.

Every open report stores the next moments its light changes (`yellow_at`, `red_at`, indexed),
kept by every action (handlers/lifecycle.py `relight`). A tick turns the reports whose moment
has come, in short batches: one UPDATE ... WHERE moment <= now flips the light and clears the
moment, and in the same transaction the card edits, the grouped reminder per OPD group and
the escalation are queued in the outbox. A moment cleared is never found again, so each
reminder and escalation is sent once per transition, whatever restarts or second processes
do (and the scheduler runs one tick at a time across processes, bot/scheduler.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import lifecycle
from handlers.lifecycle import Deps, enqueue_many, notify_citizen, refresh_card
from models import housekeeping
from models.domain import OPEN_STATUSES, Status, utcnow
from models.housekeeping import chunk_size, in_chunks
from models.tables import Opd, Report

log = logging.getLogger(__name__)

BATCH = 500  # reports per transaction: citizens' turns are never held up for long
# On SQLite the main engine's statements run on the event loop's thread (nothing else runs
# meanwhile), so smaller batches there (bench/loop_block.py): a light costs ~0.1-0.25 ms (its
# share of one UPDATE and one INSERT of the outbox rows), an auto-close ~3 ms (a
# compare-and-set, its event, the citizen's notice and the card, through the ORM): 500 of
# those held the loop for 1.5 s. PostgreSQL blocks nobody: 500.
SQLITE_LIGHT_BATCH = 200
SQLITE_CLOSE_BATCH = 10
SHOWN = 30  # tickets listed in one reminder; the rest are counted


@dataclass
class TickResult:
    yellow: int = 0
    red: int = 0
    closed: int = 0
    drafts: int = 0


async def tick(sessionmaker: async_sessionmaker[Any], deps: Deps, now: datetime | None = None,
               draft_ttl: timedelta | None = None) -> TickResult:
    """One pass: reports turning red, then yellow (a report past both turns red only),
    resolved reports due to close, expired drafts. Returns what changed."""
    now = now or deps.now()
    result = TickResult()
    lights = chunk_size(sessionmaker, SQLITE_LIGHT_BATCH, BATCH)
    closes = chunk_size(sessionmaker, SQLITE_CLOSE_BATCH, BATCH)
    for light in ("red", "yellow"):
        while True:
            async with sessionmaker() as session:
                turned = await turn_lights(session, deps, light, now, lights)
                await session.commit()
            setattr(result, light, getattr(result, light) + turned)
            if turned < lights:
                break
            await asyncio.sleep(0)  # the loop serves everyone else between two batches
    while True:
        async with sessionmaker() as session:
            closed = await auto_close(session, deps, now, closes)
            await session.commit()
        result.closed += closed
        if closed < closes:
            break
        await asyncio.sleep(0)
    if draft_ttl is not None:
        # Drafts age in real time (their updated_at is the wall clock): a demo or test moving
        # the oversight clock forward must not throw away what people are typing right now.
        expired = utcnow() - draft_ttl
        result.drafts = await in_chunks(
            sessionmaker, lambda s, n: housekeeping.purge_drafts(s, expired, n),
            chunk_size(sessionmaker))
    if result.red or result.yellow or result.closed or result.drafts:
        log.info("oversight tick: %d red, %d yellow, %d auto-closed, %d drafts purged",
                 result.red, result.yellow, result.closed, result.drafts)
    return result


async def turn_lights(session: AsyncSession, deps: Deps, light: str, now: datetime,
                      limit: int = BATCH) -> int:
    """Up to `limit` reports whose `light` moment has come: the light set, the moment cleared,
    their cards edited, their OPD groups reminded (one message per group), and for red the
    admins told. Not committed. Returns how many turned."""
    moment = col(Report.red_at) if light == "red" else col(Report.yellow_at)
    # Open reports only: a finished report's moments are never acted on, whatever a stale
    # writer left in them.
    is_open = col(Report.status).in_(sorted(OPEN_STATUSES))
    due = select(Report.id).where(moment <= now, is_open).order_by(moment).limit(limit)
    values: dict[str, Any] = {"light": light, "yellow_at": None}
    if light == "red":
        values["red_at"] = None
    # The moment is checked again on the row itself: an action that moved it meanwhile wins.
    stmt = (update(Report)
            .where(col(Report.id).in_(due.scalar_subquery()), moment <= now, is_open)
            .values(**values)
            .returning(col(Report.id), col(Report.opd_id), col(Report.card_chat_id),
                       col(Report.status), col(Report.verify_due_at), col(Report.verified_at))
            .execution_options(synchronize_session=False))
    rows = (await session.execute(stmt)).all()
    if not rows:
        return 0
    by_opd: dict[int, list[int]] = defaultdict(list)
    verifying: list[int] = []  # awaiting an operator: the operators' group is reminded
    queued: list[tuple[int | str, str, dict[str, Any], int | None]] = []
    for report_id, opd_id, card_chat, status, verify_due, verified_at in rows:
        if status == Status.RECEIVED and verify_due is not None and verified_at is None:
            verifying.append(report_id)
        else:
            by_opd[opd_id].append(report_id)
        if card_chat is not None:
            queued.append((card_chat, "relight_card", {}, report_id))
    if verifying:
        queued += verification_reminders(deps, light, verifying)
    for opd_id, ids in by_opd.items():
        opd = await deps.catalog.opd(session, opd_id) or await session.get(Opd, opd_id)
        if opd is not None and opd.chat_id is not None:
            thread = {"thread_id": opd.thread_id} if opd.thread_id else {}
            queued.append((opd.chat_id, "reminder",
                           {"key": f"reminder-{light}", "ids": ids[:SHOWN], "count": len(ids),
                            **thread}, None))
        if light == "red":
            queued += escalation(deps, opd_id, ids)
    await enqueue_many(session, queued)
    return len(rows)


def verification_reminders(deps: Deps, light: str, ids: list[int]
                           ) -> list[tuple[int | str, str, dict[str, Any], int | None]]:
    """Unverified reports turning yellow or red: one reminder to the operators' group, and
    for red the escalation to the admin group (else each super-admin)."""
    out: list[tuple[int | str, str, dict[str, Any], int | None]] = []
    if deps.operator_chat_id is not None:
        out.append((deps.operator_chat_id, "reminder",
                    {"key": f"reminder-verify-{light}", "ids": ids[:SHOWN], "count": len(ids)},
                    None))
    if light == "red":
        payload = {"key": "escalation-verify-red", "ids": ids[:SHOWN], "count": len(ids)}
        targets = [deps.admin_chat_id] if deps.admin_chat_id else sorted(deps.admin_ids)
        # Where the operators' group is the admin group (fallback), its reminder is enough.
        out += [(chat, "reminder", payload, None) for chat in targets
                if chat != deps.operator_chat_id]
    return out


def escalation(deps: Deps, opd_id: int, ids: list[int]
               ) -> list[tuple[int | str, str, dict[str, Any], int | None]]:
    """Red reports of one OPD, for the admin / leadership group (else each super-admin)."""
    payload = {"key": "escalation-red", "ids": ids[:SHOWN], "count": len(ids), "opd": opd_id}
    targets = [deps.admin_chat_id] if deps.admin_chat_id else sorted(deps.admin_ids)
    return [(chat, "reminder", payload, None) for chat in targets]


async def auto_close(session: AsyncSession, deps: Deps, now: datetime, limit: int = BATCH
                     ) -> int:
    """Up to `limit` resolved reports whose citizen did not answer within AUTO_CLOSE_DAYS
    working days: closed by the system, the citizen told, the card edited. Not committed."""
    due = (await session.exec(
        select(Report).where(col(Report.close_due_at) <= now,
                             Report.status == Status.RESOLVED.value)
        .order_by(col(Report.close_due_at)).limit(limit))).all()
    closed = 0
    for report in due:
        # Compare-and-set: a citizen answering at this moment wins (re-open or rating).
        if not await lifecycle.claim(session, report, report.version):
            continue
        t = deps.translator.bind(deps.default_language)
        await lifecycle.set_status(
            session, deps, report, Status.CLOSED, "system", None, None,
            note=t("event-auto-closed"))
        session.add(report)
        await notify_citizen(session, deps, report, "notify-auto-closed",
                             days=deps.auto_close_days)
        await refresh_card(session, deps, report)
        closed += 1
    return closed
