"""Transactions under concurrency: SQLite's write lock survives cancellation, a draft moved by
another process is detected and the turn redone on fresh state, and an update is marked done
only with its effects. On SQLite always, and on PostgreSQL where it applies."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select

from bot.geocoding import NoGeocoder
from handlers.i18n import Translator
from handlers.intake import Button, Command, Intake, IntakeConfig, Step, Text, Turn
from models import db, repo
from models.db import LOCK_TAKEOVER_S, make_engine, make_sessionmaker, migrate
from models.media import MediaStore
from models.seed import load_seed
from models.tables import Category, Citizen, Draft, Inbox
from tests.conftest import SEED, Harness, jpeg_bytes, new_user

WIB = ZoneInfo("Asia/Jakarta")
SLOW_READ = ("with recursive c(i) as (select 1 union all select i + 1 from c where i < 200000) "
             "select count(*) from c")


async def test_cancelled_transactions_never_leave_sqlite_locked(tmp_path: Path) -> None:
    """A read or a write cancelled at any point (waiting for the lock, mid-statement, between
    statements) releases the write lock: the next writer gets in at once."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'lock.db'}")
    sm = make_sessionmaker(engine)
    async with engine.begin() as conn:
        await conn.execute(text("create table t (x int)"))

    async def reader() -> None:
        async with sm() as s:
            await s.execute(text(SLOW_READ))

    async def writer() -> None:
        async with sm() as s:
            await s.execute(text("insert into t values (1)"))
            await asyncio.sleep(0)
            await s.execute(text(SLOW_READ))
            await s.commit()

    try:
        for yields in range(12):
            work = [asyncio.create_task(f()) for f in (reader, writer, reader)]
            for _ in range(yields):  # cancel after a different number of steps each time
                await asyncio.sleep(0)
            for task in work:
                task.cancel()
            outcomes = await asyncio.gather(*work, return_exceptions=True)
            assert all(o is None or isinstance(o, asyncio.CancelledError) for o in outcomes), \
                outcomes
            # The lock hands over at once; a holder lost without a trace is taken over after
            # LOCK_TAKEOVER_S (SQLite still admits one writer): never the 30 s busy timeout.
            async with asyncio.timeout(LOCK_TAKEOVER_S + 5):
                async with sm() as s:
                    await s.execute(text("insert into t values (2)"))
                    await s.commit()
    finally:
        await engine.dispose()


async def test_draft_moved_by_another_process_is_redone_on_fresh_state(db_url: str,
                                                                         tmp_path: Path
                                                                         ) -> None:
    """Two processes (two Intakes, each with its own draft cache) on one database: the one
    holding a stale draft conflicts on its compare-and-set and redoes the turn on the draft
    as the other left it, instead of overwriting it."""
    engine = make_engine(db_url)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    try:
        async with sm() as s:
            await load_seed(s, SEED)
            citizen, _ = await repo.upsert_citizen(s, "telegram", "777", language="id")
            cat = (await s.exec(select(Category).where(Category.code == "jalan"))).one()
            await s.commit()
        s.expunge_all()
        media = MediaStore(tmp_path / "media")
        a, b = (Intake(Translator(), media, NoGeocoder(), IntakeConfig(tz=WIB))
                for _ in range(2))
        turn = Turn(citizen=Citizen.model_validate(citizen.model_dump()))

        async def say(intake: Intake, event: object) -> list[str]:
            async with sm() as s:
                return [r.text for r in await intake.handle(s, turn, event)]  # type: ignore[arg-type]

        await say(a, Command("lapor"))
        await say(a, Button("cat", str(cat.id)))  # A caches the draft at the description step
        await say(b, Command("batal"))  # B (no cache): cancels, and starts a fresh report

        await say(b, Command("lapor"))
        # A still believes the draft waits for a description; its write must not win.
        replies = await say(a, Text("Jalan berlubang besar di depan pasar."))
        async with sm() as s:
            draft = await repo.load_draft(s, "telegram", "777")
            await s.commit()
        assert draft is not None and draft.step == Step.CATEGORY.value
        assert "description" not in draft.data
        expected = Translator().bind("id")("expect-category")
        assert replies and replies[0].startswith(expected), replies
    finally:
        await engine.dispose()


async def test_media_turn_is_marked_done_only_with_its_effect(harness: Harness) -> None:
    """A photo's update is marked done in the transaction that puts the file's id in the
    draft, before the download starts (in the background): a crash during the download
    loses nothing (Send downloads the file again), and none re-processes the update."""
    h, user = harness, new_user()
    await h.say(user, "/start")
    await h.press(user, "new")
    async with h.sessionmaker() as s:
        cat = (await s.exec(select(Category).where(Category.code == "jalan"))).one()
        await s.commit()
    await h.press(user, "cat", str(cat.id))
    await h.say(user, "Jalan berlubang besar di depan SD 003, sudah dua minggu.")
    assert h.app is not None
    h.app.intake._drafts.clear()  # as after a restart, or in another process
    photo = h.fake.add_file(jpeg_bytes("blue"), file_path="photos/slow.jpg")
    h.fake.hang_next("getFile", 2.0)
    mark = h.fake.mark()
    update_id = h.fake.push_update(h.fake.make_message(user, user, None, photo=photo))
    await h.fake.wait_for(None, lambda c: c.chat_id == user and "(1/5)" in (c.text or ""),
                          since=mark)
    # Answered while Telegram still holds the getFile (2 s).
    assert not [c for c in h.fake.calls[mark:] if c.method == "getFile" and c.ok]
    async with h.sessionmaker() as s:
        row = (await s.exec(select(Inbox).where(Inbox.update_key == str(update_id)))).one()
        draft = (await s.exec(select(Draft).where(Draft.external_id == str(user)))).one()
        await s.commit()
    assert row.status == "done", "the download started before the turn was committed"
    assert draft.data["media"][0]["pending"] == photo
    await h.fake.wait_for("getFile", since=mark, timeout=10)  # then the download goes on


HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("insert into t values (0)")
print("held", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
print("released", flush=True)
"""


@contextlib.asynccontextmanager
async def _locked_by_another(path: Path) -> AsyncIterator[
        tuple[async_sessionmaker[Any], asyncio.subprocess.Process]]:
    """An engine on a new database with one table, and another process holding SQLite's
    write lock on it until told to commit (or killed)."""
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.execute(text("create table t (x int)"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(path), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert (await proc.stdout.readline()).strip() == b"held"
        yield make_sessionmaker(engine), proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        await engine.dispose()


async def test_writer_waits_for_another_process_without_blocking_the_loop(tmp_path: Path
                                                                          ) -> None:
    """SQLite's calls run on the loop's thread (models/sqlite_inline.py): a writer meeting
    another process's write lock waits by sleeping on the loop, so other chats' work goes on,
    and gets in once the lock is released, its write committed with the other's."""
    async with _locked_by_another(tmp_path / "busy.db") as (sm, holder):
        async def writer() -> None:
            async with sm() as s:
                await s.execute(text("insert into t values (1)"))
                await s.commit()

        task = asyncio.create_task(writer())
        ticks = 0
        while ticks < 20:  # the loop keeps running other work while the writer waits
            await asyncio.sleep(0.01)
            ticks += 1
            assert not task.done(), task  # cannot have written: the lock is held
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.write(b"go\n")
        await holder.stdin.drain()
        assert (await holder.stdout.readline()).strip() == b"released"
        await asyncio.wait_for(task, 30)
        async with sm() as s:
            assert sorted((await s.execute(text("select x from t"))).scalars()) == [0, 1]


async def test_writer_gives_up_after_the_busy_timeout(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A lock another process never lets go of ends in 'database is locked' once the busy
    timeout has passed, not in a loop blocked or waiting forever; the engine works after."""
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 300)
    async with _locked_by_another(tmp_path / "stuck.db") as (sm, holder):
        with pytest.raises(OperationalError, match="locked"):
            async with sm() as s:
                await s.execute(text("insert into t values (1)"))
        holder.kill()
        await holder.wait()
        async with sm() as s:
            await s.execute(text("insert into t values (2)"))
            await s.commit()
            assert list((await s.execute(text("select x from t"))).scalars()) == [2]


async def test_a_dead_idle_connection_is_replaced_before_use(db_url: str,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """PostgreSQL: a pooled connection the server dropped while it sat idle (a restart, an
    idle timeout) is tested before use and replaced, so the use case after it runs; one
    idle only briefly is not pinged (no round trips per update under load)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("pooled server connections: PostgreSQL only")
    engine = make_engine(db_url, pool_size=1)
    sm = make_sessionmaker(engine)
    pings: list[int] = []

    try:
        async with sm() as s:
            pid = await s.scalar(text("select pg_backend_pid()"))
        async with sm() as s:  # idle for less than PING_IDLE_S: the same connection, no ping
            assert await s.scalar(text("select pg_backend_pid()")) == pid
        conn = await engine.connect()
        raw = (await conn.get_raw_connection()).dbapi_connection
        real_ping = type(raw).ping

        def counting_ping(self: Any) -> None:
            pings.append(1)
            real_ping(self)

        await conn.close()
        monkeypatch.setattr(type(raw), "ping", counting_ping)
        async with sm() as s:
            await s.scalar(text("select 1"))
        assert pings == []
        # The server drops the pooled connection; it is then idle "long enough".
        other = make_engine(db_url)
        async with other.connect() as c:
            await c.execute(text(f"select pg_terminate_backend({pid})"))
            await c.commit()
        await other.dispose()
        monkeypatch.setattr(db, "PING_IDLE_S", 0.0)
        async with sm() as s:
            fresh = await s.scalar(text("select pg_backend_pid()"))
        assert fresh != pid and pings == [1]
    finally:
        await engine.dispose()


def test_head_revision_read_from_the_files_is_alembics() -> None:
    """`migrate` skips loading Alembic when the database is at the head it reads from the
    migration files: that must be the head Alembic itself computes."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(db.alembic_config())
    assert db.head_revision() == script.get_current_head()


async def test_a_begin_on_a_dead_sqlite_connection_invalidates_it(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE goes straight to sqlite3; any failure but the lock goes through
    SQLAlchemy once more, which wraps it and throws the dead connection away: the lock is
    given back and the next transaction runs on a fresh connection."""
    from sqlalchemy.exc import DBAPIError

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'dead.db'}")
    await migrate(engine)
    try:
        conn = await engine.connect()
        raw = (await conn.get_raw_connection()).driver_connection
        raw._conn.close()  # the file handle gone under the pool's feet
        with pytest.raises(DBAPIError) as caught:
            await conn.begin()
        assert caught.value.connection_invalidated
        await conn.close()
        sm = make_sessionmaker(engine)
        async with asyncio.timeout(5), sm() as s:  # not stuck on the write lock
            await repo.save_draft(s, "telegram", "1", "category", {}, None)
            await s.commit()
    finally:
        await engine.dispose()
