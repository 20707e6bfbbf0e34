"""SQLite on the event loop's own thread, behind the interface SQLAlchemy's aiosqlite dialect
drives.

aiosqlite runs each connection in a thread and hands every call over through a queue and a
future: for the short statements of a chat turn (tens of microseconds in SQLite) the hand-over
costs more CPU than the statement, and wakes the event loop through its self-pipe each time.
Here each call runs the `sqlite3` call at once and returns a coroutine that never suspends, so
SQLAlchemy's `await_` completes without a loop iteration. Safe because this process's writers
queue on an asyncio lock before `BEGIN IMMEDIATE` (models/db.py) and that BEGIN waits for
another process's write lock by sleeping on the loop, not in SQLite's busy handler; the
connection's own busy timeout is kept short for the rare waits elsewhere. Long reads (reports,
exports) use the reader engine, which stays on aiosqlite's threads.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any


class _Now:
    """Stands in for aiosqlite's request queue: runs the call at once and resolves its
    future (SQLAlchemy sets `isolation_level` through it)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting caller
            future.set_exception(exc)


class InlineCursor:
    """An aiosqlite-shaped cursor whose coroutines run the sqlite3 call and return."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Iterable[Any] = ()) -> InlineCursor:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]
                          ) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size or self._cursor.arraysize)

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class InlineConnection:
    """An aiosqlite-shaped connection over a plain sqlite3 connection on the loop's thread."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn  # falsy once closed, as aiosqlite's
        self._tx = _Now(conn)

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Iterable[Any] = ()) -> InlineCursor:
        return InlineCursor(self._conn.execute(sql, parameters))

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        """Close at once (SQLAlchemy's terminate)."""
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction


def connector(database: str, busy_timeout_s: float) -> Callable[[], Any]:
    """An `async_creator` for create_async_engine: inline connections to `database`."""

    async def connect() -> InlineConnection:
        # check_same_thread off: SQLAlchemy may close a connection from the pool's finaliser.
        conn = sqlite3.connect(database, timeout=busy_timeout_s, isolation_level=None,
                               check_same_thread=False)
        return InlineConnection(conn)

    return connect
