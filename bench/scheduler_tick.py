"""Scheduler tick benchmark: one oversight tick over N open reports, while citizens write.

Run:
    .venv/bin/python -m bench.scheduler_tick --open 100000
    .venv/bin/python -m bench.scheduler_tick --open 100000 --db both \
        --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

For each database (SQLite in a temp file; PostgreSQL in a fresh `aduan_bench_<hex>` database)
N open reports are loaded with their lights and next-change moments spread over the coming
weeks (cards posted in 8 OPD groups), then three ticks are timed:
- `quiet`: a tick at load time, when nothing is due (the usual minute);
- `daily`: a tick after a day, when about 1/20 of the reports turn yellow or red;
- `flood`: a tick a month later, when every report still green or yellow turns red at once.
During each tick a probe stands in for citizens: a small write transaction (a draft saved)
every 5 ms, whose latency shows whether the tick stalls citizens' turns. Target: a tick over
100,000 open reports within 2 s, probe p99 well under a second. Prints figures, asserts
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from handlers.i18n import Translator
from handlers.lifecycle import Deps
from handlers.oversight import tick
from models.db import make_engine, make_sessionmaker, migrate
from models.domain import ManualClock
from models.tables import Category, Citizen, Draft, Opd, Report

# sqlmodel's hint to prefer session.exec() for ORM selects; these are Core statements.
warnings.filterwarnings("ignore", message=r"\s*.*You probably want to use `session.exec")
PG_ENV = "ADUAN_TEST_POSTGRES_URL"
GROUPS = 8
BATCH = 5000


async def load(sm, n: int, now: datetime) -> None:  # type: ignore[no-untyped-def]
    """N open reports, lights and moments spread so a day turns ~1/20 of them."""
    rnd = random.Random(7)
    async with sm() as s:
        for g in range(GROUPS):
            s.add(Opd(id=g + 1, code=f"OPD{g}", name_id=f"Dinas {g}", name_en=f"Agency {g}",
                      chat_id=-1001000000000 - g))
        await s.flush()
        for g in range(GROUPS):
            s.add(Category(id=g + 1, code=f"cat{g}", opd_id=g + 1, name_id=f"Kategori {g}",
                           name_en=f"Category {g}"))
        await s.flush()
        s.add(Citizen(id=1, channel="telegram", external_id="1"))
        await s.commit()
    for start in range(0, n, BATCH):
        rows = []
        for i in range(start, min(n, start + BATCH)):
            g = i % GROUPS
            created = now - timedelta(days=rnd.uniform(0, 4))
            due = now + timedelta(days=rnd.uniform(0.5, 20))
            yellow = created + (due - created) * 0.75
            light = "green" if yellow > now else "yellow"
            rows.append({
                "code": f"B-{i:07d}", "channel": "telegram", "citizen_id": 1,
                "category_id": g + 1, "opd_id": g + 1, "description": "jalan rusak",
                "language": "id", "status": "dispatched", "version": 1, "anonymous": False,
                "reopen_count": 0, "supporters": 0, "created_at": created,
                "updated_at": created, "followup_due_at": due, "resolve_due_at": due,
                "light": light, "yellow_at": yellow if light == "green" else None,
                "red_at": due, "card_chat_id": -1001000000000 - g, "card_message_id": i + 1,
            })
        async with sm() as s:
            await s.execute(insert(Report), rows)
            await s.commit()


async def probe(sm, stop: asyncio.Event, out: list[float]) -> None:  # type: ignore[no-untyped-def]
    """A citizen's write every 5 ms: save a draft, commit; latencies in seconds."""
    i = 0
    while not stop.is_set():
        i += 1
        t0 = time.perf_counter()
        async with sm() as s:
            s.add(Draft(channel="probe", external_id=str(i), step="category", data={}))
            await s.commit()
        out.append(time.perf_counter() - t0)
        await asyncio.sleep(0.005)


async def timed_tick(sm, deps: Deps, now: datetime) -> tuple[float, object, list[float]]:  # type: ignore[no-untyped-def]
    stop, lat = asyncio.Event(), []
    task = asyncio.create_task(probe(sm, stop, lat))
    await asyncio.sleep(0.05)
    t0 = time.perf_counter()
    result = await tick(sm, deps, now)
    elapsed = time.perf_counter() - t0
    stop.set()
    await task
    async with sm() as s:
        await s.execute(delete(Draft).where(Draft.channel == "probe"))
        await s.commit()
    return elapsed, result, lat


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_one(url: str, n: int) -> dict[str, float]:
    engine = make_engine(url)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    now = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    t0 = time.perf_counter()
    await load(sm, n, now)
    print(f"  loaded {n:,} open reports in {time.perf_counter() - t0:.1f} s")
    deps = Deps(translator=Translator(), tz=ZoneInfo("Asia/Jakarta"),
                admin_ids=frozenset({900001}), clock=ManualClock(now))
    figures: dict[str, float] = {}
    for name, at in (("quiet", now), ("daily", now + timedelta(days=1)),
                     ("flood", now + timedelta(days=31))):
        elapsed, result, lat = await timed_tick(sm, deps, at)
        figures[name] = elapsed
        figures[f"{name}_turned"] = result.red + result.yellow  # type: ignore[attr-defined]
        async with sm() as s:
            queued = (await s.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
        print(f"  tick {name:5}: {elapsed:6.2f} s  turned red={result.red:,} "  # type: ignore[attr-defined]
              f"yellow={result.yellow:,}  outbox rows so far {queued:,}  "  # type: ignore[attr-defined]
              f"probe writes {len(lat)}: p50 {statistics.median(lat or [0]) * 1000:.0f} ms "
              f"p99 {pct(lat, 0.99) * 1000:.0f} ms max {max(lat or [0]) * 1000:.0f} ms")
    await engine.dispose()
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get(PG_ENV))
    args = parser.parse_args()
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            print(f"SQLite, {args.open:,} open reports")
            await run_one(f"sqlite+aiosqlite:///{Path(tmp) / 'tick.db'}", args.open)
    if args.db in ("postgres", "both"):
        if not args.pg_url:
            print("PostgreSQL skipped: give --pg-url or set ADUAN_TEST_POSTGRES_URL")
            return
        name = f"aduan_bench_{uuid.uuid4().hex[:8]}"
        admin = create_async_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            print(f"PostgreSQL, {args.open:,} open reports")
            await run_one(make_url(args.pg_url).set(database=name).render_as_string(
                hide_password=False), args.open)
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
