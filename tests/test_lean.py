"""The intake's lean transaction (models/lean.py): a turn that writes only its draft commits it
with the update's inbox flip and kept answers on the driver's own connection. On SQLite and
PostgreSQL: it is used and atomic, a draft moved by a real concurrent writer is redone on
fresh state (answers kept once), an update processed before changes nothing, a crowd of
citizens at once all land, and SQLite's lock held by another process is waited for on the
loop."""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import col, select

from bot.geocoding import NoGeocoder
from handlers.i18n import Translator
from handlers.intake import (
    Button,
    Command,
    Event,
    Intake,
    IntakeConfig,
    Step,
    Text,
    Turn,
    fold_replies,
)
from handlers.replies import Reply
from models import db, inbox, lean, repo
from models.db import make_engine
from models.lean import LeanWriter
from models.media import MediaStore
from models.tables import Category, Citizen, Inbox
from tests.conftest import seeded_database

WIB = ZoneInfo("Asia/Jakarta")
_KEYS = itertools.count(1)
DESCRIPTION = "Jalan berlubang besar di depan pasar, sudah seminggu."


def lean_tx(world: World, *words: str) -> list[str]:
    """What one lean transaction of these statements looks like on this database: SQLite's
    BEGIN, the statements and COMMIT; PostgreSQL's one statement (models/lean.py)."""
    if world.engine.dialect.name == "postgresql":
        return ["WITH"]
    return ["BEGIN", *words, "COMMIT"]


def lost(world: World, seen: list[str]) -> bool:
    """Whether a lean attempt was made and rolled back (SQLite shows the ROLLBACK; on
    PostgreSQL the one statement failed, and what follows went through the session)."""
    if world.engine.dialect.name == "postgresql":
        return seen == ["WITH"]
    return "ROLLBACK" in seen


@dataclass
class World:
    engine: AsyncEngine
    sm: async_sessionmaker[Any]
    media: MediaStore
    category_id: int

    def intake(self, with_lean: bool = True) -> Intake:
        intake = Intake(Translator(), self.media, NoGeocoder(), IntakeConfig(tz=WIB))
        intake.lean = LeanWriter.for_engine(self.engine) if with_lean else None
        return intake

    async def citizen(self, external_id: str) -> Citizen:
        async with self.sm() as s:
            citizen, _ = await repo.upsert_citizen(s, "telegram", external_id, language="id")
            await s.commit()
            return Citizen.model_validate(citizen.model_dump())

    async def say(self, intake: Intake, citizen: Citizen, event: Event,
                  update_key: str | None = None) -> tuple[list[str], int]:
        """One update as the Telegram adapter runs it: recorded in the inbox, its claim on
        the session, its answers stashed before the commit; (answers, inbox id)."""
        key = update_key or f"{citizen.external_id}:{next(_KEYS)}"
        async with self.sm() as s:
            rid = (await inbox.record(s, "telegram", [(key, citizen.external_id, {})]))[key]
            await s.commit()
        return await self.say_recorded(intake, citizen, event, rid), rid

    async def say_recorded(self, intake: Intake, citizen: Citizen, event: Event, rid: int
                           ) -> list[str]:
        claim = inbox.Claim(rid)
        async with db.closing(self.sm()) as s:
            inbox.attach(s, claim)

            async def keep(replies: list[Reply]) -> None:
                inbox.stash(s, [{"chat": citizen.external_id, "payload": {"text": r.text}}
                                for r in fold_replies(replies)], whole=True)

            replies = await intake.handle(s, Turn(citizen=citizen), event, before_commit=keep)
            if not claim.done:
                await s.commit()
        assert claim.done
        return [r.text for r in replies]

    async def row(self, rid: int) -> Inbox:
        async with self.sm() as s:
            found = (await s.exec(select(Inbox).where(Inbox.id == rid))).one()
            await s.commit()
            return found

    async def draft(self, external_id: str) -> Any:
        async with self.sm() as s:
            found = await repo.load_draft(s, "telegram", external_id)
            await s.commit()
            return found


@pytest.fixture
async def world(db_url: str, tmp_path: Path) -> AsyncIterator[World]:
    engine, sm = await seeded_database(db_url)
    async with sm() as s:
        cat = (await s.exec(select(Category).where(Category.code == "jalan"))).one()
        await s.commit()
    try:
        yield World(engine, sm, MediaStore(tmp_path / "media"), cat.id or 0)
    finally:
        await engine.dispose()


@pytest.fixture
def seen() -> AsyncIterator[list[str]]:
    """The SQL the lean writers run, first words."""
    statements: list[str] = []

    def observe(sql: str) -> None:
        statements.append(sql.split(None, 1)[0].upper())

    lean.OBSERVERS.append(observe)
    yield statements  # type: ignore[misc]
    lean.OBSERVERS.remove(observe)


