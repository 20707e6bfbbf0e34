"""Scale-out benchmark: 1, 2 and 3 webhook workers on one PostgreSQL and one Redis.

Run:
    ADUAN_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
    ADUAN_TEST_REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python -m bench.scale_out --people 300 --workers 1,2,3 --json out.json

For each worker count a fresh database is seeded (bench/workers.py: one OPD and group per
category) and that many `python -m bot run --webhook` processes start on loopback; the fake
Bot API posts every update to them in turn. Two phases:

1. intake: all people at once walk the whole intake (bench.intake_e2e's steps, a photo, a
   location), each waiting for the bot's answer before the next step: updates/s, step
   latency p50/p99, the workers' CPU per update.
2. delivery: `--messages` outbox rows (two per chat) are queued at once, and the fake Bot API
   enforces Telegram's limits like Telegram (429 with retry_after beyond 30/s overall, 1/s
   per chat, 20/min per group; windows shortened by the same slack the tests allow for
   transit): the outbox's send rate over the phase as a share of the allowed 30/s, and the
   429s it met.

Prints a table with the targets beside it (throughput grows with workers as far as the
machine's cores allow; delivery >= 0.95 of the allowed rate with 0 429s). The figures depend
on the machine and on what else runs on it: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import String, bindparam, cast, func, insert, literal, select, text, true

from bench import workers as w
from bench.intake_e2e import count_errors, latency_figures, proc_cpu_s, register_photos
from bench.workers import ARRIVED
from bot.playground.botapi import _ApiError
from models.domain import utcnow
from models.tables import Outbox  # imported here, not mid-run: see queue_statement
from tests.fakebotapi import Call

TARGET_DELIVERY_SHARE = 0.95
ALLOWED_PER_SECOND = 30
SLACK = 0.25  # s, as in bench.workers.pacing


@dataclass
class Options:
    """What the command line sets."""

    people: int = 300
    workers: tuple[int, ...] = (1, 2, 3)
    messages: int = 600
    timeout: float = 180.0
    json_path: Path | None = None
    quiet: bool = False
    keep_logs: Path | None = None


class LimitedAPI(w.WebhookAPI):
    """WebhookAPI that, while `enforce` is on, answers sends beyond Telegram's limits with a
    429 (retry_after 1), as Telegram does. The limits are checked on the fake's own loop (see
    WebhookAPI), at each request's arrival time, the time its call is stamped with."""

    def __init__(self) -> None:
        """Limits off; no sends counted."""
        super().__init__()
        self.enforce = False
        self.too_many = 0
        self.refusals: list[dict[str, Any]] = []
        self._recent: deque[float] = deque()
        self._last: dict[str, float] = {}
        self._last_call: dict[str, tuple[str, str, float]] = {}
        self._groups: dict[str, deque[float]] = {}

    def _dispatch(self, key: str, call: Call) -> Any:
        """Check the limits for a send, then answer as usual."""
        if self.enforce and call.method in w.SEND_METHODS | {"editMessageText"}:
            self._check(str(call.params.get("chat_id")), call)
        return super()._dispatch(key, call)

    def _check(self, chat: str, call: Call | None = None) -> None:
        """Raise a 429 if this send breaks a limit; otherwise count it. Each 429 is noted in
        `refusals`: which limit, the chat, the method and how far inside the window."""
        arrived = ARRIVED.get(None)
        now = arrived if arrived is not None else time.monotonic()  # as the log stamps it
        while self._recent and self._recent[0] <= now - (1.0 - SLACK):
            self._recent.popleft()
        group = self._groups.setdefault(chat, deque()) if chat.startswith("-") else None
        if group is not None:
            while group and group[0] <= now - (60.0 - SLACK):
                group.popleft()
        broken = []
        if len(self._recent) >= ALLOWED_PER_SECOND:
            broken.append(("overall", now - self._recent[0]))
        if now - self._last.get(chat, -1e9) < 1.0 - SLACK:
            broken.append(("chat", now - self._last[chat]))
        if group is not None and len(group) >= 20:
            broken.append(("group", now - group[0]))
        if broken:
            self.too_many += 1
            self.refusals.append({
                "at": now, "lag": time.monotonic() - now, "chat": chat,
                "method": call.method if call else None,
                "text": (call.text or "")[:40] if call else "",
                "limits": {name: round(gap, 4) for name, gap in broken},
                "previous": self._last_call.get(chat), "wall": time.time()})
            raise _ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        self._recent.append(now)
        self._last[chat] = now
        self._last_call[chat] = (call.method if call else "", (call.text or "")[:30] if call
                                 else "", now)
        if group is not None:
            group.append(now)


