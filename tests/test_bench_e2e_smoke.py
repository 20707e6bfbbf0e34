"""Smoke test of bench/intake_e2e.py: 3 people at once file reports through the real bot process.

Run: .venv/bin/python -m pytest -q tests/test_bench_e2e_smoke.py
(the PostgreSQL variant runs when ADUAN_TEST_POSTGRES_URL is set). No timing assertions.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from bench.intake_e2e import Options, format_report, run_benchmark

PG_ENV = "ADUAN_TEST_POSTGRES_URL"
PEOPLE = 3


def _positive(phase: dict[str, Any], *path: str) -> None:
    """Assert that the figure at `path` in a phase is present and > 0."""
    value: Any = phase
    for key in path:
        assert isinstance(value, dict) and key in value, (path, phase.get("label"))
        value = value[key]
    assert isinstance(value, int | float) and value > 0, (path, value)


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
async def test_three_people_all_get_tickets(db: str) -> None:
    """Every person gets a ticket, the bot never answers with an error, figures are there."""
    pg_url = os.environ.get(PG_ENV)
    if db == "postgres" and not pg_url:
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL variant skipped")
    opts = Options(people=PEOPLE, db=db, pg_url=pg_url, skip_echo=db != "sqlite",
                   timeout=20.0, quiet=True)
    results = await asyncio.wait_for(run_benchmark(opts), 55)

    phases = {p["label"]: p for p in results["phases"]}
    aduan = phases[f"aduan/{db}"]
    assert aduan["tickets"] == PEOPLE, aduan["gave_up_at"]
    assert aduan["gave_up"] == 0
    assert aduan["error_answers"] == 0, aduan["log"]
    assert aduan["updates"] == PEOPLE * 9
    for path in (("wall_s",), ("updates_per_s",), ("latency_ms", "p50"), ("latency_ms", "p99"),
                 ("latency_ms", "max"), ("bot_cpu_ms_per_update",), ("rss_mb",),
                 ("sql_per_filing", "data"), ("sql_per_filing", "all"),
                 ("sql_per_step", "data"), ("sql_per_step", "all")):
        _positive(aduan, *path)
    assert aduan["exit_code"] == 0
    assert aduan["bot_final"]["final"] is True

    if db == "sqlite":
        echo = phases["echo"]
        assert echo["gave_up"] == 0 and echo["updates"] == PEOPLE * 9
        _positive(echo, "updates_per_s")
        _positive(echo, "latency_ms", "p99")
        _positive(aduan, "vs_echo", "updates_per_s_ratio")
        _positive(aduan, "vs_echo", "p99_ratio")

    report = format_report(results)
    assert f"aduan/{db}" in report and "p99" in report
