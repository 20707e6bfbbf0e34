"""Recording inbound updates (models/inbox.py `record`, bot/inbox.py `record_updates`): each
once, in one statement per batch, on SQLite and PostgreSQL; getUpdates' JSON recorded as
Telegram sent it."""

from __future__ import annotations

import json

from aiogram import Bot
from aiogram.methods import GetUpdates
from aiogram.types import Update
from sqlmodel import col, select

from bot.inbox import record_updates
from bot.telegram import KeepingSession, ReceivedUpdates
from models import inbox
from models.db import make_engine, make_sessionmaker, migrate
from models.tables import Inbox


def _update(n: int, chat: int) -> dict[str, object]:
    return {"update_id": n, "message": {
        "message_id": n, "date": 1700000000, "text": f"m{n}",
        "chat": {"id": chat, "type": "private", "first_name": "A"},
        "from": {"id": chat, "is_bot": False, "first_name": "A"}}}


async def test_a_batch_records_each_update_once(db_url: str) -> None:
    """New updates get ids; one recorded before (a re-delivery) or twice in the batch is
    recorded once and only the new ones are returned."""
    engine = make_engine(db_url)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    try:
        async with sm() as s:
            first = await inbox.record(s, "telegram", [("1", "c1", {"n": 1}),
                                                       ("2", "c2", {"n": 2})])
            await s.commit()
        assert sorted(first) == ["1", "2"]
        async with sm() as s:
            again = await inbox.record(s, "telegram", [
                ("2", "c2", {"n": 2}), ("3", "c3", {"n": 3}), ("3", "c3", {"n": 30}),
                ("4", "c1", {"n": 4})])
            await s.commit()
        assert sorted(again) == ["3", "4"]
        async with sm() as s:
            alone = await inbox.record(s, "telegram", [("5", "c5", {"n": 5})])
            none = await inbox.record(s, "telegram", [("5", "c5", {"n": 5})])
            await s.commit()
            rows = (await s.exec(select(Inbox).order_by(col(Inbox.id)))).all()
        assert list(alone) == ["5"] and none == {}
        assert [(r.update_key, r.chat_key, r.payload) for r in rows] == [
            ("1", "c1", {"n": 1}), ("2", "c2", {"n": 2}), ("3", "c3", {"n": 3}),
            ("4", "c1", {"n": 4}), ("5", "c5", {"n": 5})]
        ids = {**first, **again, **alone}
        assert {r.update_key: r.id for r in rows} == ids
    finally:
        await engine.dispose()


async def test_polled_updates_are_recorded_as_telegram_sent_them(db_url: str) -> None:
    """getUpdates' answer is decoded once into updates that carry their JSON; the inbox
    records that JSON (not a dump of the parsed update) and it parses back to the same."""
    bot = Bot("123:abc")
    raw = [_update(10, 5), _update(11, 6)]
    raw[1]["message"]["future_field"] = {"x": 1}  # type: ignore[index]
    got = KeepingSession().result(bot, GetUpdates(), 200,
                                  json.dumps({"ok": True, "result": raw}))
    assert isinstance(got, ReceivedUpdates) and got.payloads == raw
    assert got == [Update.model_validate(u, context={"bot": bot}) for u in raw]
    engine = make_engine(db_url)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    try:
        stored = await record_updates(sm, got)
        assert sorted(stored) == ["10", "11"]
        async with sm() as s:
            rows = (await s.exec(select(Inbox).order_by(col(Inbox.id)))).all()
        assert [r.payload for r in rows] == raw and [r.chat_key for r in rows] == ["5", "6"]
        assert [Update.model_validate(r.payload, context={"bot": bot}) for r in rows] == list(got)
        # Updates without their JSON (a plain list) are dumped as before.
        plain = [Update.model_validate(_update(12, 7))]
        assert list(await record_updates(sm, plain)) == ["12"]
        async with sm() as s:
            row = (await s.exec(select(Inbox).where(Inbox.update_key == "12"))).one()
        assert Update.model_validate(row.payload) == plain[0]
    finally:
        await engine.dispose()
