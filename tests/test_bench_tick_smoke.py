"""The scheduler tick benchmark at a smoke size, so it cannot rot (figures are not judged)."""

from __future__ import annotations

from pathlib import Path

from bench.scheduler_tick import run_one


async def test_tick_benchmark_smoke(tmp_path: Path) -> None:
    figures = await run_one(f"sqlite+aiosqlite:///{tmp_path / 'tick.db'}", 400)
    assert figures["quiet_turned"] == 0
    assert 0 < figures["daily_turned"] < 400
    assert figures["daily_turned"] + figures["flood_turned"] >= 380  # all but the few yellow
