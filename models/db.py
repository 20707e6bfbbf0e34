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
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only
from sqlmodel.ext.asyncio.session import AsyncSession

from models import jsoncodec, lean, sqlite_inline

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 30_000
PING_IDLE_S = 10.0  # a pooled PostgreSQL connection idle this long is tested before use
PAGE_CACHE_KIB = 1024
INLINE_BUSY_MS = 100  # the longest an inline SQLite call may block the loop on a lock
LOCK_TAKEOVER_S = lean.LOCK_WAIT_S
# JSON columns through orjson (models/jsoncodec.py), on every engine.
_JSON: dict[str, Any] = {"json_serializer": jsoncodec.dumps,
                         "json_deserializer": jsoncodec.loads}


def make_engine(url: str, *, pool_size: int = 25) -> AsyncEngine:
    """Async engine for a sqlite+aiosqlite or postgresql+asyncpg URL."""
    if url.startswith("sqlite"):
        # One transaction at a time (the lock below), so a few connections are plenty; each
        # one is a thread and a page cache of its own.
        database = make_url(url).database
        inline = bool(database) and database != ":memory:" and not make_url(url).query
        if inline:
            # SQLite's calls on the loop's own thread (models/sqlite_inline.py): a short
            # busy timeout, since waiting in it would block the loop; BEGIN waits below.
            engine = create_async_engine(
                url, async_creator=sqlite_inline.connector(database, INLINE_BUSY_MS / 1000),
                pool_size=3, max_overflow=2, pool_timeout=120, **_JSON)
        else:
            engine = create_async_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
                                         pool_size=3, max_overflow=2, pool_timeout=120, **_JSON)
        busy_ms = INLINE_BUSY_MS if inline else BUSY_TIMEOUT_MS

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
            _sqlite_pragmas(dbapi_conn.cursor(), busy_ms)

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
                await_only(lean.take_lock(lock))
            except TimeoutError:
                # No transaction here lasts that long: the holder is gone without a trace (a
                # task cancelled while its connection was being discarded). Taking over is
                # safe: SQLite's own lock still admits one writer at a time.
                log.error("SQLite write lock held for %ss by a lost connection: taking over",
                          LOCK_TAKEOVER_S)
            held["conn"], held["dbapi"] = conn, conn.connection.dbapi_connection
            try:
                _begin_immediate(conn, inline)
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

        if inline:
            def _lean_connect() -> sqlite3.Connection:
                conn = sqlite3.connect(database, timeout=INLINE_BUSY_MS / 1000,
                                       isolation_level=None, check_same_thread=False)
                _sqlite_pragmas(conn.cursor(), INLINE_BUSY_MS)
                return conn

            async def _lean_take(owner: object) -> None:
                try:
                    await lean.take_lock(lock)
                except TimeoutError:  # as in `_sqlite_begin`
                    log.error("SQLite write lock held for %ss by a lost connection: taking over",
                              LOCK_TAKEOVER_S)
                held["conn"] = held["dbapi"] = owner

            def _lean_give(owner: object) -> None:
                if held["conn"] is owner:  # not taken over meanwhile: the taker releases
                    _release()

            lean.register_sqlite(engine, _lean_take, _lean_give, _lean_connect)
        return engine
    # PostgreSQL's transactions overlap (each waits on round trips), so a crowd keeps more of
    # them in flight than there are connections. Overflow connections are closed when given
    # back, so under a crowd the pool kept opening and closing them, each a TLS probe and a
    # start-up (2-4 % of the bot's CPU with 10 + 10, and with 20 + 5). 25 that stay open and
    # no overflow: a transaction beyond them waits for one (2 workers in
    # deploy/compose.yaml: 50 of PostgreSQL's default 100).
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, **_JSON)
    _ping_after_idle(engine)
    return engine