async def run_phase(opts: Options, size: int, tmp: Path, say: Callable[[str], None]
                    ) -> dict[str, Any]:
    """One worker count: seed, start, intake crowd, delivery burst, stop."""
    api = LimitedAPI()
    await api.start()
    api.hang_next("getFile", 0.05, times=10**9)
    cluster = w.Cluster(api, tmp / f"w{size}", size=size, say=say)
    try:
        await cluster.start()
        flow = w.make_flow(api, opts.timeout)
        base = 50_000_000
        uids = [base + i for i in range(opts.people)]
        flow.photos.update(register_photos(api, uids))
        flow.photos.update(register_photos(api, [base - 1]))
        await w.file_report(flow, base - 1, cluster.cats[0])  # warm-up
        pids = cluster.pids()
        cpu0 = sum(proc_cpu_s(p) for p in pids)
        others0, machine0 = service_cpu_s(), machine_cpu_s()
        commits0 = await db_commits(cluster)
        load0 = os.getloadavg()[0]
        say(f"{size} worker(s): {opts.people} people start (load average {load0:.2f})")
        t0, drv0 = time.monotonic(), time.process_time()
        marks = {"t0": t0}
        wlags: list[tuple[float, float]] = []

        async def watch() -> None:
            while True:
                t = time.monotonic()
                await asyncio.sleep(0.01)
                lag = time.monotonic() - t - 0.01
                if lag > 0.1:
                    wlags.append((round(t - t0, 3), round(lag, 3)))

        gc_pauses: list[tuple[float, int, float]] = []
        gc_start = [0.0]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_start[0] = time.monotonic()
            elif (took := time.monotonic() - gc_start[0]) > 0.05:
                gc_pauses.append((round(gc_start[0] - t0, 3), info["generation"], round(took, 3)))

        gc.callbacks.append(on_gc)
        # As in tests/test_workers.py: the fake stamps calls on a thread of this process, and a
        # full collection here (the driver holds ~100,000 call records) held the GIL for up to
        # 0.45 s, stamping calls late and bunched: false pacing alarms. Objects built so far
        # are frozen out of the collector and it rests while the workers run.
        gc.collect()
        gc.freeze()
        gc.disable()
        watcher = asyncio.create_task(watch())
        api.watch_loop()
        people = await asyncio.gather(*(
            w.file_report(flow, uid, cluster.cats[i % len(cluster.cats)])
            for i, uid in enumerate(uids)))
        wall = time.monotonic() - t0
        marks["intake_end"] = wall
        driver = time.process_time() - drv0
        cpu = sum(proc_cpu_s(p) for p in pids) - cpu0
        others = {k: v - others0.get(k, 0.0) for k, v in service_cpu_s().items()}
        busy, total = (b - a for a, b in zip(machine0, machine_cpu_s(), strict=True))
        await asyncio.sleep(1.0)  # PostgreSQL publishes its counters within a second
        commits = await db_commits(cluster) - commits0
        updates = sum(p.updates for p in people)
        fake_stalls = [(round(t - t0, 3), round(lag, 3)) for t, lag in api.loop_stalls]
        intake = {
            "fake_loop_stalls": fake_stalls,
            "fake_loop_worst_stall_s": max((lag for _, lag in fake_stalls), default=0.0),
            "people": opts.people, "updates": updates, "wall_s": wall,
            "tickets": sum(1 for p in people if p.ticket),
            "gave_up": sum(1 for p in people if p.gave_up),
            "error_answers": count_errors(api, uids, flow.errors),
            "updates_per_s": updates / wall if wall else None,
            "latency_ms": {k: v for k, v in latency_figures(people).items() if k != "steps"},
            "cpu_ms_per_update": cpu * 1000 / updates if updates else None,
            "workers_cpu_pct": cpu * 100 / wall if wall else None,
            "driver_cpu_pct": driver * 100 / wall if wall else None,
            "postgres_cpu_pct": others["postgres"] * 100 / wall if wall else None,
            "redis_cpu_pct": others["redis"] * 100 / wall if wall else None,
            "machine_busy_pct": busy * 100 / total if total else None,
            "cpus": os.cpu_count(),
            "db_commits_per_update": commits / updates if updates else None,
            "other_cpu_pct": (busy * 100 / total * (os.cpu_count() or 1)
                              - (cpu + driver + others["postgres"] + others["redis"]) * 100
                              / wall) if total and wall else None,
            "loadavg_1m": {"before": load0, "after": os.getloadavg()[0]},
        }
        say(f"{size} worker(s): intake {wall:.1f} s, {intake['tickets']} tickets, "
            f"{intake['updates_per_s'] or 0:.1f} updates/s")
        marks["figures_done"] = time.monotonic() - t0
        delivery = await deliver_burst(opts, api, cluster)
        watcher.cancel()
        gc.enable()
        gc.unfreeze()
        gc.callbacks.remove(on_gc)
        delivery["gc_pauses"] = gc_pauses
        delivery["marks"] = marks
        delivery["phase_stalls"] = wlags
        marks["enforced"] = delivery.pop("enforced_at") - t0
        say(f"{size} worker(s): delivery {delivery['per_second']:.1f}/s "
            f"({delivery['share_of_allowed']:.2f} of {ALLOWED_PER_SECOND}/s), "
            f"{delivery['too_many_requests']} 429s")
        codes = await cluster.stop()
        if opts.keep_logs is not None:
            opts.keep_logs.mkdir(parents=True, exist_ok=True)
            for worker in cluster.workers:
                with contextlib.suppress(OSError):
                    shutil.copy(worker.log, opts.keep_logs / f"w{size}-{worker.log.name}")
        return {"workers": size, "intake": intake, "delivery": delivery,
                "exit_codes": codes, "log_errors": len(cluster.errors_in_logs()),
                "log_error_lines": cluster.errors_in_logs()[:20],
                "gave_up": [f"{p.uid}: {p.gave_up}: {p.reason}" for p in people if p.gave_up]}
    finally:
        if not gc.isenabled():  # the run stopped half-way: the collector back on
            gc.enable()
            gc.unfreeze()
        await cluster.stop()
        await api.stop()


