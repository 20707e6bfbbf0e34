"""The intake's most common transaction on the driver's own connection, without a session.

Most turns of a conversation write one thing: the draft's compare-and-set (or a new draft's
insert), committed with the update's inbox flip and its kept answers. Through an ORM session
that transaction cost about a third of the bot's CPU per update (py-spy, bench/README.md,
"Eighth pass"): the session's transaction and connection bookkeeping, the flush at commit,
two hops into SQLAlchemy's greenlet and the pool's check-in. Here the same statements
(`models.prepared.Prepared`, compiled once per dialect with SQLAlchemy's own type processors)
run on the DBAPI driver's connection:

- SQLite (the inline connection, models/sqlite_inline.py): this process's write lock, then
  `BEGIN IMMEDIATE` (another process's lock waited for on the loop), the statements, COMMIT;
  one connection of its own, since this process's writers take turns anyway.
- PostgreSQL (asyncpg): a connection borrowed from the engine's pool, BEGIN, the statements,
  COMMIT, given back.

A statement that does not match exactly one row rolls the transaction back and raises the
exception given with it (a lost compare-and-set, an update processed before).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from asyncpg.exceptions import DivisionByZeroError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

from models.prepared import Prepared

log = logging.getLogger(__name__)
LOCK_WAIT_S = 5.0  # no transaction holds SQLite's write lock that long (models/db.py)

# (statement, its parameters, raised when it does not match exactly one row; None: any
# number of rows will do)
Write = tuple[Prepared, Mapping[str, Any], type[Exception] | None]

# Called with each SQL text run here (BEGIN and COMMIT too): the benchmark's statement
# counts (bench/botproc.py), which otherwise see only SQLAlchemy's engine events.
OBSERVERS: list[Callable[[str], None]] = []

# Inline SQLite engines (models/db.py): how to take and give back their write lock (by an
# owner: the engine's bookkeeping of who holds it) and how to open a connection.
Take = Callable[[object], Awaitable[None]]
Give = Callable[[object], None]
_SQLITE: weakref.WeakKeyDictionary[Any, tuple[Take, Give, Callable[[], Any]]] = (
    weakref.WeakKeyDictionary())


def register_sqlite(engine: AsyncEngine, take: Take, give: Give,
                    connect: Callable[[], sqlite3.Connection]) -> None:
    """models/db.py: the inline SQLite engine's write lock, taken for an owner (taken over
    after LOCK_WAIT_S, as its sessions do) and given back by that owner only if it still
    holds it; and how to open a connection."""
    _SQLITE[engine.sync_engine] = (take, give, connect)


async def take_lock(lock: asyncio.Lock) -> None:
    """The write lock: at once when free (no timer, no task and no turn of the loop: with
    `wait_for` on Python 3.11 a task and three turns per transaction), else within
    LOCK_WAIT_S (TimeoutError)."""
    if not lock.locked() and not getattr(lock, "_waiters", None):
        await lock.acquire()  # free and nobody queued: returns at once
        return
    async with asyncio.timeout(LOCK_WAIT_S):
        await lock.acquire()


def _observe(sql: str) -> None:
    for observer in OBSERVERS:
        observer(sql)


class LeanWriter:
    """`commit(writes)`: the writes in one transaction, committed, outside any session."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.sync_engine.dialect

    @staticmethod
    def for_engine(engine: AsyncEngine) -> LeanWriter | None:
        """The writer for this engine, or None where the session's path must do (SQLite in
        memory or through aiosqlite's threads, another driver)."""
        sqlite = _SQLITE.get(engine.sync_engine)
        if sqlite is not None:
            return SqliteWriter(engine, *sqlite)
        if engine.sync_engine.dialect.driver == "asyncpg":
            return PgWriter(engine)
        return None

    def _sql(self, stmt: Prepared, params: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
        rendered = stmt.render(self.dialect, params)
        if rendered is None:  # not a positional dialect: never for sqlite3 and asyncpg
            raise RuntimeError("a lean write needs a positional dialect")
        return rendered

    async def commit(self, writes: Sequence[Write]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Give up what the writer holds (SQLite: its connection)."""


class SqliteWriter(LeanWriter):
    """On one sqlite3 connection of its own, behind this process's write lock. (Shared by
    the commits of a writer that took the lock over: none awaits inside its transaction.)"""

    def __init__(self, engine: AsyncEngine, take: Take, give: Give,
                 connect: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(engine)
        self.take = take
        self.give = give
        self.connect = connect
        self._conn: sqlite3.Connection | None = None

    async def commit(self, writes: Sequence[Write]) -> None:
        statements = [(*self._sql(stmt, params), miss) for stmt, params, miss in writes]
        owner = object()
        await self.take(owner)
        try:
            conn = self._conn
            if conn is None:
                conn = self._conn = self.connect()
            await self._begin(conn)
            try:
                for sql, values, miss in statements:
                    _observe(sql)
                    if conn.execute(sql, values).rowcount != 1 and miss is not None:
                        raise miss()
                _observe("COMMIT")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    _observe("ROLLBACK")
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:  # a broken connection: open a new one next time
                        self._drop()
                raise
        except sqlite3.Error:
            self._drop()
            raise
        finally:
            self.give(owner)

    async def _begin(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE; another process's write lock waited for on the loop, up to the
        busy timeout (as models/db.py's BEGIN does)."""
        _observe("BEGIN IMMEDIATE")
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
        from models import db  # (it imports this module)

        deadline = time.monotonic() + db.BUSY_TIMEOUT_MS / 1000
        pause = 0.005
        while True:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass

    def close(self) -> None:
        self._drop()


class PgWriter(LeanWriter):
    """On an asyncpg connection borrowed from the engine's pool (its ping after idle, its
    limits), as ONE statement: each write a data-modifying WITH clause, so the writes are
    atomic with no BEGIN and COMMIT round trips (four round trips became one: each cost the
    bot ~40 µs of CPU). The statement divides by zero when a write that must match one row
    did not, which rolls all of them back. Which one missed is not told: the first such
    write's error is raised, and the turn, redone through the session, tells them apart.
    The writes must touch different rows (they all see the same snapshot). A connection
    that fails is invalidated, as the session's path would."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self._combined: dict[tuple[int, ...], str] = {}  # by the writes' statements

    def _statement(self, writes: Sequence[Write]) -> tuple[str, list[Any]]:
        """The combined SQL (built once per sequence of statements) and its values."""
        rendered = [self._sql(stmt, params) for stmt, params, _miss in writes]
        values = [value for _sql, part in rendered for value in part]
        key = tuple(id(stmt) * 2 + (miss is not None) for stmt, _p, miss in writes)
        sql = self._combined.get(key)
        if sql is None:
            clauses, counts, offset = [], [], 0
            for i, ((text, part), (_stmt, _p, miss)) in enumerate(
                    zip(rendered, writes, strict=True)):
                shifted = _PLACEHOLDER.sub(lambda m, o=offset: f"${int(m[1]) + o}", text)
                returning = "" if " RETURNING " in shifted else " RETURNING 1"
                clauses.append(f"w{i} AS ({shifted}{returning})")
                if miss is not None:
                    counts.append(f"(SELECT count(*) FROM w{i}) = 1")
                offset += len(part)
            guard = " AND ".join(counts) or "true"
            sql = self._combined[key] = (
                f"WITH {', '.join(clauses)} "
                f"SELECT 1 / (CASE WHEN {guard} THEN 1 ELSE 0 END)")
        return sql, values

    async def commit(self, writes: Sequence[Write]) -> None:
        sql, values = self._statement(writes)
        fairy = await greenlet_spawn(self.engine.sync_engine.raw_connection)
        try:
            _observe(sql)
            try:
                await fairy.driver_connection.fetchval(sql, *values)
            except DivisionByZeroError:
                miss = next(miss for _s, _p, miss in writes if miss is not None)
                raise miss() from None
        except BaseException as exc:
            if not isinstance(exc, _misses(writes)):
                # Connection trouble, a cancel mid-statement: the connection is not trusted.
                await greenlet_spawn(fairy.invalidate)
                fairy = None
            raise
        finally:
            if fairy is not None:
                await greenlet_spawn(fairy.close)


_PLACEHOLDER = re.compile(r"\$(\d+)")


def _misses(writes: Sequence[Write]) -> tuple[type[Exception], ...]:
    return tuple(miss for _s, _p, miss in writes if miss is not None)
