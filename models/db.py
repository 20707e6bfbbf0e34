"""Engine and session factory.

SQLite: WAL, a busy timeout, foreign keys, and our own transaction control. pysqlite's
implicit transactions make a SAVEPOINT open the transaction and its RELEASE commit it, and a
deferred transaction that reads and later writes fails at once with SQLITE_BUSY when another
connection committed meanwhile. So the driver's handling is switched off and every
transaction starts with `BEGIN IMMEDIATE` (SQLAlchemy's documented recipe for pysqlite and
aiosqlite): writers queue on the busy timeout instead of failing, and a turn, its events and
its outbox rows commit together. Transactions must therefore stay short: no network call
inside one (see ARCHITECTURE.md, "Prepare, commit, send").
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only
from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 30_000
LOCK_TAKEOVER_S = 5.0


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """Async engine for a sqlite+aiosqlite or postgresql+asyncpg URL."""
    if url.startswith("sqlite"):
        # One transaction at a time (the lock below), so a few connections are plenty; each
        # one is a thread and a page cache of its own.
        engine = create_async_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
                                     pool_size=3, max_overflow=2, pool_timeout=120)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, fast
            cur.close()

        # Writers of this process queue on an asyncio lock (first come, first served) before
        # BEGIN IMMEDIATE: SQLite's busy handler would make them sleep in growing steps (up to
        # 100 ms) and retry; the lock hands over the moment the previous transaction ends.
        # The busy timeout still covers other processes (`aduan seed` beside a running bot).
        lock = asyncio.Lock()
        # Who holds it, by Connection and by DBAPI connection: identity checks only, which
        # work even on an invalidated connection (whose `.info` raises).
        held: dict[str, Any] = {"conn": None, "dbapi": None}

        def _release() -> None:
            held["conn"] = held["dbapi"] = None
            if lock.locked():
                lock.release()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            try:
                await_only(asyncio.wait_for(lock.acquire(), LOCK_TAKEOVER_S))
            except TimeoutError:
                # No transaction here lasts that long: the holder is gone without a trace (a
                # task cancelled while its connection was being discarded). Taking over is
                # safe: SQLite's own lock still admits one writer at a time.
                log.error("SQLite write lock held for %ss by a lost connection: taking over",
                          LOCK_TAKEOVER_S)
            held["conn"], held["dbapi"] = conn, conn.connection.dbapi_connection
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                if held["conn"] is conn:  # not already released by the invalidation
                    _release()
                raise

        def _ended(conn: Any) -> None:
            if held["conn"] is conn:
                _release()

        event.listen(engine.sync_engine, "commit", _ended)
        event.listen(engine.sync_engine, "rollback", _ended)

        def _gone(dbapi_conn: Any, *_args: Any) -> None:
            # The connection went back to the pool, was invalidated, or was dropped (a task
            # cancelled mid-statement, a session never closed): the lock must not die with it.
            if dbapi_conn is not None and held["dbapi"] is dbapi_conn:
                _release()

        for name in ("checkin", "reset", "invalidate", "soft_invalidate", "detach",
                     "close", "close_detached"):
            event.listen(engine.sync_engine.pool, name, _gone)

        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=10)


def make_reader(url: str) -> AsyncEngine | None:
    """For SQLite, an engine for long reads (reports, exports, the digest): its transactions
    begin DEFERRED and skip the write queue, so under WAL they read a snapshot while citizens'
    turns keep writing. It must never write. None for PostgreSQL, whose reads never block
    writers: use the main engine."""
    if not url.startswith("sqlite"):
        return None
    engine = create_async_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
                                 pool_size=2, max_overflow=2, pool_timeout=120)

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA query_only=ON")  # a write through this engine fails loudly
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest Alembic revision."""

    def _upgrade(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


class AlreadyRunning(Exception):
    """Another process already serves this SQLite database."""


def hold_sqlite(url: str) -> Any:
    """For a SQLite URL, an exclusive lock on `<database>.lock` held until the returned file is
    closed (or the process ends); AlreadyRunning when another process holds it. SQLite is the
    embedded default for one process: the per-chat order, the write queue and flood control
    live in that process. PostgreSQL URLs need no lock (None)."""
    import fcntl

    from sqlalchemy import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database or \
            parsed.database == ":memory:":
        return None
    path = Path(parsed.database).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(f"{path}.lock", "a+")  # noqa: SIM115 - held for the process's lifetime
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise AlreadyRunning(str(path)) from None
    return handle
