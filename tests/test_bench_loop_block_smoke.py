"""The loop-blocking benchmark at a smoke size, so it cannot rot (figures are not judged)."""

from __future__ import annotations

from bench.loop_block import OPERATIONS, Options, run_benchmark


async def test_loop_block_benchmark_smoke() -> None:
    opts = Options(citizens=300, reports=400, outbox=3000, inbox=3000, quiet=True)
    out = await run_benchmark(opts)
    results = {r["op"]: r for r in out["results"]}
    assert set(results) == set(OPERATIONS)
    for name, res in results.items():
        assert res["blocked_ms"] >= 0 and res["wall_s"] > 0, name
    # Everything past its retention went: the year's rows but the last month's (outbox) and
    # week's (inbox), those kept for the admins, and the updates still new.
    note = results["housekeeping"]["note"]
    assert "outbox 3,000 ->" in note and "inbox 3,020 ->" in note, note
    outbox_left = int(note.split("outbox 3,000 -> ")[1].split(",")[0].replace(",", ""))
    assert 200 < outbox_left < 500, note  # ~1/12 of the year, and ~3 % kept
    assert results["metrics"]["note"].startswith("200")
    assert "total 300" in results["broadcast"]["note"]
