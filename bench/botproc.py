"""Runs the Aduan bot (`aduan run`) as its own process, with measurement hooks.

Run (bench.intake_e2e starts it for you):
    BENCH_STATS_FILE=/tmp/stats.json BOT_TOKEN=... DATABASE_URL=... \
        .venv/bin/python -m bench.botproc

Hooks: every SQL statement through any SQLAlchemy Engine is counted by its first keyword,
transaction-control SQL (BEGIN/COMMIT/ROLLBACK/SAVEPOINT/RELEASE) apart from the rest; DBAPI
begin/commit/rollback calls are counted too. The stats file (JSON: statements, process CPU
time, current and peak RSS) is rewritten every 0.5 s, at once on SIGUSR1 (its `usr1` field
counts the signals seen, so a reader knows the snapshot is fresh) and a last time at exit.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from bench.proc import die_with_parent

STATS_ENV = "BENCH_STATS_FILE"
INTERVAL = 0.5
TX_KEYWORDS = frozenset({"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "END"})
_BEGIN_FLAG = "_bench_begin_pending"


class Counters:
    """Plain dicts and ints, only ever changed on the event-loop thread."""

    def __init__(self) -> None:
        """Start every count at zero."""
        self.data: dict[str, int] = {}  # SELECT, INSERT, UPDATE, DELETE, PRAGMA, ...
        self.tx_sql: dict[str, int] = {}  # BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE
        self.outbox = 0  # data statements that touch the outbox table
        self.begin_events = 0  # SQLAlchemy transactions begun (DBAPI level)
        self.begin_via_sql = 0  # ... of which emitted as a BEGIN statement (not implicit)
        self.commit_events = 0
        self.rollback_events = 0
        self.usr1 = 0
        self.final = False


COUNTS = Counters()
_write_ids = itertools.count()


def _first_word(statement: str) -> str:
    """The statement's leading keyword in upper case ('' for an empty statement)."""
    head = statement.lstrip()[:24].split(None, 1)
    return head[0].upper().rstrip(";") if head else ""


def _before_cursor_execute(conn: Connection, cursor: Any, statement: str, parameters: Any,
                           context: Any, executemany: bool) -> None:
    """Count one statement by kind; a BEGIN after a begin event marks that begin as SQL."""
    word = _first_word(statement)
    if word in TX_KEYWORDS:
        COUNTS.tx_sql[word] = COUNTS.tx_sql.get(word, 0) + 1
        if word == "BEGIN" and conn.info.pop(_BEGIN_FLAG, False):
            COUNTS.begin_via_sql += 1
        return
    COUNTS.data[word] = COUNTS.data.get(word, 0) + 1
    if "outbox" in statement.lower():
        COUNTS.outbox += 1
    if SQL_LOG:
        SQL_LOG[0].write(" ".join(statement.split())[:300] + "\n")


# With BENCH_SQL_LOG=PATH every data statement's first 300 characters go to PATH, one a line
# (to see which statements an update runs; slower).
SQL_LOG: list[Any] = []


def _on_begin(conn: Connection) -> None:
    """Count a transaction begun; remember it until a BEGIN statement shows up."""
    COUNTS.begin_events += 1
    conn.info[_BEGIN_FLAG] = True


def _on_commit(conn: Connection) -> None:
    """Count a DBAPI commit."""
    COUNTS.commit_events += 1


def _on_rollback(conn: Connection) -> None:
    """Count a DBAPI rollback."""
    COUNTS.rollback_events += 1


def _lean_statement(statement: str) -> None:
    """A statement of models/lean.py's writers, which bypass the Engine: counted alike."""
    word = _first_word(statement)
    if word not in TX_KEYWORDS:
        _before_cursor_execute(None, None, statement, None, None, False)  # type: ignore[arg-type]
        return
    # As SQL only (the DBAPI commit and rollback counts are SQLAlchemy's calls); a BEGIN is
    # a transaction begun as well, sent as SQL.
    COUNTS.tx_sql[word] = COUNTS.tx_sql.get(word, 0) + 1
    if word == "BEGIN":
        COUNTS.begin_events += 1
        COUNTS.begin_via_sql += 1


def install_hooks() -> None:
    """Listen on the Engine class, so the bot's engine (created later) is covered too."""
    from models import lean

    lean.OBSERVERS.append(_lean_statement)
    event.listen(Engine, "before_cursor_execute", _before_cursor_execute)
    event.listen(Engine, "begin", _on_begin)
    event.listen(Engine, "commit", _on_commit)
    event.listen(Engine, "rollback", _on_rollback)


def _memory_kb() -> tuple[int, int]:
    """(current RSS, peak RSS) in kB from /proc/self/status."""
    rss = peak = 0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1])
    except OSError:
        pass
    return rss, peak


