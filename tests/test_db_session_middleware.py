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
