"""Loop-blocking benchmark: how long each background or admin operation keeps the event loop
from running anything else, on a big SQLite database.

    .venv/bin/python -m bench.loop_block                       # a regency after a year
    .venv/bin/python -m bench.loop_block --scale 0.01          # a smoke size
    .venv/bin/python -m bench.loop_block --bot-src /tmp/before # another tree's code

The main SQLite engine runs sqlite3's calls inline on the loop's thread
(models/sqlite_inline.py): while one of its statements runs, no citizen's update is read,
answered or sent. So each operation below runs beside a probe task that sleeps 10 ms at a
time and records the longest gap between its wake-ups: that gap minus 10 ms is the longest
the loop was blocked. Target: at most ~50 ms per operation (printed OVER above it).

The database (a temp SQLite file, built once per size and copied for each operation so each
starts from the same state): `--citizens` citizens (200,000); `--reports` reports (100,000,
bench/oversight.py's mix over two years: ~10 % open with their lights and moments, most
older ones closed, with pins); `--outbox` outbox rows and `--inbox` inbox rows (1,000,000
each) over a year, nearly all delivered / processed, so the hourly housekeeping meets a
year's backlog past the retention (a first run after an upgrade, or after months without);
`--drafts` drafts (20,000) a crowd left 25 hours ago, purged by the tick a day later.

Operations: the hourly housekeeping job (delivered outbox and processed inbox rows past their
retention, idle chat leases, personal data of reports finished over a year ago), one
oversight tick now, a day later and a month later (lights turning, reminders queued,
resolved reports auto-closed, expired drafts), the /metrics read, a broadcast's start and
its queueing steps, `/laporanku`, the duplicates lookup at the location step, start-up
recovery (answers never sent, inbox rows left new), `/ikat` (an OPD bound to a new group),
one outbox worker step while 50,000 card edits wait (after a flood tick or an outage).
The database has no ANALYZE statistics, as a deployment's (`--analyze` adds them).
Prints figures, asserts nothing (shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# sqlmodel's hint to prefer session.exec() for ORM selects; these are Core statements.
warnings.filterwarnings("ignore", message=r"\s*.*You probably want to use `session.exec")
TARGET_MS = 50.0
PERIOD = 0.010  # the probe's sleep
DT = "%Y-%m-%d %H:%M:%S.%f"


@dataclass
class Options:
    citizens: int = 200_000
    reports: int = 100_000
    outbox: int = 1_000_000
    inbox: int = 1_000_000
    drafts: int = 20_000
    analyze: bool = False
    only: list[str] = field(default_factory=list)
    keep: str | None = None  # keep the built database here (reused when it exists)
    json_path: str | None = None
    quiet: bool = False
    verbose: bool = False

    def scaled(self, factor: float) -> Options:
        return Options(citizens=max(50, int(self.citizens * factor)),
                       reports=max(200, int(self.reports * factor)),
                       outbox=max(500, int(self.outbox * factor)),
                       inbox=max(500, int(self.inbox * factor)),
                       drafts=max(50, int(self.drafts * factor)), analyze=self.analyze,
                       only=self.only,
                       keep=self.keep, json_path=self.json_path, quiet=self.quiet,
                       verbose=self.verbose)


class Probe:
    """Sleeps PERIOD at a time; the longest gap between wake-ups, less PERIOD, is the longest
    the loop was kept from running it."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.ticks = 0
        self.over = 0  # gaps above TARGET_MS
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(PERIOD)
            now = time.perf_counter()
            self.worst = max(self.worst, now - last - PERIOD)
            self.over += (now - last - PERIOD) * 1000 > TARGET_MS
            self.ticks += 1
            last = now

    async def __aenter__(self) -> Probe:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)  # started before the operation
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._task is not None
        # The last gap (the operation's tail) is seen when the probe next wakes up.
        await asyncio.sleep(PERIOD * 1.5)
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    @property
    def blocked_ms(self) -> float:
        return max(0.0, self.worst * 1000)


async def measure(op: Callable[[], Awaitable[Any]]) -> tuple[float, int, float, Any]:
    """(longest loop block in ms, blocks over TARGET_MS, wall seconds, result) of one run of
    `op`."""
    async with Probe() as probe:
        t0 = time.perf_counter()
        result = await op()
        wall = time.perf_counter() - t0
    return probe.blocked_ms, probe.over, wall, result


