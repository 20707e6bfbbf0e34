"""Oversight benchmark: the admin reports (/rapor, /statistik, /terlambat and the Monday digest)
over a large bulk-loaded database, on SQLite and PostgreSQL; and a marked place for one
scheduler tick over the open reports.

    .venv/bin/python -m bench.oversight --reports 1000000 --db both \\
        --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

For each database (a temp SQLite file; on PostgreSQL a fresh `aduan_bench_<hex>` database,
dropped afterwards unless --keep) the schema is migrated, OPDs, categories and citizens are
inserted, then N reports are bulk-loaded (SQLite: executemany on a plain sqlite3 connection in
100,000-row batches; PostgreSQL: COPY through asyncpg), spread over `--days` days (default 90)
as a regency's reports arrive: a few busy OPDs and many quiet ones, most older reports closed
(rated or not, some re-opened), about 10 % still open with green, yellow and red lights by age.
Then each query runs `--repeats` times on a fresh session and the best and median wall times
are printed, against the 1 s target. Prints figures, asserts nothing (shared, noisy machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import statistics as stats_mod
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from handlers import reports
from handlers.i18n import Translator
from handlers.lifecycle import Deps
from models.db import make_engine, make_sessionmaker, migrate
from models.domain import TICKET_ALPHABET, ManualClock
from models.tables import Category, Citizen, Opd

TARGET_S = 1.0
TICK_TARGET_S = 2.0
BATCH = 100_000
TZ = ZoneInfo("Asia/Jakarta")
FOLLOWUP = timedelta(days=7)  # ~5 working days
RESOLVE = timedelta(days=20)
YELLOW_SHARE = 0.75
OPEN_STATUSES = ("received", "dispatched", "dispatched", "dispatched", "dispatched",
                 "in_progress", "in_progress", "in_progress", "in_progress", "need_info")
COLUMNS = ["code", "channel", "citizen_id", "category_id", "opd_id", "description", "anonymous",
           "language", "status", "created_at", "updated_at", "version", "rating",
           "reopen_count", "resolved_at", "followup_due_at", "resolve_due_at", "first_action_at",
           "followup_on_time", "followup_secs", "resolve_secs", "light", "yellow_at", "red_at",
           "close_due_at", "supporters"]
DT_COLUMNS = {i for i, c in enumerate(COLUMNS) if c.endswith("_at")}


@dataclass
class Options:
    reports: int = 100_000
    db: str = "sqlite"  # sqlite | postgres | both
    pg_url: str | None = None
    opds: int = 24
    categories: int = 72
    citizens: int = 20_000
    days: int = 90
    repeats: int = 3
    tick: bool = True
    keep: bool = False
    seed: int = 7
    quiet: bool = False
    json_path: str | None = None


@dataclass
class Phase:
    label: str
    load_s: float = 0.0
    open_reports: int = 0
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    tick: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def code_of(i: int) -> str:
    body = []
    for _ in range(6):
        i, r = divmod(i, len(TICKET_ALPHABET))
        body.append(TICKET_ALPHABET[r])
    return "BEN-" + "".join(body)


def generate(opts: Options, now: datetime, cats: list[tuple[int, int]], citizen_ids: list[int]
             ) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of report tuples (COLUMNS order), oldest first, as they would have arrived."""
    rng = random.Random(opts.seed)
    n = opts.reports
    span = timedelta(days=opts.days).total_seconds()
    start = now - timedelta(days=opts.days)
    # A few busy categories (and so OPDs), many quiet ones.
    weights = [1.0 / (k + 1) ** 0.8 for k in range(len(cats))]
    picks = rng.choices(range(len(cats)), weights=weights, k=min(n, 200_000))
    batch: list[tuple[Any, ...]] = []
    for i in range(n):
        created = start + timedelta(seconds=span * (i + rng.random()) / n)
        age = (now - created).total_seconds() / 86400
        cat_id, opd_id = cats[picks[i % len(picks)]]
        p_open = 0.7 if age < 2 else 0.35 if age < 7 else 0.15 if age < 30 else 0.04
        f_due, r_due = created + FOLLOWUP, created + RESOLVE
        rating = resolved = first = on_time = f_secs = r_secs = None
        yellow_at = red_at = close_due = None
        reopen = 0
        roll = rng.random()
        if roll < 0.06:
            status, light = "rejected", "done"
            first = created + timedelta(hours=rng.expovariate(1 / 30))
        elif roll < 0.06 + p_open:
            status = rng.choice(OPEN_STATUSES)
            acted = status in ("in_progress", "need_info")
            if acted:
                first = created + timedelta(hours=min(rng.expovariate(1 / 40), age * 24))
            begin, due = (first, r_due) if acted and first else (created, f_due)
            yellow = begin + (due - begin) * YELLOW_SHARE
            if status == "need_info":
                light = "green"
            elif now >= due:
                light = "red"
            elif now >= yellow:
                light, red_at = "yellow", due
            else:
                light, yellow_at, red_at = "green", yellow, due
        else:
            first = created + timedelta(hours=min(rng.expovariate(1 / 40), age * 24))
            done = first + timedelta(hours=rng.expovariate(1 / 90))
            if done > now:
                done = now
            resolved, light = done, "done"
            reopen = 1 if rng.random() < 0.05 else 0
            if (now - done).days < 10:
                status, close_due = "resolved", done + timedelta(days=14)
            else:
                status = "closed"
                if rng.random() < 0.6:
                    rating = rng.choices((1, 2, 3, 4, 5), weights=(1, 1, 3, 6, 5))[0]
        if first is not None:
            f_secs = int((first - created).total_seconds())
            on_time = first <= f_due
        if resolved is not None:
            r_secs = int((resolved - created).total_seconds())
        batch.append((
            code_of(i), "telegram", citizen_ids[i % len(citizen_ids)], cat_id, opd_id,
            "Jalan berlubang di depan sekolah, mohon segera diperbaiki", False, "id", status,
            created, resolved or first or created, 1, rating, reopen, resolved, f_due, r_due,
            first, on_time, f_secs, r_secs, light, yellow_at, red_at, close_due, 0))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def seed_catalogue(sm: Any, opts: Options) -> tuple[list[tuple[int, int]], list[int]]:
    """OPDs, categories (each to an OPD) and citizens; returns (category id, OPD id) pairs and
    citizen ids."""
    async with sm() as s:
        conn = await s.connection()
        await conn.execute(insert(Opd.__table__), [
            {"code": f"OPD{k:02d}", "name_id": f"Dinas Contoh Nomor {k} Kabupaten Pelalawan",
             "name_en": f"Example Agency {k}", "active": True,
             "created_at": datetime.now(UTC)} for k in range(opts.opds)])
        opd_ids = [r[0] for r in await conn.execute(text("SELECT id FROM opd ORDER BY id"))]
        await conn.execute(insert(Category.__table__), [
            {"code": f"cat{k:03d}", "opd_id": opd_ids[k % len(opd_ids)],
             "name_id": f"Kategori {k}", "name_en": f"Category {k}", "requires_photo": False,
             "requires_location": False,
             "followup_deadline": "5d", "resolve_deadline": "14d", "active": True, "sort": k}
            for k in range(opts.categories)])
        cats = [(r[0], r[1]) for r in await conn.execute(
            text("SELECT id, opd_id FROM category ORDER BY id"))]
        now = datetime.now(UTC)
        for k in range(0, opts.citizens, 5000):
            await conn.execute(insert(Citizen.__table__), [
                {"channel": "telegram", "external_id": str(10_000_000 + j), "language": "id",
                 "ban_notified": False, "created_at": now, "last_seen_at": now}
                for j in range(k, min(k + 5000, opts.citizens))])
        citizens = [r[0] for r in await conn.execute(text("SELECT id FROM citizen ORDER BY id"))]
        await s.commit()
    return cats, citizens


