"""The scheduler: jobs driven by an injectable clock, each run claimed through the database.

A job runs only in the process holding its lease (a `job_lease` row, taken with one
conditional UPDATE, so it works alike on SQLite and PostgreSQL and across processes). Two
kinds of job:
- interval jobs (the oversight tick): due when `every` has passed since the last run;
- period jobs (the weekly digest): due once per period key (e.g. '2026-W48'); the job queues
  its messages in the transaction that records the key, so a period is done exactly once,
  across restarts and processes.

Why not APScheduler: its 3.x scheduler reads the wall clock itself (nothing to inject for tests
and the playground's "move time forward"), and its job stores give no "once per period, in the
same transaction as the job's effects" guarantee; 4.x, which has data-store coordination, is
still pre-release. The loop here is ~100 lines on the lease table the jobs need anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.leases import worker_name
from bot.loop import WakeableLoop
from models.domain import Clock
from models.tables import JobLease

log = logging.getLogger(__name__)


@dataclass
class Job:
    """`every`: an interval job, `run(now)`. `period`: a period job, `run_in(session, now,
    key)` queues its effects in the session the scheduler commits with the key."""

    name: str
    every: timedelta | None = None
    run: Callable[[datetime], Awaitable[Any]] | None = None
    period: Callable[[datetime], str] | None = None  # the key of the latest period due at now
    run_in: Callable[[AsyncSession, datetime, str], Awaitable[Any]] | None = None


class Scheduler(WakeableLoop):
    name = "scheduler"

    def __init__(self, sessionmaker: async_sessionmaker[Any], clock: Clock, jobs: list[Job],
                 *, lease: timedelta = timedelta(minutes=10), poll: float = 30.0,
                 holder: str | None = None) -> None:
        super().__init__()
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.jobs = jobs
        self.lease = lease
        self.poll = poll
        self.holder = holder or worker_name()
        self._known: set[str] = set()

    async def step(self) -> float | None:
        await self.run_due()
        return self.poll

    async def run(self) -> None:
        """Run due jobs every `poll` seconds (the outbox's 5-second idle cap is not needed:
        nothing else wakes the scheduler) until stopped."""
        while not self._stopped:
            self._wake.clear()
            try:
                await self.run_due()
            except Exception:  # the loop must outlive any single failure
                log.exception("scheduler pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)

    async def run_due(self, now: datetime | None = None) -> list[str]:
        """Run every job that is due and whose lease this process gets; their names."""
        now = now or self.clock.now()
        ran = []
        for job in self.jobs:
            try:
                if await self._run_job(job, now):
                    ran.append(job.name)
            except Exception:  # one job failing never stops the others, nor the loop
                log.exception("scheduled job %s failed", job.name)
                await self._release(job.name, now, None, failed=True)
        return ran

    async def _ensure(self, job: Job, now: datetime) -> None:
        """The job's lease row. A new period job starts at the current period (so a first
        start on a Wednesday does not send last week's digest)."""
        if job.name in self._known:
            return
        async with self.sessionmaker() as session:
            if await session.get(JobLease, job.name) is None:
                key = job.period(now) if job.period is not None else None
                session.add(JobLease(name=job.name, last_key=key,
                                     last_run_at=now if job.period is not None else None))
                try:
                    await session.commit()
                except IntegrityError:  # another process created it first
                    await session.rollback()
        self._known.add(job.name)

    async def _claim(self, job: Job, now: datetime, key: str | None) -> bool:
        conditions = [col(JobLease.name) == job.name,
                      or_(col(JobLease.lease_until).is_(None), col(JobLease.lease_until) < now)]
        if job.every is not None:
            conditions.append(or_(col(JobLease.last_run_at).is_(None),
                                  col(JobLease.last_run_at) <= now - job.every))
        if key is not None:
            conditions.append(or_(col(JobLease.last_key).is_(None),
                                  col(JobLease.last_key) != key))
        async with self.sessionmaker() as session:
            result = await session.execute(
                update(JobLease).where(*conditions)
                .values(holder=self.holder, lease_until=now + self.lease)
                .execution_options(synchronize_session=False))
            await session.commit()
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def _release(self, name: str, now: datetime, key: str | None,
                       failed: bool = False, session: AsyncSession | None = None) -> None:
        values: dict[str, Any] = {"lease_until": None}
        if not failed:
            values["last_run_at"] = now
            if key is not None:
                values["last_key"] = key
        stmt = (update(JobLease)
                .where(col(JobLease.name) == name, col(JobLease.holder) == self.holder)
                .values(**values).execution_options(synchronize_session=False))
        if session is not None:
            await session.execute(stmt)
            return
        async with self.sessionmaker() as own:
            await own.execute(stmt)
            await own.commit()

    async def _run_job(self, job: Job, now: datetime) -> bool:
        await self._ensure(job, now)
        key = job.period(now) if job.period is not None else None
        if not await self._claim(job, now, key):
            return False
        if job.run_in is not None and key is not None:
            async with self.sessionmaker() as session:
                await job.run_in(session, now, key)
                await self._release(job.name, now, key, session=session)
                await session.commit()  # the period's messages and its key, together
            return True
        assert job.run is not None
        await job.run(now)
        await self._release(job.name, now, key)
        return True


def last_weekly(now: datetime, tz: ZoneInfo, weekday: int, at: time) -> datetime:
    """The latest weekly moment (ISO weekday, local time in tz) at or before now, aware."""
    local = now.astimezone(tz)
    monday = local.date() - timedelta(days=local.weekday())
    moment = datetime.combine(monday + timedelta(days=weekday - 1), at, tzinfo=tz)
    if moment > local:
        moment -= timedelta(days=7)
    return moment


def week_key(moment: datetime) -> str:
    iso = moment.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"