# ---- the database ----------------------------------------------------------------------------


def _dt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(DT)


def build(path: Path, opts: Options, now: datetime) -> None:
    """The schema (Alembic, through the project's own migrate) and the bulk rows."""
    from bench.oversight import COLUMNS, _sqlite_value, generate
    from bench.oversight import Options as OvOptions
    from models.db import make_engine, migrate

    async def schema() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    asyncio.run(schema())
    rnd = random.Random(11)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("BEGIN")
    con.executemany(
        "INSERT INTO opd (code, name_id, name_en, active, created_at, chat_id) "
        "VALUES (?, ?, ?, 1, ?, ?)",
        [(f"OPD{k:02d}", f"Dinas {k}", f"Agency {k}", _dt(now), -1001000000000 - k)
         for k in range(24)])
    con.executemany(
        "INSERT INTO category (code, opd_id, name_id, name_en, requires_photo, "
        "requires_location, followup_deadline, resolve_deadline, active, sort) "
        "VALUES (?, ?, ?, ?, 0, 0, '5d', '14d', 1, ?)",
        [(f"cat{k:03d}", k % 24 + 1, f"Kategori {k}", f"Category {k}", k) for k in range(72)])
    year = timedelta(days=365).total_seconds()
    con.executemany(
        "INSERT INTO citizen (channel, external_id, language, ban_notified, created_at, "
        "last_seen_at) VALUES ('telegram', ?, 'id', 0, ?, ?)",
        ((str(10_000_000 + j), _dt(now - timedelta(seconds=year * (1 - j / opts.citizens))),
          _dt(now)) for j in range(opts.citizens)))
    con.execute("COMMIT")
    cats = list(con.execute("SELECT id, opd_id FROM category ORDER BY id"))
    citizens = [r[0] for r in con.execute("SELECT id FROM citizen ORDER BY id")]
    # Two years of reports: those finished over a year ago lose their reporter data.
    ov = OvOptions(reports=opts.reports, days=730, citizens=opts.citizens, seed=7)
    sql = (f"INSERT INTO report ({', '.join(COLUMNS)}, latitude, longitude, card_chat_id, "
           f"card_message_id) VALUES ({', '.join('?' * (len(COLUMNS) + 4))})")
    opd_col = COLUMNS.index("opd_id")
    for batch in generate(ov, now, cats, citizens):
        con.execute("BEGIN")
        con.executemany(sql, ([_sqlite_value(i, v) for i, v in enumerate(row)]
                              + [0.40 + rnd.random() * 0.1, 101.40 + rnd.random() * 0.1,
                                 -1001000000000 - (row[opd_col] - 1), 1000 + n]
                              for n, row in enumerate(batch)))
        con.execute("COMMIT")
    n_reports = con.execute("SELECT max(id) FROM report").fetchone()[0] or 1
    groups = [str(-1001000000000 - k) for k in range(24)]

    def outbox_rows() -> Any:
        for j in range(opts.outbox):
            created = now - timedelta(seconds=year * (1 - j / opts.outbox))
            group = rnd.random() < 0.4
            chat = rnd.choice(groups) if group else str(10_000_000 + rnd.randrange(opts.citizens))
            roll = rnd.random()
            status = ("sent" if roll < 0.93 else "superseded" if roll < 0.97 else
                      "undeliverable" if roll < 0.985 else "parked")
            yield ("telegram", chat, "card" if group else "text",
                   '{"text": "Laporan Anda telah diterima dan diteruskan ke dinas terkait."}',
                   rnd.randrange(1, n_reports + 1), status, 1, _dt(created), _dt(created),
                   _dt(created) if status == "sent" else None, 5000 + j)

    con.execute("BEGIN")
    con.executemany(
        "INSERT INTO outbox (channel, chat_id, kind, payload, report_id, status, attempts, "
        "next_attempt_at, created_at, sent_at, sent_message_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", outbox_rows())
    con.execute("COMMIT")

    def inbox_rows() -> Any:
        for j in range(opts.inbox):
            received = now - timedelta(seconds=year * (1 - j / opts.inbox))
            chat = str(10_000_000 + rnd.randrange(opts.citizens))
            yield ("telegram", str(j), chat,
                   f'{{"update_id": {j}, "message": {{"text": "/start"}}}}',
                   "done" if rnd.random() < 0.995 else "failed", 1, _dt(received),
                   _dt(received + timedelta(milliseconds=50)))

    con.execute("BEGIN")
    con.executemany(
        "INSERT INTO inbox (channel, update_key, chat_key, payload, status, attempts, "
        "received_at, processed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", inbox_rows())
    # A crash's leftovers: answers not known to be sent, updates recorded and not processed.
    last = opts.inbox
    for k in range(20):
        chat = str(10_000_000 + k)
        con.execute(
            "INSERT INTO inbox (channel, update_key, chat_key, payload, status, attempts, "
            "received_at, processed_at, answer) VALUES ('telegram', ?, ?, '{}', ?, 1, ?, ?, ?)",
            (str(last + k), chat, "done" if k % 2 else "new", _dt(now), _dt(now),
             json.dumps([{"chat": chat, "payload": {"text": "Terima kasih."}}])
             if k % 2 else None))
    # A crowd's drafts abandoned 25 hours ago: expired (the tick a day later purges them).
    con.executemany(
        "INSERT INTO draft (channel, external_id, step, data, version, updated_at) "
        "VALUES ('telegram', ?, 'description', ?, 3, ?)",
        ((str(10_000_000 + j), json.dumps({"category_id": 3, "media": [], "nonce": f"{j:032x}"}),
          _dt(now - timedelta(hours=25))) for j in range(opts.drafts)))
    # Chats' inbox leases (several webhook workers), most idle for long.
    con.executemany("INSERT INTO job_lease (name, last_run_at) VALUES (?, ?)",
                    ((f"chat:telegram:{10_000_000 + j}",
                      _dt(now - timedelta(days=rnd.randrange(1, 365))))
                     for j in range(0, opts.citizens, 10)))
    con.execute("COMMIT")
    if opts.analyze:  # the bot never runs ANALYZE (nor PRAGMA optimize): off by default
        con.execute("ANALYZE")
    con.close()


