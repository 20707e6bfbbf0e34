"""WhatsApp's shared inbound drain (bot/whatsapp.py WhatsAppInbound, shared=True) with several
workers on one database, SQLite and PostgreSQL: it drains a user's messages like Telegram's
chats (models/inbox.py claim_chat_rows / release_chat_and_look): every message exactly once,
each user's in order and never two at once, a message recorded while its user is held taken
by the holder, a failing message not overtaken, and its cost in transactions."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from typing import Any

from sqlalchemy import event, update
from sqlmodel import col, func, select

from bot.whatsapp import CHANNEL, WhatsAppInbound
from models import inbox
from models.db import make_engine, make_sessionmaker, migrate
from models.domain import utcnow
from models.tables import Inbox


def _item(n: int, user: str) -> tuple[str, str, dict[str, Any]]:
    return (f"wamid.{n}", user, {"message": {"id": f"wamid.{n}", "from": user, "type": "text",
                                             "text": {"body": f"m{n}"}}, "name": "Warga"})


class Recorder:
    """Each message's effect (its row's `new -> done` flip, committed like the conversation's)
    in the order they happened, and how many of a user's messages ran at once."""

    def __init__(self, sm: Any) -> None:
        self.sm = sm
        self.effects: defaultdict[str, list[int]] = defaultdict(list)
        self.inside: defaultdict[str, int] = defaultdict(int)
        self.overlaps: list[str] = []
        self.failing: set[int] = set()  # row ids whose processing fails (left new)
        self.tries: defaultdict[int, int] = defaultdict(int)
        self.gate: asyncio.Event | None = None  # held open while set: processing waits on it
        self.entered = asyncio.Event()
        self.all_done = asyncio.Event()  # set once `expected` effects happened
        self.expected: int | None = None

        self.rows: dict[int, tuple[str, int]] = {}  # inbox id -> (user, message number)

    async def record(self, items: list[tuple[str, str, dict[str, Any]]]) -> dict[str, int]:
        """Record messages in one transaction, as a webhook does; their inbox ids."""
        async with self.sm() as s:
            stored = await inbox.record(s, CHANNEL, items)
            await s.commit()
        for key, user, _ in items:
            self.rows[stored[key]] = (user, int(key.removeprefix("wamid.")))
        return stored

    def expect(self, n: int | None) -> None:
        """Set all_done once n effects have happened (now or later)."""
        self.expected = n
        if n is not None and sum(map(len, self.effects.values())) >= n:
            self.all_done.set()

    def attach(self, worker: WhatsAppInbound) -> None:
        async def process(row_id: int) -> None:
            user, number = self.rows[row_id]
            self.inside[user] += 1
            if self.inside[user] > 1:
                self.overlaps.append(user)
            try:
                self.entered.set()
                if self.gate is not None:
                    await self.gate.wait()
                await asyncio.sleep(0)
                self.tries[row_id] += 1
                if row_id in self.failing:
                    return
                async with self.sm() as s:
                    done = await s.execute(
                        update(Inbox).where(col(Inbox.id) == row_id, col(Inbox.status) == "new")
                        .values(status="done", processed_at=utcnow()))
                    await s.commit()
                if done.rowcount == 1:  # type: ignore[attr-defined]
                    self.effects[user].append(number)
                    self.expect(self.expected)
            finally:
                self.inside[user] -= 1

        worker.process = process  # type: ignore[method-assign]


def _workers(sm: Any, n: int, rec: Recorder) -> list[WhatsAppInbound]:
    out = []
    for _ in range(n):
        worker = WhatsAppInbound(sm, None, None, shared=True)  # type: ignore[arg-type]
        rec.attach(worker)
        out.append(worker)
    return out


async def _left(sm: Any) -> int:
    async with sm() as s:
        return int((await s.exec(select(func.count()).select_from(Inbox)
                                 .where(Inbox.status == "new"))).one())