def snapshot() -> dict[str, Any]:
    """The current figures as a JSON-ready dict."""
    rss, peak = _memory_kb()
    c = COUNTS
    return {
        "pid": os.getpid(),
        "time": time.time(),
        "usr1": c.usr1,
        "final": c.final,
        "cpu_s": time.process_time(),
        "rss_kb": rss,
        "peak_rss_kb": peak,
        "sql": {
            "data": dict(c.data),
            "tx_sql": dict(c.tx_sql),
            "outbox": c.outbox,
            "begin_events": c.begin_events,
            "begin_via_sql": c.begin_via_sql,
            "commit_events": c.commit_events,
            "rollback_events": c.rollback_events,
        },
    }


def write_stats() -> None:
    """Write a snapshot atomically (unique temp name, then rename) to $BENCH_STATS_FILE."""
    target = os.environ.get(STATS_ENV)
    if not target:
        return
    path = Path(target)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{next(_write_ids)}.tmp")
    try:
        tmp.write_text(json.dumps(snapshot()))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def _writer() -> None:
    """Daemon thread: refresh the stats file every INTERVAL seconds."""
    while True:
        write_stats()
        time.sleep(INTERVAL)


def _on_usr1(signum: int, frame: FrameType | None) -> None:
    """SIGUSR1: write a fresh snapshot now."""
    COUNTS.usr1 += 1
    write_stats()
    if os.environ.get(CALLGRIND_ENV):  # under callgrind: the instructions since the last one
        subprocess.Popen(["callgrind_control", "--dump", str(os.getpid())],  # noqa: S603,S607
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if TRACE.get("on"):
        TRACE.setdefault("snaps", []).append(tracemalloc.take_snapshot())


# With BENCH_CALLGRIND=1 (the bot run under `valgrind --tool=callgrind`, see bench/README.md)
# each SIGUSR1 also asks callgrind to dump its counts: one dump file per interval between two
# snapshots, so the crowd's instructions are counted apart from start-up and warm-up.
CALLGRIND_ENV = "BENCH_CALLGRIND"
# With BENCH_CPROFILE=PATH the bot runs under cProfile and dumps its stats there at exit.
CPROFILE_ENV = "BENCH_CPROFILE"

# With BENCH_TRACEMALLOC=PATH: Python allocations traced from the start (slower); each SIGUSR1
# takes a snapshot, one more at exit, and PATH gets what grew between the second snapshot (the
# crowd's start, after the warm-up) and the one at exit, by source line. Not pydantic-core's
# or SQLite's own (C/Rust) allocations.
TRACE_ENV = "BENCH_TRACEMALLOC"
TRACE: dict[str, Any] = {}


def _trace_report() -> None:
    """Write the growth between the crowd's first and last snapshot to $BENCH_TRACEMALLOC."""
    snaps = TRACE.get("snaps") or []
    if TRACE.get("on"):
        snaps.append(tracemalloc.take_snapshot())  # at exit: after the crowd and any drafts
    target = os.environ.get(TRACE_ENV)
    if not target or len(snaps) < 2:
        return
    base = snaps[1] if len(snaps) > 2 else snaps[0]
    diff = snaps[-1].compare_to(base, "lineno")
    lines = [f"{len(snaps)} snapshots; growth from #{snaps.index(base) + 1} to the last"]
    lines += [str(stat) for stat in diff[:40]]
    Path(target).write_text("\n".join(lines) + "\n")


def _final() -> None:
    """At exit: the last snapshot, marked final."""
    if not COUNTS.final:
        COUNTS.final = True
        write_stats()
        _trace_report()


def main() -> int:
    """Install the hooks, then run `aduan run` until SIGINT/SIGTERM; returns its exit code."""
    die_with_parent()
    if os.environ.get(TRACE_ENV):
        tracemalloc.start(1)
        TRACE["on"] = True
    if os.environ.get("BENCH_SQL_LOG"):
        SQL_LOG.append(open(os.environ["BENCH_SQL_LOG"], "a", buffering=1))  # noqa: SIM115
    install_hooks()
    signal.signal(signal.SIGUSR1, _on_usr1)
    atexit.register(_final)
    write_stats()
    threading.Thread(target=_writer, name="bench-stats", daemon=True).start()
    from bot.__main__ import main as bot_main

    profile_to = os.environ.get(CPROFILE_ENV)
    if profile_to:  # deterministic call counts (several times slower; for finding work)
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        return bot_main(["run"])
    finally:
        if profile_to:
            profiler.disable()
            profiler.dump_stats(profile_to)
        _final()


if __name__ == "__main__":
    sys.exit(main())