# ---- the operations ---------------------------------------------------------------------------


@dataclass
class Ctx:
    url: str
    now: datetime
    sm: Any = None
    reader: Any = None
    deps: Any = None
    settings: Any = None
    engines: list[Any] = field(default_factory=list)


async def open_ctx(path: Path, now: datetime) -> Ctx:
    from zoneinfo import ZoneInfo

    from bot.settings import Settings
    from handlers.i18n import Translator
    from handlers.lifecycle import Deps
    from models.db import make_engine, make_reader, make_sessionmaker
    from models.domain import ManualClock

    url = f"sqlite+aiosqlite:///{path}"
    ctx = Ctx(url=url, now=now)
    engine = make_engine(url)
    reader = make_reader(url)
    ctx.engines = [engine, reader]
    ctx.sm = make_sessionmaker(engine)
    ctx.reader = make_sessionmaker(reader) if reader is not None else ctx.sm
    tz = ZoneInfo("Asia/Jakarta")
    ctx.deps = Deps(translator=Translator(default="id"), tz=tz, admin_ids=frozenset({1}),
                    clock=ManualClock(now), yellow_share=0.75, reader=ctx.reader)
    ctx.settings = Settings(_env_file=None, BOT_TOKEN="1:x",  # type: ignore[call-arg]
                            DATABASE_URL=url, ADMIN_IDS="1")
    return ctx


async def close_ctx(ctx: Ctx) -> None:
    for engine in ctx.engines:
        if engine is not None:
            await engine.dispose()


class _Worker:
    def wake(self) -> None:
        pass


async def op_housekeeping(ctx: Ctx) -> str:
    from bot.app import make_scheduler

    scheduler = make_scheduler(ctx.settings, ctx.sm, ctx.deps, _Worker())  # type: ignore[arg-type]
    [job] = [j for j in scheduler.jobs if j.name == "housekeeping"]
    assert job.run is not None
    before = await _counts(ctx)
    await job.run(ctx.now)
    after = await _counts(ctx)
    return ", ".join(f"{k} {before[k]:,} -> {after[k]:,}" for k in before)


