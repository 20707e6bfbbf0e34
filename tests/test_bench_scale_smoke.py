"""Smoke test of bench/scale_out.py: a few people through one and two webhook workers, and a
small delivery burst against the fake's enforced limits, so the benchmark cannot rot.

Needs ADUAN_TEST_POSTGRES_URL and ADUAN_TEST_REDIS_URL (skipped without). No timing
assertions: the figures are only checked to be there.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from bench import workers as w
from bench.scale_out import Options, format_report, run_benchmark

pytestmark = [pytest.mark.workers]


async def test_scale_out_smoke() -> None:
    """Every person gets a ticket with one and with two workers; the burst is delivered."""
    for name in (w.PG_ENV, w.REDIS_ENV):
        if not os.environ.get(name):
            pytest.skip(f"{name} is not set: the scale-out benchmark needs it")
    opts = Options(people=4, workers=(1, 2), messages=40, timeout=60.0, quiet=True)
    results = await asyncio.wait_for(run_benchmark(opts), 240)
    assert [p["workers"] for p in results["phases"]] == [1, 2]
    for phase in results["phases"]:
        intake, delivery = phase["intake"], phase["delivery"]
        assert intake["tickets"] == 4 and intake["gave_up"] == 0
        assert intake["error_answers"] == 0
        assert intake["updates_per_s"] > 0 and intake["latency_ms"]["p99"] > 0
        assert intake["cpu_ms_per_update"] > 0
        assert delivery["left_pending"] == 0 and delivery["messages"] == 40
        assert delivery["sends_in_window"] >= 40 and delivery["per_second"] > 0
        assert delivery["max_per_second"] <= 30
        assert phase["exit_codes"] == [0] * phase["workers"]
    report = format_report(results)
    assert "updates/s" in report and "share of allowed" in report
