"""Nearby-reports benchmark: the "already reported here?" query over a big report table.

Run:
    .venv/bin/python -m bench.nearby --reports 1000000
    .venv/bin/python -m bench.nearby --reports 100000 --db both \
        --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

For each database (SQLite in a temp file; PostgreSQL in a fresh `aduan_bench_<hex>` database,
dropped afterwards) N reports of the example seed's 12 categories are loaded, spread over a
regency-sized box (about 170 km × 210 km) with a fifth of them packed in a town of 5 km × 5 km,
four in five open. Then `--queries` shared pins (half in the town) ask for the open reports of
one category within 150 m, as the intake does (models/geo.py `nearby_open_reports`). Printed:
load time, the query plan, latency p50/p95/max in milliseconds and rows found. Target: p95 well
under 10 ms at 1,000,000 reports. Asserts nothing.
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
from pathlib import Path

from sqlalchemy import insert, make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import select

from models.db import make_engine, make_sessionmaker, migrate
from models.geo import nearby_open_reports
from models.seed import load_seed
from models.tables import Category, Citizen, Report

SEED = Path(__file__).resolve().parent.parent / "deploy" / "seed.example.toml"
BOX = (-0.95, 101.25, 0.55, 103.15)  # Kabupaten Pelalawan, roughly
TOWN = (0.38, 101.83, 0.425, 101.875)  # Pangkalan Kerinci, roughly
STATUSES = ["dispatched", "in_progress", "received", "need_info", "closed"]


def _point(rng: random.Random, town: bool) -> tuple[float, float]:
    box = TOWN if town else BOX
    return rng.uniform(box[0], box[2]), rng.uniform(box[1], box[3])


async def run(url: str, reports: int, queries: int, radius: float) -> None:
    engine = make_engine(url)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    rng = random.Random(11)
    async with sm() as s:
        await load_seed(s, SEED)
        cats = [c.id for c in (await s.exec(select(Category))).all()]
        s.add(Citizen(channel="telegram", external_id="bench", language="id"))
        await s.commit()
        citizen = (await s.exec(select(Citizen.id))).first()
        opd = (await s.exec(select(Category.opd_id))).first()
    started = time.perf_counter()
    batch = 20_000
    for offset in range(0, reports, batch):
        rows = []
        for i in range(offset, min(offset + batch, reports)):
            lat, lon = _point(rng, i % 5 == 0)
            rows.append({"code": f"B-{i}", "channel": "telegram", "citizen_id": citizen,
                         "category_id": rng.choice(cats), "opd_id": opd, "description": "x",
                         "latitude": lat, "longitude": lon, "status": STATUSES[i % 5],
                         "anonymous": False, "language": "id", "version": 1,
                         "reopen_count": 0, "light": "green", "supporters": 0})
        async with sm() as s:
            await s.execute(insert(Report.__table__), rows)  # type: ignore[attr-defined]
            await s.commit()
    loaded = time.perf_counter() - started
    async with sm() as s:
        dialect = s.get_bind().dialect.name
        await s.execute(text("ANALYZE" if dialect == "sqlite" else "ANALYZE report"))
        explain = "EXPLAIN QUERY PLAN" if dialect == "sqlite" else "EXPLAIN"
        plan = (await s.execute(text(
            f"{explain} SELECT id FROM report WHERE category_id = :c AND latitude BETWEEN :a "
            "AND :b AND longitude BETWEEN :d AND :e AND status IN ('received', 'dispatched')"),
            {"c": cats[0], "a": 0.399, "b": 0.401, "d": 101.849, "e": 101.851})).all()
        await s.commit()
    times, found = [], 0
    for i in range(queries):
        lat, lon = _point(rng, i % 2 == 0)
        async with sm() as s:
            t0 = time.perf_counter()
            near = await nearby_open_reports(s, rng.choice(cats), lat, lon, radius)
            times.append((time.perf_counter() - t0) * 1000)
            found += len(near)
            await s.commit()
    times.sort()
    print(f"{dialect}: {reports} reports loaded in {loaded:.1f} s")
    print("  plan: " + " | ".join(str(tuple(row)) for row in plan))
    print(f"  {queries} queries within {radius:.0f} m: p50 {statistics.median(times):.2f} ms, "
          f"p95 {times[int(len(times) * 0.95) - 1]:.2f} ms, max {times[-1]:.2f} ms; "
          f"{found} reports found")
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--radius", type=float, default=150.0)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("ADUAN_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)  # sqlmodel on session.execute(text)
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            await run(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", args.reports,
                      args.queries, args.radius)
    if args.db in ("postgresql", "both"):
        if not args.pg_url:
            raise SystemExit("--pg-url (or ADUAN_TEST_POSTGRES_URL) is needed for PostgreSQL")
        name = f"aduan_bench_{uuid.uuid4().hex[:12]}"
        admin = create_async_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
            await run(url, args.reports, args.queries, args.radius)
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
