"""Smoke test of bench/oversight.py at 2,000 reports, so the benchmark cannot rot.

Run: .venv/bin/python -m pytest -q tests/test_bench_oversight_smoke.py
(the PostgreSQL variant runs when ADUAN_TEST_POSTGRES_URL is set). No timing assertions.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from bench.oversight import Options, run_benchmark

PG_ENV = "ADUAN_TEST_POSTGRES_URL"


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
async def test_oversight_bench_runs(db: str) -> None:
    pg_url = os.environ.get(PG_ENV)
    if db == "postgres" and not pg_url:
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL variant skipped")
    opts = Options(reports=2000, db=db, pg_url=pg_url, opds=6, categories=12, citizens=200,
                   repeats=1, tick=False, quiet=True)
    out = await asyncio.wait_for(run_benchmark(opts), 120)
    [phase] = out["phases"]
    assert phase["label"] == f"oversight/{db}" and phase["load_s"] > 0
    assert 50 < phase["open_reports"] < 1000  # about 10 % open
    timings = phase["timings"]
    for name in ("rapor (7 days)", "rapor (30 days)", "statistik (7 days)", "terlambat",
                 "weekly digest (2 cards + chart)"):
        assert timings[name]["best_s"] > 0, name
    assert timings["rapor (7 days)"]["opds"] == 6
    assert 50 < timings["rapor (7 days)"]["received"] < 400  # ~7/90 of 2,000
    assert timings["terlambat"]["red"] > 0