async def _counts(ctx: Ctx) -> dict[str, int]:
    from sqlalchemy import text

    async with ctx.reader() as s:
        out = {}
        for table in ("outbox", "inbox", "job_lease"):
            out[table] = int((await s.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
        out["reports purged"] = int((await s.execute(text(
            "SELECT count(*) FROM report WHERE personal_purged_at IS NOT NULL"))).scalar_one())
        await s.commit()
    return out


async def op_tick(ctx: Ctx, later: timedelta, drafts: bool = False) -> str:
    """A tick `later` after the load; with `drafts`, the crowd's drafts (25 hours old in real
    time, which is what their expiry reads) are purged by it too."""
    from handlers.oversight import tick

    moment = ctx.now + later
    ctx.deps.clock.set(moment)
    result = await tick(ctx.sm, ctx.deps, moment, timedelta(hours=24) if drafts else None)
    return repr(result)


async def op_metrics(ctx: Ctx) -> str:
    """GET /metrics as `aduan run` wires it (the reader, where the tree passes one)."""
    import inspect

    from aiohttp import web

    from bot.ops import Metrics, ops_routes

    metrics = Metrics()
    app = web.Application()
    extra = {"reader": ctx.reader} if "reader" in inspect.signature(ops_routes).parameters \
        else {}
    ops_routes(app, ctx.sm, metrics, dict, **extra)
    [handler] = [r.handler for r in app.router.routes() if r.method == "GET"
                 and r.resource is not None and r.resource.canonical == "/metrics"]
    response = await handler(None)  # type: ignore[arg-type]
    return f"{response.status}, outbox depth {metrics.outbox_depth._value.get():.0f}"  # noqa: SLF001


async def op_broadcast(ctx: Ctx) -> tuple[str, float]:
    """The start (its count), then queueing steps until 2,000 citizens are queued, each step's
    rows marked sent at once so the window keeps opening. Returns the note and the worst
    single step's block (the probe covers the whole)."""
    import inspect

    from sqlalchemy import text

    from handlers import broadcast as core

    extra = {"reader": ctx.reader} if "reader" in inspect.signature(core.start).parameters \
        else {}
    async with ctx.sm() as s:
        bc, _ = await core.start(s, 1, 1, "Pengumuman: jalan ditutup besok.", ["telegram"],
                                 **extra)
    queued = 0
    steps = 0
    while queued < 2000:
        async with ctx.sm() as s:
            bc, n = await core.advance(s, ctx.deps, bc.id or 0, ["telegram"])
        if n == 0:
            break
        queued += n
        steps += 1
        async with ctx.sm() as s:
            await s.execute(text("UPDATE outbox SET status = 'sent' WHERE status = 'pending'"))
            await s.commit()
    return f"total {bc.total:,}, {queued:,} queued in {steps} steps", 0.0


async def op_my_reports(ctx: Ctx) -> str:
    from handlers.status import my_reports_reply
    from models.tables import Citizen

    async with ctx.sm() as s:
        citizen = await s.get(Citizen, 1)
        assert citizen is not None
        reply = await my_reports_reply(s, ctx.deps.translator.bind("id"), citizen, ctx.deps.tz)
        await s.commit()
    return f"{len(reply.text.splitlines())} lines"


async def op_nearby(ctx: Ctx) -> str:
    from models.geo import nearby_open_reports

    found = 0
    for k in range(20):
        async with ctx.sm() as s:
            found += len(await nearby_open_reports(s, k % 72 + 1, 0.45, 101.45, 150))
            await s.commit()
    return f"20 lookups, {found} found"


async def op_recovery(ctx: Ctx) -> str:
    from models import inbox

    async with ctx.sm() as s:
        taken = await inbox.take_unsent(s, "telegram", None)
        await s.commit()
    async with ctx.sm() as s:
        rows = await inbox.pending(s, "telegram")
        await s.commit()
    return f"{len(taken)} unsent answers, {len(rows)} new updates"


async def op_bind(ctx: Ctx) -> str:
    from handlers.admin import bind_opd

    async with ctx.sm() as s:
        opd = await bind_opd(s, ctx.deps, "OPD00", -1002000000000, None)
    return f"bound {opd.code if opd else None}"


class _NoSlot:
    """A pacer with no send slot: the worker's step reads its rows and sends nothing."""

    async def reserve(self, chat: str, share: float = 0.0, *, peek: bool = False) -> float:
        return 60.0


async def op_outbox_step(ctx: Ctx) -> str:
    """One outbox worker step (its read of each chat's oldest pending row) while 50,000 card
    edits wait, as after a flood tick or an outage (set up before the measure)."""
    from bot.outbox import OutboxWorker

    worker = OutboxWorker(None, ctx.sm, None, ctx.deps, pacer=_NoSlot())  # type: ignore[arg-type]
    due = await worker.step()
    return f"next due in {due}"


PENDING_EDITS = 50_000


def _pend(path: Path, n: int) -> None:
    con = sqlite3.connect(path)
    con.execute("UPDATE outbox SET status = 'pending', kind = 'relight_card', payload = '{}' "
                "WHERE id IN (SELECT id FROM outbox WHERE kind = 'card' ORDER BY id DESC "
                "LIMIT ?)", (n,))
    con.commit()
    con.close()


OPERATIONS: dict[str, Callable[[Ctx], Awaitable[Any]]] = {
    "housekeeping": op_housekeeping,
    "tick (quiet)": lambda ctx: op_tick(ctx, timedelta(0)),
    "tick (a day later)": lambda ctx: op_tick(ctx, timedelta(days=1), drafts=True),
    "tick (a month later)": lambda ctx: op_tick(ctx, timedelta(days=30)),
    "metrics": op_metrics,
    "broadcast": op_broadcast,
    "laporanku": op_my_reports,
    "nearby": op_nearby,
    "recovery": op_recovery,
    "ikat (bind OPD)": op_bind,
    "outbox step": op_outbox_step,
}


def _fresh_copy(template: Path, work: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, work)
    # On disk before the operation: else the first checkpoint's fsync writes the whole copy
    # back, inside the operation (a deployment's file is not freshly copied).
    with open(work, "rb+") as handle:
        os.fsync(handle.fileno())


PRELOAD = ("bot.app", "bot.ops", "handlers.admin", "handlers.broadcast", "handlers.oversight",
           "handlers.status", "models.geo", "models.inbox")


async def run_op(name: str, template: Path, work: Path, now: datetime) -> dict[str, Any]:
    import importlib

    for module in PRELOAD:  # an import inside an operation would count as its block
        importlib.import_module(module)
    await asyncio.to_thread(_fresh_copy, template, work)
    if name == "outbox step":
        await asyncio.to_thread(_pend, work, PENDING_EDITS)
    ctx = await open_ctx(work, now)
    try:
        # Warm the page cache and the pools as a running bot has them (not measured).
        async with ctx.sm() as s:
            from sqlalchemy import text
            for table in ("outbox", "inbox", "report", "citizen"):
                await s.execute(text(f"SELECT count(*) FROM {table}"))
            await s.commit()
        # `aduan run` freezes what start-up built; a collection of the bench's own garbage
        # must not count as the operation's block.
        gc.collect()
        gc.freeze()
        worst = _watch_statements(ctx.engines[0])
        blocked, over, wall, note = await measure(lambda: OPERATIONS[name](ctx))
    finally:
        await close_ctx(ctx)
    if isinstance(note, tuple):
        note = note[0]
    return {"op": name, "blocked_ms": blocked, "blocks_over": over, "wall_s": wall,
            "note": str(note),
            "worst_statement_ms": worst[0] * 1000, "worst_statement": worst[1]}


def _watch_statements(engine: Any) -> list[Any]:
    """[seconds, SQL] of the slowest statement on the main engine, kept up to date."""
    from sqlalchemy import event

    worst: list[Any] = [0.0, ""]

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _before(conn: Any, *_args: Any) -> None:
        conn.info["loop_block_t0"] = time.perf_counter()

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _after(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        spent = time.perf_counter() - conn.info.pop("loop_block_t0", time.perf_counter())
        if spent > worst[0]:
            worst[:] = [spent, " ".join(statement.split())[:120]]

    return worst


async def run_benchmark(opts: Options) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    tmp = Path(tempfile.mkdtemp(prefix="aduan-loop-"))
    try:
        template = Path(opts.keep) if opts.keep else tmp / "template.db"
        t0 = time.perf_counter()
        if not await asyncio.to_thread(template.exists):
            if not opts.quiet:
                print(f"building: {opts.citizens:,} citizens, {opts.reports:,} reports, "
                      f"{opts.outbox:,} outbox, {opts.inbox:,} inbox rows ...", flush=True)
            await asyncio.to_thread(build, template, opts, now)
        else:  # a kept database: its clock
            con = sqlite3.connect(template)
            newest = con.execute("SELECT max(received_at) FROM inbox").fetchone()[0]
            con.close()
            now = datetime.strptime(newest, DT).replace(tzinfo=UTC)
        built = time.perf_counter() - t0
        if not opts.quiet:
            print(f"  database ready in {built:.1f} s "
                  f"({template.stat().st_size / 1e6:,.0f} MB)", flush=True)
        results = []
        names = opts.only or list(OPERATIONS)
        for name in names:
            res = await run_op(name, template, tmp / "work.db", now)
            results.append(res)
            if not opts.quiet:
                verdict = "ok" if res["blocked_ms"] <= TARGET_MS else "OVER"
                print(f"  {name:<20} loop blocked {res['blocked_ms']:8.1f} ms max, "
                      f"{res['blocks_over']:4d}x over {TARGET_MS:.0f} ms  ({verdict}; wall "
                      f"{res['wall_s']:.2f} s)  {res['note']}", flush=True)
                if opts.verbose:
                    print(f"  {'':<20} slowest statement {res['worst_statement_ms']:.1f} ms: "
                          f"{res['worst_statement']}", flush=True)
    finally:
        await asyncio.to_thread(shutil.rmtree, tmp, True)
    load = os.getloadavg()
    out = {"citizens": opts.citizens, "reports": opts.reports, "outbox": opts.outbox,
           "inbox": opts.inbox, "target_ms": TARGET_MS, "loadavg": load, "results": results}
    if not opts.quiet:
        print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if opts.json_path:
        await asyncio.to_thread(Path(opts.json_path).write_text,
                                json.dumps(out, indent=2, default=str))
    return out


def parse_args(argv: list[str]) -> tuple[Options, str | None]:
    p = argparse.ArgumentParser(prog="python -m bench.loop_block", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--citizens", type=int, default=200_000)
    p.add_argument("--reports", type=int, default=100_000)
    p.add_argument("--outbox", type=int, default=1_000_000)
    p.add_argument("--inbox", type=int, default=1_000_000)
    p.add_argument("--drafts", type=int, default=20_000)
    p.add_argument("--analyze", action="store_true",
                   help="run ANALYZE after the load (a deployment never does: other plans)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every size")
    p.add_argument("--only", default="", help="comma-separated operation names")
    p.add_argument("--keep", help="build the database here once and reuse it")
    p.add_argument("--bot-src", help="run another source tree's bot code")
    p.add_argument("--json", dest="json_path")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also print each operation's slowest statement")
    a = p.parse_args(argv)
    opts = Options(citizens=a.citizens, reports=a.reports, outbox=a.outbox, inbox=a.inbox,
                   drafts=a.drafts, analyze=a.analyze,
                   only=[n.strip() for n in a.only.split(",") if n.strip()], keep=a.keep,
                   json_path=a.json_path, verbose=a.verbose)
    if a.scale != 1.0:
        opts = opts.scaled(a.scale)
    return opts, a.bot_src


def main(argv: list[str] | None = None) -> None:
    opts, bot_src = parse_args(sys.argv[1:] if argv is None else argv)
    if bot_src:
        # The project's modules (bot, handlers, models) from that tree; this file stays.
        src = str(Path(bot_src).resolve())
        sys.path.insert(0, src)
        for name in [m for m in sys.modules if m.split(".")[0] in ("bot", "handlers",
                                                                    "models")]:
            del sys.modules[name]
        print(f"bot code from {src}")
    asyncio.run(run_benchmark(opts))


if __name__ == "__main__":
    main()