async def test_a_turn_moving_only_its_draft_commits_it_with_its_flip_lean(
        world: World, seen: list[str]) -> None:
    """Category and description: each turn's draft write, inbox flip and kept answers in one
    lean transaction (BEGIN, two UPDATEs, COMMIT), as the session would have written them."""
    intake = world.intake()
    citizen = await world.citizen("501")
    await world.say(intake, citizen, Command("lapor"))  # reads the limits: the session's path
    seen.clear()
    answers, rid = await world.say(intake, citizen, Button("cat", str(world.category_id)))
    assert seen == lean_tx(world, "UPDATE", "UPDATE"), seen
    row = await world.row(rid)
    assert row.status == "done" and row.processed_at is not None
    assert [item["payload"]["text"] for item in row.answer or []] == answers
    answers, rid = await world.say(intake, citizen, Text(DESCRIPTION))
    draft = await world.draft("501")
    assert draft.step == Step.MEDIA.value and draft.data["description"] == DESCRIPTION
    assert seen == 2 * lean_tx(world, "UPDATE", "UPDATE"), seen
    # The same state another process (no lean writer, no cache) reads and goes on from.
    other = world.intake(with_lean=False)
    more, _ = await world.say(other, citizen, Command("batal"))
    assert await world.draft("501") is None and more


async def test_a_draft_moved_meanwhile_is_redone_on_fresh_state_with_answers_kept_once(
        world: World, seen: list[str]) -> None:
    """A holds the draft in its cache; B (another process) cancels and starts again. A's
    lean compare-and-set loses: the turn is redone on the draft as B left it, its answers
    kept once (those of the lost attempt taken back), and the update is done once."""
    a, b = world.intake(), world.intake()
    citizen = await world.citizen("502")
    await world.say(a, citizen, Command("lapor"))
    await world.say(a, citizen, Button("cat", str(world.category_id)))  # A: description step
    await world.say(b, citizen, Command("batal"))
    await world.say(b, citizen, Command("lapor"))  # B: a new draft at the category step
    seen.clear()
    answers, rid = await world.say(a, citizen, Text(DESCRIPTION))
    assert lost(world, seen), seen  # the lean attempt was made and lost
    draft = await world.draft("502")
    assert draft.step == Step.CATEGORY.value and "description" not in draft.data
    expected = Translator().bind("id")("expect-category")
    assert answers and answers[0].startswith(expected), answers
    row = await world.row(rid)
    assert row.status == "done"
    assert [item["payload"]["text"] for item in row.answer or []] == answers


async def test_an_update_processed_before_changes_nothing(world: World,
                                                          seen: list[str]) -> None:
    """The update's row was flipped elsewhere (a re-delivery, another worker) before A's
    lean commit: AlreadyProcessed, and the draft write went back with it."""
    intake = world.intake()
    citizen = await world.citizen("503")
    await world.say(intake, citizen, Command("lapor"))
    await world.say(intake, citizen, Button("cat", str(world.category_id)))
    before = await world.draft("503")
    async with world.sm() as s:
        key = "503:again"
        rid = (await inbox.record(s, "telegram", [(key, "503", {})]))[key]
        await s.execute(update(Inbox).where(col(Inbox.id) == rid).values(status="done"))
        await s.commit()
    seen.clear()
    with pytest.raises(inbox.AlreadyProcessed):
        await world.say_recorded(intake, citizen, Text(DESCRIPTION), rid)
    assert lost(world, seen), seen
    after = await world.draft("503")
    assert (after.step, after.version, after.data) == (before.step, before.version, before.data)
    # The cache was dropped with it: the next turn reads the draft and goes on from it.
    answers, _ = await world.say(intake, citizen, Text(DESCRIPTION))
    assert (await world.draft("503")).step == Step.MEDIA.value and answers


