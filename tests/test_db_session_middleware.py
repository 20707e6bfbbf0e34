"""The per-update session middleware (handlers/telegram/middlewares.py `DbSession`): what a
handler leaves uncommitted is committed, the update's inbox row is flipped exactly once, and
no empty transaction follows a use case that committed itself."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.types import Message, Update
from sqlalchemy import event
from sqlmodel import Session, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.i18n import Translator
from handlers.telegram.middlewares import DbSession
from models import inbox
from models.citizens import CitizenCache
from models.db import make_engine, make_sessionmaker, migrate
from models.tables import Inbox, Opd


def _opd(code: str) -> Opd:
    return Opd(code=code, name_id=code, name_en=code)


async def test_db_session_commits_what_is_left_and_nothing_more(db_url: str) -> None:
    engine = make_engine(db_url)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    dp = Dispatcher(disable_fsm=True)
    dp.update.outer_middleware(DbSession(sm, Translator(), CitizenCache()))
    router = Router()

    @router.message()
    async def handle(message: Message, session: AsyncSession) -> None:
        mode = message.text or ""
        if mode.startswith("commit"):  # a use case that commits (and so flips the row)
            session.add(_opd(f"own{message.message_id}"))
            await session.commit()
        if mode == "commit-then-add":  # something left after it: the middleware commits it
            session.add(_opd("late"))
        if mode == "commit-then-write":  # a statement after it: its transaction commits
            await session.execute(select(Opd.id).limit(1))
            session.add(_opd("written"))
            await session.flush()

    dp.include_router(router)
    bot = Bot("123:abc")
    commits: list[int] = []

    def count(_session: Any) -> None:
        commits.append(1)

    async def feed(n: int, text: str) -> Inbox:
        payload = {"update_id": n, "message": {
            "message_id": n, "date": 1700000000, "text": text,
            "chat": {"id": 42, "type": "private", "first_name": "A"},
            "from": {"id": 42, "is_bot": False, "first_name": "A"}}}
        async with sm() as s:
            rid = (await inbox.record(s, "telegram", [(str(n), "42", payload)]))[str(n)]
            await s.commit()
        commits.clear()
        claim = inbox.Claim(rid)
        await dp.feed_update(bot, Update.model_validate(payload), inbox_claim=claim,
                             inbox_id=rid)
        assert claim.done
        async with sm() as s:
            return (await s.exec(select(Inbox).where(Inbox.id == rid))).one()

    event.listen(Session, "after_commit", count)
    try:
        assert (await feed(1, "hello")).status == "done"  # first contact: the citizen too
        row = await feed(2, "read only")
        assert row.status == "done" and commits == [1]  # the middleware's commit flips it
        row = await feed(3, "commit")
        assert row.status == "done" and commits == [1]  # no empty commit after the own one
        row = await feed(4, "commit-then-add")
        assert row.status == "done" and commits == [1, 1]
        row = await feed(5, "commit-then-write")
        assert row.status == "done" and commits == [1, 1]
        async with sm() as s:
            codes = (await s.exec(select(Opd.code).order_by(col(Opd.code)))).all()
        assert list(codes) == ["late", "own3", "own4", "own5", "written"]
    finally:
        event.remove(Session, "after_commit", count)
        await bot.session.close()
        await engine.dispose()


async def test_sessions_are_used_again_only_when_closed_clean_and_start_empty(
        db_url: str) -> None:
    """A session whose update ended normally is closed and used again by a later update,
    with nothing of the earlier one: no objects, no `info` (claim, queued flag), no
    transaction. One whose handler failed is let go. 30 chats at once each get a session
    of their own."""
    import asyncio

    engine = make_engine(db_url)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    dp = Dispatcher(disable_fsm=True)
    middleware = DbSession(sm, Translator(), CitizenCache())
    dp.update.outer_middleware(middleware)
    router = Router()
    seen: list[tuple[int, int, bool, int, bool]] = []  # (update, session id, info, new, tx)

    @router.message()
    async def handle(message: Message, session: AsyncSession) -> None:
        info = {k for k in session.info if k != inbox.CLAIM_KEY}
        seen.append((message.message_id, id(session), bool(info), len(session.new),
                     session.in_transaction()))
        session.info["leftover"] = True
        await asyncio.sleep(0)  # the others of the crowd run meanwhile
        if message.text == "boom":
            session.add(_opd(f"lost{message.message_id}"))
            raise RuntimeError("handler failed")
        session.add(_opd(f"kept{message.message_id}"))

    dp.include_router(router)
    bot = Bot("123:abc")

    async def feed(n: int, text: str, chat: int = 42) -> None:
        payload = {"update_id": n, "message": {
            "message_id": n, "date": 1700000000, "text": text,
            "chat": {"id": chat, "type": "private", "first_name": "A"},
            "from": {"id": chat, "is_bot": False, "first_name": "A"}}}
        try:
            await dp.feed_update(bot, Update.model_validate(payload))
        except RuntimeError:
            pass

    try:
        await feed(1, "hello")
        await feed(2, "hello")
        assert seen[0][1] == seen[1][1]  # the same session object, used again
        await feed(3, "boom")
        assert seen[2][1] == seen[1][1]
        await feed(4, "hello")
        assert seen[3][1] != seen[2][1]  # the failed update's session was not kept
        await asyncio.gather(*(feed(100 + i, "hello", chat=1000 + i) for i in range(30)))
        crowd = seen[4:]
        assert len({sid for _n, sid, *_ in crowd}) == 30  # one session per update in flight
        assert all(not info and new == 0 and not tx for _n, _s, info, new, tx in seen), seen
        async with sm() as s:
            codes = set((await s.exec(select(Opd.code))).all())
        assert "lost3" not in codes and {"kept1", "kept2", "kept4"} <= codes
        assert len(middleware._spare) <= DbSession.SPARE
    finally:
        await bot.session.close()
        await engine.dispose()


async def test_a_task_an_update_started_never_gets_a_later_updates_session(
        db_url: str, fake_tg: Any) -> None:
    """A handler's background task (a photo's download, handlers/downloads.py) calls the
    Bot API after its update ended: the request middleware must not find, through
    `current_session`, the session a later update is using now. Else it commits that
    update's transaction halfway (its inbox row flipped before its handler is done). A
    crowd: 20 citizens' photos, then others' updates in flight on the sessions those left
    while the downloads go on (20 on PostgreSQL; one on SQLite, whose writers take turns)."""
    import asyncio

    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    from bot.telegram import DirectReplies

    class Pacer:
        async def held_for(self, chat: str) -> float:
            return 0.0

        async def hold(self, chat: str, seconds: float) -> None:
            pass

    crowd = 20
    engine = make_engine(db_url)
    later = crowd if engine.dialect.name == "postgresql" else 1
    await migrate(engine)
    sm = make_sessionmaker(engine)
    dp = Dispatcher(disable_fsm=True)
    dp.update.outer_middleware(DbSession(sm, Translator(), CitizenCache()))
    router = Router()
    file_id = fake_tg.add_file(b"photo", file_path="photos/a.jpg")
    go, fetched = asyncio.Event(), asyncio.Event()
    background: list[asyncio.Task[None]] = []
    halfway: list[int] = []
    claims: dict[int, inbox.Claim] = {}
    seen: list[tuple[bool, bool]] = []  # each later update's (in its transaction, flipped)

    @router.message()
    async def handle(message: Message, session: AsyncSession) -> None:
        if message.text == "photo":  # answered at once, its file fetched after (Downloads)
            async def download() -> None:
                await go.wait()
                await bot.get_file(file_id)
                if all(task.done() for task in background if task is not current):
                    fetched.set()

            current = asyncio.create_task(download())
            background.append(current)
            return
        # Halfway through its transaction, waiting (as on a database round trip) while the
        # downloads go on.
        session.add(_opd(f"b{message.message_id}"))
        await session.flush()
        halfway.append(message.message_id)
        if len(halfway) == later:
            go.set()
        await fetched.wait()
        seen.append((session.in_transaction(), claims[message.message_id].done))
        session.add(_opd(f"b{message.message_id}-more"))

    dp.include_router(router)
    bot = Bot("123456:TEST-TOKEN", session=AiohttpSession(
        api=TelegramAPIServer.from_base(fake_tg.url)))
    bot.session.middleware(DirectReplies(Pacer()))

    async def feed(n: int, text: str) -> None:
        payload = {"update_id": n, "message": {
            "message_id": n, "date": 1700000000, "text": text,
            "chat": {"id": n, "type": "private", "first_name": "A"},
            "from": {"id": n, "is_bot": False, "first_name": "A"}}}
        async with sm() as s:
            rid = (await inbox.record(s, "telegram", [(str(n), str(n), payload)]))[str(n)]
            await s.commit()
        claims[n] = inbox.Claim(rid)
        await dp.feed_update(bot, Update.model_validate(payload), inbox_claim=claims[n],
                             inbox_id=rid)

    try:
        # The photos' updates end; their downloads wait.
        await asyncio.gather(*(feed(1 + i, "photo") for i in range(crowd)))
        # The others, on the sessions those left.
        await asyncio.gather(*(feed(100 + i, "report") for i in range(later)))
        await asyncio.gather(*background)
        assert seen == [(True, False)] * later, seen  # each transaction its update's alone
        assert all(claim.done for claim in claims.values())
        async with sm() as s:
            codes = set((await s.exec(select(Opd.code))).all())
        assert {f"b{100 + i}{more}" for i in range(later) for more in ("", "-more")} <= codes
    finally:
        for task in background:
            task.cancel()
        await bot.session.close()
        await engine.dispose()


async def test_a_known_citizen_the_cache_forgot_takes_no_id(db_url: str) -> None:
    """A known citizen coming back after the cache forgot them (TTL, a crowd beyond its
    size) is read, not inserted first: on PostgreSQL an INSERT ... ON CONFLICT DO NOTHING
    takes a value of the id sequence even when it writes nothing, so every return of someone
    known burnt an id of the 32-bit key (and an exhausted sequence fails every citizen not
    cached, known or new, not only newcomers)."""
    from models.repo import get_citizen

    engine = make_engine(db_url)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    try:
        async with sm() as s:
            first = await CitizenCache().resolve(s, "telegram", "7001", language="id",
                                                 display_name="A", username=None)
        for n in range(5):  # forgotten each time (a cache of its own), name changed
            async with sm() as s:
                back = await CitizenCache().resolve(s, "telegram", "7001", language="id",
                                                    display_name=f"A{n}", username=None)
            assert back.id == first.id
        async with sm() as s:
            newcomer = await CitizenCache().resolve(s, "telegram", "7002", language="id",
                                                    display_name="B", username=None)
            assert newcomer.id == first.id + 1
            assert (await get_citizen(s, "telegram", "7001")).display_name == "A4"
    finally:
        await engine.dispose()