async def test_three_workers_many_users_in_order_exactly_once(db_url: str) -> None:
    """30 users x 5 messages recorded one by one, all users at once, each recording waking
    the next of three running workers (as Meta's deliveries reach them): each message has one
    effect, a user's effects come in order and never two at once."""
    engine = make_engine(db_url, pool_size=2)  # at most 7 connections: PostgreSQL is shared
    await migrate(engine)
    sm = make_sessionmaker(engine)
    rec = Recorder(sm)
    workers = _workers(sm, 3, rec)
    running = [asyncio.create_task(wk.run()) for wk in workers]
    turn = itertools.count()
    ids = itertools.count(1)
    users = [f"62812{7000000 + u}" for u in range(30)]
    per_user = 5

    async def citizen(user: str) -> None:
        for _ in range(per_user):
            assert await rec.record([_item(next(ids), user)])
            workers[next(turn) % len(workers)].wake()
            await asyncio.sleep(0)

    try:
        await asyncio.gather(*(citizen(u) for u in users))
        rec.expect(len(users) * per_user)
        await asyncio.wait_for(rec.all_done.wait(), 60)
        assert await _left(sm) == 0
        assert not rec.overlaps, rec.overlaps
        assert sorted(rec.effects) == sorted(users)
        for user, got in rec.effects.items():
            assert len(got) == per_user and got == sorted(got), (user, got)
    finally:
        for wk in workers:
            wk.stop()
        await asyncio.gather(*running)
        await engine.dispose()


async def test_a_message_recorded_while_held_is_taken_by_the_holder(db_url: str) -> None:
    """Worker A is processing a user's message when a second one is recorded and worker B
    steps: B finds the user held and leaves the message; A takes it in the same drain (its
    release looks again), so B's step had nothing to do and nothing waits."""
    engine = make_engine(db_url, pool_size=2)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    rec = Recorder(sm)
    a, b = _workers(sm, 2, rec)
    user = "6281270000001"
    try:
        await rec.record([_item(1, user)])
        rec.gate = asyncio.Event()
        first = asyncio.create_task(a.step())
        await rec.entered.wait()
        await rec.record([_item(2, user)])
        assert await b.step() == WhatsAppInbound.HELD_RETRY  # held: B did nothing
        rec.gate.set()
        assert await first == 0.0
        assert rec.effects[user] == [1, 2]
        assert await _left(sm) == 0
    finally:
        if rec.gate is not None:
            rec.gate.set()
        await engine.dispose()


async def test_a_failing_message_is_not_overtaken_and_costs(db_url: str) -> None:
    """One user's three messages, the second failing twice: the drain stops at it, the next
    step comes back to it first, the third goes only after it. One message alone costs two
    transactions besides its own (take and read; let go and look), as on Telegram."""
    engine = make_engine(db_url, pool_size=2)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    rec = Recorder(sm)
    (worker,) = _workers(sm, 1, rec)
    user = "6281270000002"
    commits = 0

    def count(_conn: Any) -> None:
        nonlocal commits
        commits += 1

    try:
        stored = await rec.record([_item(n, user) for n in (1, 2, 3)])
        second = stored["wamid.2"]
        rec.failing.add(second)
        assert await worker.step() == 0.0
        assert rec.effects[user] == [1] and rec.tries[second] == 1
        assert await worker.step() == 0.0
        assert rec.effects[user] == [1] and rec.tries[second] == 2
        rec.failing.clear()
        assert await worker.step() == 0.0
        assert rec.effects[user] == [1, 2, 3]
        assert await worker.step() is None

        await rec.record([_item(4, "6281270000003")])
        event.listen(engine.sync_engine, "commit", count)
        await worker.step()
        # The step's read of pending rows, take and read, the message's own, let go and look.
        assert commits == 1 + 1 + 1 + 1, commits
    finally:
        event.remove(engine.sync_engine, "commit", count)
        await engine.dispose()