async def test_a_crowd_at_once_with_another_process_racing_half_of_them(
        world: World, seen: list[str]) -> None:
    """60 citizens at once through /lapor, category and description on this process (lean
    commits from its cache); for 30 of them another process sends the description at the
    same moment. Every update is done, every draft moved past the description exactly once
    per accepted turn, and no turn failed."""
    a, b = world.intake(), world.intake()
    people = [await world.citizen(str(600 + i)) for i in range(60)]

    async def walk(citizen: Citizen) -> None:
        await world.say(a, citizen, Command("lapor"))
        await world.say(a, citizen, Button("cat", str(world.category_id)))
        await world.say(a, citizen, Text(DESCRIPTION))

    await asyncio.gather(*(walk(c) for c in people))
    # Category and description of each: lean.
    assert seen.count(lean_tx(world)[-1]) >= 120, seen

    async def race(citizen: Citizen) -> None:
        await world.say(a, citizen, Command("lapor"))
        await world.say(a, citizen, Button("cat", str(world.category_id)))
        await asyncio.gather(world.say(a, citizen, Text(DESCRIPTION + " (A)")),
                             world.say(b, citizen, Text(DESCRIPTION + " (B)")))

    await asyncio.gather(*(race(c) for c in people[:30]))
    async with world.sm() as s:
        states = dict((await s.exec(select(Inbox.status, text("count(*)"))  # type: ignore[call-overload]
                                    .group_by(col(Inbox.status)))).all())
        await s.commit()
    assert states == {"done": 60 * 3 + 30 * 4}, states
    for citizen in people:
        draft = await world.draft(citizen.external_id)
        # One description was taken; the other turn met the photo step and was told so.
        assert draft.step == Step.MEDIA.value, draft
        assert draft.data["description"].startswith(DESCRIPTION)


HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
print("released", flush=True)
"""


async def test_sqlite_lock_of_another_process_is_waited_for_on_the_loop(
        world: World, seen: list[str]) -> None:
    """Another process holds SQLite's write lock: the lean commit waits by sleeping on the
    loop (other work goes on), then commits once the lock is let go."""
    if world.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's file lock")
    intake = world.intake()
    citizen = await world.citizen("504")
    await world.say(intake, citizen, Command("lapor"))
    seen.clear()
    async with world.sm() as s:  # recorded before the lock is taken, as polling does
        rid = (await inbox.record(s, "telegram", [("504:cat", "504", {})]))["504:cat"]
        await s.commit()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(world.engine.url.database),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert (await proc.stdout.readline()).strip() == b"held"
        task = asyncio.create_task(world.say_recorded(
            intake, citizen, Button("cat", str(world.category_id)), rid))
        for _ in range(20):  # the loop keeps running while the lean BEGIN waits
            await asyncio.sleep(0.01)
        assert not task.done()
        assert seen == ["BEGIN"], seen
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        assert (await proc.stdout.readline()).strip() == b"released"
        answers = await asyncio.wait_for(task, 30)
        assert answers and (await world.row(rid)).status == "done"
        assert (await world.draft("504")).step == Step.DESCRIPTION.value
        assert seen == lean_tx(world, "UPDATE", "UPDATE"), seen
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_postgres_dead_idle_connection_is_replaced_before_a_lean_commit(
        world: World, seen: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The lean writer borrows from the engine's pool, so a connection the server dropped
    while it sat idle is tested and replaced before the turn's transaction, as the
    session's path does."""
    if world.engine.dialect.name != "postgresql":
        pytest.skip("pooled server connections: PostgreSQL only")
    intake = world.intake()
    citizen = await world.citizen("505")
    await world.say(intake, citizen, Command("lapor"))
    other = make_engine(str(world.engine.url.render_as_string(hide_password=False)))
    try:
        async with other.connect() as c:
            await c.execute(text(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where datname = current_database() and pid <> pg_backend_pid()"))
            await c.commit()
    finally:
        await other.dispose()
    monkeypatch.setattr(db, "PING_IDLE_S", 0.0)
    answers, rid = await world.say(intake, citizen, Button("cat", str(world.category_id)))
    assert seen[-len(lean_tx(world)):] == lean_tx(world, "UPDATE", "UPDATE") and answers
    assert (await world.row(rid)).status == "done"


async def test_start_drops_the_draft_with_its_flip_lean(world: World, seen: list[str]) -> None:
    """/start: the draft's DELETE (whichever version; none there is fine too), the update's
    flip and its kept greeting in one lean transaction; a new report after it starts fresh
    without reading the draft again."""
    intake = world.intake()
    citizen = await world.citizen("506")
    await world.say(intake, citizen, Command("lapor"))
    await world.say(intake, citizen, Button("cat", str(world.category_id)))
    for _ in range(2):  # with a draft, then with none
        seen.clear()
        async with world.sm() as s:
            key = f"506:start:{next(_KEYS)}"
            rid = (await inbox.record(s, "telegram", [(key, "506", {})]))[key]
            await s.commit()
        claim = inbox.Claim(rid)
        async with db.closing(world.sm()) as s:
            inbox.attach(s, claim)

            async def keep(replies: list[Reply], s: Any = s) -> None:
                inbox.stash(s, [{"chat": "506", "payload": {"text": r.text}} for r in replies],
                            whole=True)

            replies = await intake.start(s, Turn(citizen=citizen), before_commit=keep)
            assert not s.in_transaction()
        assert claim.done and seen == lean_tx(world, "DELETE", "UPDATE"), seen
        assert await world.draft("506") is None
        row = await world.row(rid)
        assert row.status == "done"
        assert [i["payload"]["text"] for i in row.answer or []] == [r.text for r in replies]
    seen.clear()
    await world.say(intake, citizen, Command("lapor"))  # known absent: inserted, not read
    assert seen == lean_tx(world, "INSERT", "UPDATE"), seen
    assert (await world.draft("506")).step == Step.CATEGORY.value


async def test_sqlite_writers_queued_past_the_takeover_wait_all_commit_and_free_the_lock(
        world: World, seen: list[str], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Another process holds SQLite's write lock longer than LOCK_WAIT_S (up to the busy
    timeout is allowed) while a lean commit holds this process's lock, waiting in BEGIN.
    The writers queued behind it, a lean one and a session's, take over once the wait is
    up (as the session's path always did) and wait for SQLite's lock: none fails, none
    releases the lock another holds, and the lock is free after."""
    if world.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's file lock")
    monkeypatch.setattr(lean, "LOCK_WAIT_S", 0.2)
    intake, plain = world.intake(), world.intake(with_lean=False)
    people = [await world.citizen(str(507 + i)) for i in range(3)]
    rids = []
    for citizen in people:
        await world.say(intake, citizen, Command("lapor"))
        async with world.sm() as s:  # recorded before the lock is taken, as polling does
            key = f"{citizen.external_id}:cat"
            rids.append((await inbox.record(s, "telegram", [(key, citizen.external_id, {})]))[
                key])
            await s.commit()
    began, took_over, both = asyncio.Event(), asyncio.Event(), asyncio.Event()
    overs: list[str] = []
    seen.clear()
    lean.OBSERVERS.append(lambda sql: began.set() if sql.startswith("BEGIN") else None)

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "taking over" in record.getMessage():
                overs.append(record.getMessage())
                (both if len(overs) == 2 else took_over).set()

    watch = Watch()
    logging.getLogger("models.db").addHandler(watch)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(world.engine.url.database),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    cat = Button("cat", str(world.category_id))
    try:
        assert (await proc.stdout.readline()).strip() == b"held"
        first = asyncio.create_task(world.say_recorded(intake, people[0], cat, rids[0]))
        await began.wait()  # the first lean commit has the lock and waits in BEGIN
        second = asyncio.create_task(world.say_recorded(intake, people[1], cat, rids[1]))
        third = asyncio.create_task(world.say_recorded(plain, people[2], cat, rids[2]))
        await took_over.wait()  # a writer queued behind it waited LOCK_WAIT_S: taken over
        assert not second.done(), second  # the lean one waits on (not failed)
        await both.wait()  # and the session's
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        assert (await proc.stdout.readline()).strip() == b"released"
        results = await asyncio.wait_for(
            asyncio.gather(first, second, third, return_exceptions=True), 30)
        assert all(isinstance(r, list) and r for r in results), results
        for citizen, rid in zip(people, rids, strict=True):
            assert (await world.row(rid)).status == "done"
            assert (await world.draft(citizen.external_id)).step == Step.DESCRIPTION.value
        # The lock is free: a lean commit and a session's transaction get it at once.
        answers, _ = await asyncio.wait_for(world.say(intake, people[0], Text(DESCRIPTION)), 1)
        answers, _ = await asyncio.wait_for(world.say(plain, people[1], Text(DESCRIPTION)), 1)
        assert answers
    finally:
        logging.getLogger("models.db").removeHandler(watch)
        lean.OBSERVERS.pop()
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_a_conflict_through_the_session_queues_the_channels_replies_once(
        world: World) -> None:
    """A held-back draft write that commits through the session (the channel's
    `before_commit` queued its replies as outbox rows, as WhatsApp does) and loses its
    compare-and-set: the redo queues the replies once, for the turn as redone."""
    from handlers import lifecycle
    from models.tables import Outbox

    a, b = world.intake(), world.intake()
    citizen = await world.citizen("507")
    await world.say(a, citizen, Command("lapor"))
    await world.say(a, citizen, Button("cat", str(world.category_id)))  # A: description step
    await world.say(b, citizen, Command("batal"))
    await world.say(b, citizen, Command("lapor"))  # moved: A's cached draft is stale
    async with db.closing(world.sm()) as s:
        async def queue(replies: list[Reply]) -> None:
            for reply in fold_replies(replies):
                lifecycle.enqueue(s, "507", "text", {"text": reply.text})

        replies = await a.handle(s, Turn(citizen=citizen), Text(DESCRIPTION),
                                 before_commit=queue)
    async with world.sm() as s:
        rows = (await s.exec(select(Outbox).where(Outbox.chat_id == "507"))).all()
    assert [r.payload["text"] for r in rows] == [r.text for r in replies], rows
    assert (await world.draft("507")).step == Step.CATEGORY.value