async def deliver_burst(opts: Options, api: LimitedAPI, cluster: w.Cluster) -> dict[str, Any]:
    """Queue `messages` rows (two per chat) at once, with Telegram's limits enforced; the
    outbox's sends per second while they drain, as a share of the allowed 30/s."""
    assert cluster.sessionmaker is not None
    chats = [60_000_000 + i for i in range(max(1, opts.messages // 2))]
    queue = queue_statement(chats[0], chats[-1])
    api.enforce = True
    api.too_many = 0
    api.refusals = []
    enforced = time.monotonic()
    lags: list[tuple[float, float]] = []

    async def watch() -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.01)
            lag = time.monotonic() - t - 0.01
            if lag > 0.05:
                lags.append((round(t - enforced, 3), round(lag, 3)))

    stalls = asyncio.create_task(watch())
    api.watch_loop()
    await asyncio.sleep(0)
    async with cluster.sessionmaker() as session:
        await (await session.connection()).execute(queue, {"now": utcnow()})
        await session.commit()
    queued = time.monotonic()
    left = await w.wait_outbox_empty(cluster.sessionmaker, opts.timeout)
    api.enforce = False
    stalls.cancel()
    for r in api.refusals:
        r["after_enforce_s"] = r["at"] - enforced
    rows = await w.outbox_rows(cluster.sessionmaker)
    paced = [c for c in w.paced_calls(api.calls, rows) if c.at >= queued]
    mine = [c for c in paced if c.chat_id in set(chats)]
    if len(mine) >= 2:
        first, last = mine[0].at, mine[-1].at
        window = [c for c in paced if first <= c.at <= last]
        span = last - first
        rate = (len(window) - 1) / span if span > 0 else None
    else:
        span, rate, window = 0.0, None, []
    p = w.pacing(paced, slack=SLACK)
    checked = [c for c in api.calls if c.at >= queued and c.ok
               and c.method in w.SEND_METHODS | {"editMessageText"}]
    return {"messages": len(chats) * 2, "left_pending": left, "sends_in_window": len(window),
            "span_s": span, "per_second": rate or 0.0,
            "share_of_allowed": (rate or 0.0) / ALLOWED_PER_SECOND,
            "first_send_after_s": (mine[0].at - queued) if mine else None,
            "too_many_requests": api.too_many, "refusals": api.refusals,
            "queueing_s": queued - enforced, "enforced_at": enforced, "driver_loop_stalls": lags,
            "fake_loop_stalls": [(round(t - enforced, 3), round(lag, 3))
                                 for t, lag in api.loop_stalls],
            "fake_loop_worst_stall_s": max((lag for _, lag in api.loop_stalls), default=0.0),
            "max_per_second": p.max_per_second,
            "chat_gaps_too_short": len(p.chat_gaps_too_short), "margins": margins(checked)}


async def db_commits(cluster: w.Cluster) -> int:
    """Transactions committed in the cluster's database so far (every worker's, the
    outbox's and this driver's few)."""
    assert cluster.sessionmaker is not None
    async with cluster.sessionmaker() as session:
        conn = await session.connection()
        value = (await conn.execute(text(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"))
        ).scalar_one()
        await session.commit()
    return int(value)


def service_cpu_s() -> dict[str, float]:
    """CPU seconds used so far by PostgreSQL (every backend, plus those already reaped, as
    the postmaster's children) and by Redis, from /proc."""
    out = {"postgres": 0.0, "redis": 0.0}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        name = "postgres" if comm.startswith("postgres") else \
            "redis" if comm.startswith("redis-server") else None
        if name is None:
            continue
        used = int(fields[11]) + int(fields[12])
        if name == "postgres" and fields[1] == "1":
            used += int(fields[13]) + int(fields[14])  # the postmaster: reaped backends
        out[name] += used / tick
    return out


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values[:8]) - idle) / tick, sum(values[:8]) / tick


def queue_statement(first: int, last: int) -> Any:
    """One INSERT ... SELECT queueing two text rows for each chat first..last (all first rows,
    then all second ones), built by PostgreSQL: cheap for this driver (the fake Bot API has a
    loop of its own, so a busy driver no longer stamps the sends late; still, no need)."""
    table = Outbox.__table__  # type: ignore[attr-defined]
    n = func.generate_series(1, 2).table_valued("value").render_derived(name="n")
    chat = func.generate_series(first, last).table_valued("value").render_derived(name="chat")
    rows = (select(literal("telegram"), cast(chat.c.value, String), literal("text"),
                   func.json_build_object("text", func.concat("Pengumuman ", n.c.value,
                                                              " untuk ", chat.c.value)),
                   literal("pending"), literal(0),
                   bindparam("now", type_=table.c.next_attempt_at.type),
                   bindparam("now", type_=table.c.created_at.type))
            .select_from(chat.join(n, true())).order_by(n.c.value, chat.c.value))
    return insert(table).from_select(
        ["channel", "chat_id", "kind", "payload", "status", "attempts", "next_attempt_at",
         "created_at"], rows)


def tightest(times: Sequence[float], n: int) -> float | None:
    """The shortest time spanned by `n` consecutive events (None: fewer than `n`)."""
    times = sorted(times)
    spans = [times[i + n - 1] - times[i] for i in range(len(times) - n + 1)]
    return min(spans) if spans else None


def margins(calls: Sequence[Call]) -> dict[str, float | None]:
    """How close the sends came to each limit, at their arrival: the shortest gap between two
    sends to one chat (Telegram: 1 s), the shortest span of 31 sends (30/s) and of 21 sends
    to one group (20/min). The fake refuses below the limit minus SLACK."""
    by_chat: dict[str, list[float]] = {}
    for call in calls:
        by_chat.setdefault(str(call.chat_id), []).append(call.at)
    gaps = [g for ts in by_chat.values() if (g := tightest(ts, 2)) is not None]
    groups = [g for chat, ts in by_chat.items() if chat.startswith("-")
              and (g := tightest(ts, 21)) is not None]
    return {"chat_gap_s": min(gaps, default=None),
            "span_of_31_s": tightest([c.at for c in calls], ALLOWED_PER_SECOND + 1),
            "group_span_of_21_s": min(groups, default=None)}


async def run_benchmark(opts: Options, say: Callable[[str], None] | None = None
                        ) -> dict[str, Any]:
    """Every worker count in turn; all figures."""
    began = time.monotonic()

    def log(message: str) -> None:
        if say is not None:
            say(message)
        elif not opts.quiet:
            print(f"[{time.monotonic() - began:6.1f}s] {message}", file=sys.stderr, flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="aduan-scale-"))
    phases = []
    try:
        for size in opts.workers:
            phases.append(await run_phase(opts, size, tmp, log))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    one = next((p for p in phases if p["workers"] == 1), None)
    for p in phases:
        rate = p["intake"]["updates_per_s"]
        base = one["intake"]["updates_per_s"] if one else None
        p["speedup_vs_1"] = rate / base if rate and base else None
        d = p["delivery"]
        p["targets"] = {"delivery_share_ge_0_95": d["share_of_allowed"] >= TARGET_DELIVERY_SHARE,
                        "zero_429": d["too_many_requests"] == 0,
                        "all_tickets": p["intake"]["tickets"] == p["intake"]["people"]}
    return {"options": {"people": opts.people, "workers": list(opts.workers),
                        "messages": opts.messages},
            "machine": {"cpus": os.cpu_count()}, "phases": phases}


def _f(value: Any, digits: int = 1) -> str:
    """A figure for the table."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_report(results: dict[str, Any]) -> str:
    """One column per worker count, targets on the right."""
    phases = results["phases"]
    rows: list[tuple[str, list[str], str]] = [
        ("people", [_f(p["intake"]["people"]) for p in phases], ""),
        ("tickets", [_f(p["intake"]["tickets"]) for p in phases], "= people"),
        ("error answers", [_f(p["intake"]["error_answers"]) for p in phases], "0"),
        ("updates", [_f(p["intake"]["updates"]) for p in phases], ""),
        ("intake wall s", [_f(p["intake"]["wall_s"]) for p in phases], ""),
        ("updates/s", [_f(p["intake"]["updates_per_s"]) for p in phases],
         "grows with workers (cores allowing)"),
        ("speed-up vs 1 worker", [_f(p["speedup_vs_1"], 2) for p in phases], ""),
        ("step latency p50 ms", [_f(p["intake"]["latency_ms"]["p50"]) for p in phases], ""),
        ("step latency p99 ms", [_f(p["intake"]["latency_ms"]["p99"]) for p in phases], ""),
        ("workers' CPU ms/update", [_f(p["intake"]["cpu_ms_per_update"], 2) for p in phases],
         ""),
        ("DB transactions/update", [_f(p["intake"].get("db_commits_per_update"), 1)
                                    for p in phases], ""),
        ("workers' CPU % (all)", [_f(p["intake"]["workers_cpu_pct"], 0) for p in phases], ""),
        ("driver+fake Bot API CPU %", [_f(p["intake"]["driver_cpu_pct"], 0) for p in phases],
         ""),
        ("PostgreSQL CPU %", [_f(p["intake"].get("postgres_cpu_pct"), 0) for p in phases], ""),
        ("Redis CPU %", [_f(p["intake"].get("redis_cpu_pct"), 0) for p in phases], ""),
        ("anything else CPU %", [_f(p["intake"].get("other_cpu_pct"), 0) for p in phases],
         ""),
        ("machine busy % (all CPUs)", [_f(p["intake"].get("machine_busy_pct"), 0)
                                       for p in phases], "100 = every core busy"),
        ("load average before/after", [
            f"{_f(p['intake']['loadavg_1m']['before'])}/{_f(p['intake']['loadavg_1m']['after'])}"
            for p in phases], ""),
        ("delivery: messages", [_f(p["delivery"]["messages"]) for p in phases], ""),
        ("delivery: sends/s", [_f(p["delivery"]["per_second"]) for p in phases],
         f"allowed {ALLOWED_PER_SECOND}"),
        ("delivery: share of allowed", [_f(p["delivery"]["share_of_allowed"], 3)
                                        for p in phases], f">= {TARGET_DELIVERY_SHARE}"),
        ("delivery: 429s", [_f(p["delivery"]["too_many_requests"]) for p in phases], "0"),
        ("delivery: most in 1 s", [_f(p["delivery"]["max_per_second"]) for p in phases],
         f"<= {ALLOWED_PER_SECOND}"),
        ("fake Bot API loop: worst stall ms", [
            f"{p['intake']['fake_loop_worst_stall_s'] * 1000:.0f}/"
            f"{p['delivery']['fake_loop_worst_stall_s'] * 1000:.0f}" for p in phases],
         "intake/delivery: its stamps' lag"),
        ("delivery: tightest chat gap s", [_f(p["delivery"]["margins"]["chat_gap_s"], 3)
                                           for p in phases], f"> {1 - SLACK}"),
        ("delivery: tightest 31 sends s", [_f(p["delivery"]["margins"]["span_of_31_s"], 3)
                                           for p in phases], f"> {1 - SLACK}"),
    ]
    cols = [f"{p['workers']} worker(s)" for p in phases]
    width = max(len(r[0]) for r in rows) + 2
    colw = max(14, *(len(c) + 2 for c in cols))
    lines = [f"{'':<{width}}" + "".join(f"{c:>{colw}}" for c in cols) + "   target"]
    for name, values, target in rows:
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{colw}}" for v in values)
                     + (f"   {target}" if target else ""))
    lines.append(f"machine: {results['machine']['cpus']} CPUs, shared with the driver, "
                 "PostgreSQL, Redis and anything else running.")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Options from the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.scale_out", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--workers", default="1,2,3", help="worker counts, e.g. 1,2,3")
    parser.add_argument("--messages", type=int, default=600,
                        help="outbox rows queued at once in the delivery phase (600)")
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--keep-logs", type=Path, help="copy the workers' logs here")
    args = parser.parse_args(argv)
    sizes = tuple(int(x) for x in args.workers.split(",") if x.strip())
    if not sizes or min(sizes) < 1 or args.people < 1:
        parser.error("--workers and --people must be positive")
    return Options(args.people, sizes, max(2, args.messages), args.timeout, args.json,
                   args.quiet, args.keep_logs)


def main(argv: Sequence[str] | None = None) -> int:
    """Run, print the table, write --json; 2 when PostgreSQL or Redis is not given."""
    opts = parse_args(argv)
    for name in (w.PG_ENV, w.REDIS_ENV):
        if not os.environ.get(name):
            print(f"scale_out: set {name}", file=sys.stderr)
            return 2
    try:
        results = asyncio.run(run_benchmark(opts))
    except KeyboardInterrupt:
        return 130
    print(format_report(results))
    if opts.json_path is not None:
        opts.json_path.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