def _sqlite_value(i: int, v: Any) -> Any:
    if i in DT_COLUMNS and v is not None:
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return v


def load_sqlite(path: Path, batches: Iterator[list[tuple[Any, ...]]]) -> int:
    """Bulk insert on a plain sqlite3 connection (the format SQLAlchemy stores)."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    sql = f"INSERT INTO report ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    n = 0
    for batch in batches:
        con.execute("BEGIN")
        con.executemany(sql, ([_sqlite_value(i, v) for i, v in enumerate(row)] for row in batch))
        con.execute("COMMIT")
        n += len(batch)
    con.execute("ANALYZE")  # statistics, as `PRAGMA optimize` keeps them in a deployment
    con.close()
    return n


async def load_postgres(url: str, batches: Iterator[list[tuple[Any, ...]]]) -> int:
    import asyncpg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    con = await asyncpg.connect(dsn)
    n = 0
    try:
        for batch in batches:
            await con.copy_records_to_table("report", records=batch, columns=COLUMNS)
            n += len(batch)
        # What autovacuum does soon after a bulk insert: statistics, and the visibility map
        # that lets the covering indexes answer without visiting the table.
        await con.execute("VACUUM ANALYZE report")
    finally:
        await con.close()
    return n


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def timed(fn: Callable[[], Awaitable[Any]], repeats: int) -> tuple[dict[str, float], Any]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = await fn()
        times.append(time.perf_counter() - t0)
    return {"best_s": min(times), "median_s": stats_mod.median(times)}, result


async def run_queries(sm: Any, deps: Deps, opts: Options, phase: Phase) -> None:
    now = deps.now()
    week = reports.parse_period("", TZ, now)
    month = reports.parse_period("30d", TZ, now)

    def q(fn: Callable[..., Awaitable[Any]], *args: Any) -> Callable[[], Awaitable[Any]]:
        async def run() -> Any:
            async with sm() as s:
                out = await fn(s, deps, *args)
                await s.commit()
                return out
        return run

    cases = [
        ("rapor (7 days)", q(reports.report_card, week.start, week.end)),
        ("rapor (30 days)", q(reports.report_card, month.start, month.end)),
        ("statistik (7 days)", q(reports.statistics, week.start, week.end)),
        ("statistik (30 days)", q(reports.statistics, month.start, month.end)),
        ("terlambat", q(reports.overdue)),
        ("weekly digest (2 cards + chart)", q(reports.weekly_digest, now)),
    ]
    untargeted = {"weekly digest (2 cards + chart)"}  # a Monday job: the chart dominates
    for name, fn in cases:
        timing, result = await timed(fn, opts.repeats)
        if name.startswith("rapor (7"):
            timing["opds"] = len(result)
            timing["received"] = sum(r.received for r in result)
        if name == "terlambat":
            timing["red"] = sum(g.red for g in result)
            timing["yellow"] = sum(g.yellow for g in result)
        phase.timings[name] = timing
        if not opts.quiet:
            verdict = "" if name in untargeted else (
                f"  {'OK' if timing['median_s'] <= TARGET_S else 'OVER'} (target ≤ "
                f"{TARGET_S:.0f} s)")
            print(f"  {name:<32} best {timing['best_s']:.3f} s  median {timing['median_s']:.3f} s"
                  + verdict, flush=True)


async def run_tick(sm: Any, deps: Deps, opts: Options, phase: Phase) -> None:
    """One scheduler tick over the loaded open reports, an hour after the load (some lights
    change and their reminders are queued). Target <= 2 s. bench/scheduler_tick.py measures
    ticks in more detail (quiet, a day's changes, a flood), with a citizen-write probe."""
    from handlers.oversight import tick

    later = deps.now() + timedelta(hours=1)
    deps.clock.set(later)  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    result = await tick(sm, deps, later)
    wall = time.perf_counter() - t0
    phase.tick = {"wall_s": wall, "open_reports": phase.open_reports, "result": repr(result)[:200]}
    if not opts.quiet:
        print(f"  scheduler tick over {phase.open_reports:,} open: {wall:.3f} s "
              f"{'OK' if wall <= TICK_TARGET_S else 'OVER'} (target ≤ {TICK_TARGET_S:.0f} s)")


async def run_one(db: str, opts: Options) -> Phase:
    phase = Phase(label=f"oversight/{db}")
    tmp = Path(tempfile.mkdtemp(prefix="aduan-bench-")) if db == "sqlite" else None
    if tmp is not None:
        db_path = tmp / "bench.db"
        url = f"sqlite+aiosqlite:///{db_path}"
        cleanup: Callable[[], Awaitable[None]] | None = None
    else:
        assert opts.pg_url, "--pg-url (or ADUAN_TEST_POSTGRES_URL) is needed for PostgreSQL"
        name = f"aduan_bench_{uuid.uuid4().hex[:12]}"
        await _admin(opts.pg_url, f'CREATE DATABASE "{name}"')
        url = make_url(opts.pg_url).set(database=name).render_as_string(hide_password=False)

        async def drop() -> None:
            await _admin(opts.pg_url or "", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        cleanup = drop
    engine = make_engine(url)
    try:
        await migrate(engine)
        sm = make_sessionmaker(engine)
        now = datetime.now(UTC).replace(microsecond=0)
        cats, citizens = await seed_catalogue(sm, opts)
        if not opts.quiet:
            print(f"{phase.label}: loading {opts.reports:,} reports ...", flush=True)
        t0 = time.perf_counter()
        batches = generate(opts, now, cats, citizens)
        if db == "sqlite":
            await engine.dispose()  # the loader writes on its own connection
            n = await asyncio.to_thread(load_sqlite, db_path, batches)
        else:
            n = await load_postgres(url, batches)
        phase.load_s = time.perf_counter() - t0
        async with sm() as s:
            conn = await s.connection()
            phase.open_reports = int((await conn.execute(text(
                "SELECT count(*) FROM report WHERE status IN "
                "('received','verified','dispatched','in_progress','need_info')"))).scalar_one())
            await s.commit()
        if not opts.quiet:
            print(f"  loaded {n:,} in {phase.load_s:.1f} s ({n / phase.load_s:,.0f}/s); "
                  f"{phase.open_reports:,} open", flush=True)
        deps = Deps(translator=Translator(default="id"), tz=TZ, admin_ids=frozenset({1}),
                    clock=ManualClock(now), yellow_share=YELLOW_SHARE)
        await run_queries(sm, deps, opts, phase)
        if opts.tick:
            await run_tick(sm, deps, opts, phase)
    finally:
        await engine.dispose()
        if cleanup is not None and not opts.keep:
            await cleanup()
        if tmp is not None and not opts.keep:
            await asyncio.to_thread(shutil.rmtree, tmp, True)
        elif opts.keep and not opts.quiet:
            print(f"  kept: {url}")
    return phase


async def run_benchmark(opts: Options) -> dict[str, Any]:
    dbs = ["sqlite", "postgres"] if opts.db == "both" else [opts.db]
    phases = []
    for db in dbs:
        phases.append((await run_one(db, opts)).__dict__)
    load = os.getloadavg()
    out = {"reports": opts.reports, "days": opts.days, "opds": opts.opds,
           "target_s": TARGET_S, "loadavg": load, "phases": phases}
    if not opts.quiet:
        print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if opts.json_path:
        await asyncio.to_thread(Path(opts.json_path).write_text,
                                json.dumps(out, indent=2, default=str))
    return out


def parse_args(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.oversight", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reports", type=int, default=100_000)
    p.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    p.add_argument("--pg-url", default=os.environ.get("ADUAN_TEST_POSTGRES_URL"))
    p.add_argument("--opds", type=int, default=24)
    p.add_argument("--categories", type=int, default=72)
    p.add_argument("--citizens", type=int, default=20_000)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-tick", action="store_true", help="skip the scheduler tick")
    p.add_argument("--keep", action="store_true", help="keep the databases")
    p.add_argument("--json", dest="json_path")
    a = p.parse_args(argv)
    return Options(reports=a.reports, db=a.db, pg_url=a.pg_url, opds=a.opds,
                   categories=a.categories, citizens=a.citizens, days=a.days,
                   repeats=a.repeats, tick=not a.no_tick, keep=a.keep, json_path=a.json_path)


def main(argv: list[str] | None = None) -> None:
    asyncio.run(run_benchmark(parse_args(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    main()