def _sqlite_pragmas(cur: Any, busy_ms: int) -> None:
    """WAL, the busy timeout, foreign keys, and the cache, on a new connection."""
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={busy_ms}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, fast
    # 1 MiB of page cache per connection (SQLite's default is 2): a turn touches a few pages
    # near the ends of its tables, and the OS caches the file anyway.
    cur.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
    cur.close()


def _ping_after_idle(engine: AsyncEngine) -> None:
    """Test a pooled PostgreSQL connection before use only when it sat idle for PING_IDLE_S
    (a restarted server, a dropped idle connection): SQLAlchemy's `pool_pre_ping` pings on
    every checkout, which with asyncpg is three round trips (BEGIN, `;`, ROLLBACK) per
    update under load. A connection found dead is replaced before the use case runs."""

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _idle(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _check(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_IDLE_S:
            return
        try:
            dbapi_conn.ping()
        except Exception as exc:  # the pool discards it and connects afresh
            log.info("a pooled database connection was dead after %.0f s idle: replaced",
                     time.monotonic() - since)
            raise DisconnectionError(str(exc)) from exc


def _begin_immediate(conn: Connection, inline: bool) -> None:
    """BEGIN IMMEDIATE; on an inline connection, another process's write lock is waited for
    by sleeping on the loop (up to the busy timeout), not in SQLite's busy handler."""
    if not inline:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        return
    # Straight on the sqlite3 connection: SQLAlchemy's statement path (an execution context
    # and a result for a BEGIN) cost ~25 µs of a turn's CPU.
    raw: sqlite3.Connection = conn.connection.dbapi_connection.driver_connection._conn
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            raw.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                if time.monotonic() >= deadline:
                    raise OperationalError("BEGIN IMMEDIATE", (), exc) from exc
            else:  # anything but the lock (a closed connection, a disk error): once more
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # through SQLAlchemy, which
                return  # invalidates a dead connection and wraps the error
        except sqlite3.Error:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        await_only(asyncio.sleep(pause))
        pause = min(pause * 2, 0.1)


def make_reader(url: str) -> AsyncEngine | None:
    """For SQLite, an engine for long reads (reports, exports, the digest): its transactions
    begin DEFERRED and skip the write queue, so under WAL they read a snapshot while citizens'
    turns keep writing. It must never write. None for PostgreSQL, whose reads never block
    writers: use the main engine."""
    if not url.startswith("sqlite"):
        return None
    engine = create_async_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
                                 pool_size=2, max_overflow=2, pool_timeout=120, **_JSON)

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


class closing:  # noqa: N801 - used like contextlib.closing
    """`async with closing(maker()) as session`: like the session's own `async with`, but a
    session holding no connection (its use case committed) is closed in place, and one that
    holds nothing at all is left as it is. SQLAlchemy closes in a task of its own, shielded
    from cancellation, which costs a task and three turns of the loop per update; a close
    with nothing to give back cannot be interrupted."""

    __slots__ = ("session",)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def __aenter__(self) -> AsyncSession:
        return self.session

    async def __aexit__(self, *exc: Any) -> None:
        session = self.session
        if session.in_transaction():
            await session.__aexit__(*exc)
            return
        sync = session.sync_session
        if sync.identity_map or sync.new or sync.deleted:
            await session.close()
        # Else nothing to give back or forget (a turn committed lean never began one): the
        # close, a hop into SQLAlchemy's greenlet, is skipped.


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


_REVISION = re.compile(r"^(down_revision|revision)\b[^=\n]*=\s*['\"]?(\w+)['\"]?", re.M)


def head_revision() -> str | None:
    """The newest migration's revision id, read from the files without importing Alembic
    (~10 MB resident); None when the files do not show exactly one head."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = dict(_REVISION.findall(path.read_text()))
        if "revision" in found:
            revisions.add(found["revision"])
            parents.add(found.get("down_revision"))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest Alembic revision (Alembic is loaded only when the
    database is not there yet)."""

    def _upgrade(conn: Connection) -> None:
        head = head_revision()
        if head is not None and _current_revision(conn) == head:
            return  # every restart of a deployed bot
        from alembic import command

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
