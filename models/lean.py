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
import sqlite3
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

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

# Inline SQLite engines (models/db.py): their write lock and how to open a connection.
_SQLITE: weakref.WeakKeyDictionary[Any, tuple[asyncio.Lock, Callable[[], Any]]] = (
    weakref.WeakKeyDictionary())


def register_sqlite(engine: AsyncEngine, lock: asyncio.Lock,
                    connect: Callable[[], sqlite3.Connection]) -> None:
    """models/db.py: the inline SQLite engine's write lock and how to open a connection."""
    _SQLITE[engine.sync_engine] = (lock, connect)


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
    """On one sqlite3 connection of its own, behind this process's write lock."""

    def __init__(self, engine: AsyncEngine, lock: asyncio.Lock,
                 connect: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(engine)
        self.lock = lock
        self.connect = connect
        self._conn: sqlite3.Connection | None = None

    async def commit(self, writes: Sequence[Write]) -> None:
        statements = [(*self._sql(stmt, params), miss) for stmt, params, miss in writes]
        await take_lock(self.lock)
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
            self.lock.release()

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
    limits); a connection that fails is invalidated, as the session's path would."""

    async def commit(self, writes: Sequence[Write]) -> None:
        statements = [(*self._sql(stmt, params), miss) for stmt, params, miss in writes]
        fairy = await greenlet_spawn(self.engine.sync_engine.raw_connection)
        conn = fairy.driver_connection
        ok = False
        try:
            transaction = conn.transaction()
            _observe("BEGIN")
            await transaction.start()
            try:
                for sql, values, miss in statements:
                    _observe(sql)
                    status = await conn.execute(sql, *values)
                    if miss is not None and not status.endswith(" 1"):  # "UPDATE 1"
                        raise miss()
                _observe("COMMIT")
                await transaction.commit()
            except BaseException:
                _observe("ROLLBACK")
                await transaction.rollback()
                raise
            ok = True
        except BaseException as exc:
            if not ok and not _is_miss(exc, statements):
                # Connection trouble, a cancel mid-statement: the connection is not trusted.
                await greenlet_spawn(fairy.invalidate)
                fairy = None
            raise
        finally:
            if fairy is not None:
                await greenlet_spawn(fairy.close)


def _is_miss(exc: BaseException,
             statements: Sequence[tuple[str, Any, type[Exception] | None]]) -> bool:
    return any(type(exc) is miss for _sql, _values, miss in statements)
