"""The shared inbox (bot/inbox.py SharedInboxProcessor) with several processors on one
database, SQLite and PostgreSQL: every update exactly once, each chat's updates in order and
never two at once, nothing left waiting for the sweeper, and its cost per update in
transactions."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from typing import Any

from sqlalchemy import event, update
from sqlmodel import col, func, select

from bot.inbox import SharedInboxProcessor
from models import inbox
from models.db import make_engine, make_sessionmaker, migrate
from models.domain import utcnow
from models.tables import Inbox


def _item(n: int, chat: int) -> tuple[str, str, dict[str, Any]]:
    return (str(n), str(chat), {"update_id": n, "message": {
        "message_id": n, "date": 0, "chat": {"id": chat, "type": "private"}, "text": f"m{n}"}})


class Recorder:
    """What the processors' stand-in for the Dispatcher saw: each update's effect (its row's
    `new -> done` flip, committed like a handler's) and how many of a chat's updates ran at
    once."""

    def __init__(self, sm: Any) -> None:
        self.sm = sm
        self.effects: defaultdict[str, list[int]] = defaultdict(list)
        self.inside: defaultdict[str, int] = defaultdict(int)
        self.overlaps: list[str] = []

    def attach(self, proc: SharedInboxProcessor) -> None:
        async def process(inbox_id: int, upd: Any) -> None:
            chat = str(upd.message.chat.id)
            self.inside[chat] += 1
            if self.inside[chat] > 1:
                self.overlaps.append(chat)
            try:
                async with self.sm() as s:
                    done = await s.execute(
                        update(Inbox).where(col(Inbox.id) == inbox_id,
                                            col(Inbox.status) == "new")
                        .values(status="done", processed_at=utcnow()))
                    await s.commit()
                if done.rowcount == 1:  # type: ignore[attr-defined]
                    self.effects[chat].append(int(upd.update_id))
            finally:
                self.inside[chat] -= 1

        proc.process = process  # type: ignore[method-assign]


async def _quiet(procs: list[SharedInboxProcessor]) -> None:
    while any(p._draining for p in procs):
        for p in procs:
            await p.drain()


async def test_three_processors_many_chats_in_order_exactly_once(db_url: str) -> None:
    """40 chats x 6 updates recorded one by one, all chats at once, each update handed to
    the next of three processors (as a load balancer does): each update has one effect, a
    chat's effects come in update order and never two at once, and no row is left for the
    sweeper (a row recorded while its chat's holder lets go is taken by someone)."""
    engine = make_engine(db_url, pool_size=2)  # at most 7 connections: PostgreSQL is shared
    await migrate(engine)
    sm = make_sessionmaker(engine)
    rec = Recorder(sm)
    procs = [SharedInboxProcessor(None, None, sm, holder=h)  # type: ignore[arg-type]
             for h in ("A", "B", "C")]
    for p in procs:
        rec.attach(p)
    turn = itertools.count()
    ids = itertools.count(1)
    chats = [1000 + c for c in range(40)]
    per_chat = 6

    async def citizen(chat: int) -> None:
        for _ in range(per_chat):
            async with sm() as s:
                stored = await inbox.record(s, "telegram", [_item(next(ids), chat)])
                await s.commit()
            assert stored
            procs[next(turn) % len(procs)].kick(str(chat))
            await asyncio.sleep(0)

    try:
        await asyncio.gather(*(citizen(c) for c in chats))
        await _quiet(procs)
        async with sm() as s:
            left = (await s.exec(select(func.count()).select_from(Inbox)
                                 .where(Inbox.status == "new"))).one()
        assert left == 0
        assert not rec.overlaps, rec.overlaps
        assert sorted(rec.effects) == sorted(str(c) for c in chats)
        for chat, got in rec.effects.items():
            assert len(got) == per_chat and got == sorted(got), (chat, got)
    finally:
        await _quiet(procs)
        await engine.dispose()


async def test_one_update_costs_two_transactions_besides_its_own(db_url: str) -> None:
    """30 chats with one update each: besides the update's own transaction the processor
    commits twice per chat (take the chat and read its rows; let it go and look again), and
    reads a chat's waiting updates in one go (5 updates: 1 + 5 + 4 renewals + 1)."""
    engine = make_engine(db_url, pool_size=2)  # at most 7 connections: PostgreSQL is shared
    await migrate(engine)
    sm = make_sessionmaker(engine)
    rec = Recorder(sm)
    proc = SharedInboxProcessor(None, None, sm, holder="A")  # type: ignore[arg-type]
    rec.attach(proc)
    commits = 0

    def count(_conn: Any) -> None:
        nonlocal commits
        commits += 1

    try:
        async with sm() as s:
            await inbox.record(s, "telegram", [_item(n, 2000 + n) for n in range(1, 31)])
            await inbox.record(s, "telegram", [_item(100 + n, 3000) for n in range(5)])
            await s.commit()
        event.listen(engine.sync_engine, "commit", count)
        for n in range(1, 31):
            proc.kick(str(2000 + n))
        await _quiet([proc])
        assert commits == 30 * 3, commits
        commits = 0
        proc.kick("3000")
        await _quiet([proc])
        assert rec.effects["3000"] == [100, 101, 102, 103, 104]
        assert commits == 1 + 5 + 4 + 1, commits
    finally:
        event.remove(engine.sync_engine, "commit", count)
        await engine.dispose()


async def test_a_kick_while_the_holder_lets_go_is_not_lost(db_url: str) -> None:
    """The worker holding a chat records the chat's next update (its own webhook) just after
    its release looked for waiting rows and found none, and kicks itself: the update is
    processed at once, not left for the sweeper. Then again while the drain task is ending."""
    engine = make_engine(db_url, pool_size=2)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    rec = Recorder(sm)
    proc = SharedInboxProcessor(None, None, sm, holder="A")  # type: ignore[arg-type]
    rec.attach(proc)
    release = proc._release
    ids = iter(range(2, 10))

    async def arrive() -> None:
        async with sm() as s:
            await inbox.record(s, "telegram", [_item(next(ids), 5000)])
            await s.commit()
        proc.kick("5000")

    async def late_release(key: str, processed: list[int]) -> bool:
        more = await release(key, processed)
        if not more and len(rec.effects["5000"]) == 1:
            await arrive()  # after the look, before the drain has returned
        return more

    proc._release = late_release  # type: ignore[method-assign]
    try:
        async with sm() as s:
            await inbox.record(s, "telegram", [_item(1, 5000)])
            await s.commit()
        proc.kick("5000")
        task = proc._draining["5000"]
        await task
        assert rec.effects["5000"] == [1, 2]
        # The drain task has returned; a kick now, before its done callback has run, starts a
        # new drain.
        await arrive()
        await _quiet([proc])
        assert rec.effects["5000"] == [1, 2, 3]
    finally:
        await _quiet([proc])
        await engine.dispose()


async def test_answers_sent_are_cleared_with_the_release(db_url: str) -> None:
    """30 chats x 3 updates over three processors, each update's answer kept with its flip
    and sent (as a handler does): when a chat's lease is let go its sent answers go with it,
    so a sweeper that comes at once (no age) finds nothing to queue again, whatever the
    batched flush has or has not cleared yet."""
    engine = make_engine(db_url, pool_size=2)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    procs = [SharedInboxProcessor(None, None, sm, holder=h)  # type: ignore[arg-type]
             for h in ("A", "B", "C")]

    def attach(proc: SharedInboxProcessor) -> None:
        async def process(inbox_id: int, upd: Any) -> None:
            async with sm() as s:
                await s.execute(
                    update(Inbox).where(col(Inbox.id) == inbox_id, col(Inbox.status) == "new")
                    .values(status="done", processed_at=utcnow(), answer=[{
                        "chat": str(upd.message.chat.id), "payload": {"text": "ok"}}]))
                await s.commit()
            # Sent: InboxProcessor.process notes it for the batched flush (not started here).
            proc._answered.append(inbox_id)

        proc.process = process  # type: ignore[method-assign]

    for p in procs:
        attach(p)
    ids = itertools.count(1)
    turn = itertools.count()

    async def citizen(chat: int) -> None:
        for _ in range(3):
            async with sm() as s:
                await inbox.record(s, "telegram", [_item(next(ids), chat)])
                await s.commit()
            procs[next(turn) % len(procs)].kick(str(chat))
            await asyncio.sleep(0)

    try:
        await asyncio.gather(*(citizen(4000 + c) for c in range(30)))
        while any(p._draining for p in procs):
            await asyncio.gather(*(asyncio.wait(list(p._draining.values()))
                                   for p in procs if p._draining))
        async with sm() as s:
            kept = (await s.exec(select(func.count()).select_from(Inbox)
                                 .where(col(Inbox.answer).is_not(None)))).one()
            done = (await s.exec(select(func.count()).select_from(Inbox)
                                 .where(Inbox.status == "done"))).one()
        assert (done, kept) == (90, 0)
        assert await procs[0].requeue_unsent(utcnow()) == 0
    finally:
        await _quiet(procs)
        await engine.dispose()
