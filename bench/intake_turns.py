"""Benchmark: intake turns per second and latency, through the core on a real database.

Run: .venv/bin/python -m bench.intake_turns [--reports 200] [--database-url URL]
Prints figures; asserts nothing (machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.geocoding import NoGeocoder
from handlers import intake as core
from handlers.i18n import Translator
from models import repo
from models.db import make_engine, make_sessionmaker, migrate
from models.media import MediaStore
from models.seed import load_seed

SEED = Path(__file__).resolve().parent.parent / "deploy" / "seed.example.toml"


async def run(reports: int, url: str | None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="aduan-bench-"))
    url = url or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    engine = make_engine(url)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    async with sm() as s:
        await load_seed(s, SEED)
        optional = next(c for c in await repo.active_categories(s)
                        if not c.requires_photo and not c.requires_location)
    intake = core.Intake(Translator(), MediaStore(tmp / "media"), NoGeocoder(),
                         core.IntakeConfig(tz=ZoneInfo("Asia/Jakarta")))
    latencies: list[float] = []

    async def turn(session, t, event) -> list:  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        replies = await intake.handle(session, t, event)
        latencies.append(time.perf_counter() - start)
        return replies

    started = time.perf_counter()
    for i in range(reports):
        async with sm() as session:
            citizen, _ = await repo.upsert_citizen(session, "telegram", str(10_000 + i),
                                                   language="id")
            await session.commit()
            t = core.Turn(citizen=citizen, profile_name="Budi")
            await turn(session, t, core.Command("lapor"))
            await turn(session, t, core.Button("cat", str(optional.id)))
            await turn(session, t, core.Text("Lampu jalan mati sejak tiga hari di gang ini."))
            await turn(session, t, core.Button("skip"))
            await turn(session, t, core.Text("Lewati"))
            await turn(session, t, core.Button("anon"))
            draft = await repo.load_draft(session, "telegram", str(10_000 + i))
            assert draft is not None
            await turn(session, t, core.Button("send", draft.data["nonce"]))
    elapsed = time.perf_counter() - started
    await engine.dispose()
    ms = sorted(x * 1000 for x in latencies)
    print(f"database: {url.split('://')[0]}")
    print(f"reports filed: {reports} in {elapsed:.2f} s ({reports / elapsed:.1f} reports/s)")
    print(f"intake turns: {len(ms)} ({len(ms) / elapsed:.1f} turns/s)")
    print(f"turn latency ms: p50 {statistics.median(ms):.2f}, "
          f"p95 {ms[int(len(ms) * 0.95) - 1]:.2f}, max {ms[-1]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    asyncio.run(run(args.reports, args.database_url))


if __name__ == "__main__":
    main()
