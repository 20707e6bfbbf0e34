"""Review: the citizen's fast lane must choose the handler the full chain chose before it
(handlers/telegram/citizen.py `_free_words`). aiogram's Command filter reads the command
after `str.split()`, which drops leading whitespace: ' /batal' is a command for it."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from aiogram import Bot, Router
from aiogram.types import CallbackQuery, Chat, Message, User

from handlers.telegram import setup_routers

ADMIN = User(id=900001, is_bot=False, first_name="Adm", username="adm")
PRIVATE = Chat(id=900001, type="private")
PHOTO = [{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}]


class _Roles:
    async def is_admin(self, _session: Any, _uid: int) -> bool:
        return True

    async def is_operator(self, _session: Any, _uid: int) -> bool:
        return True


async def chosen(routers: list[Router], event: Any, kind: str, data: dict[str, Any]
                 ) -> str | None:
    """The callback aiogram would run for `event`: the first router (depth first) whose
    router-level filters and one handler's filters pass."""
    for router in routers:
        observer = router.observers[kind]
        if (await observer._handler.check(event, **data))[0]:
            for handler in observer.handlers:
                if (await handler.check(event, **data))[0]:
                    return handler.callback.__name__
        found = await chosen(router.sub_routers, event, kind, data)
        if found:
            return found
    return None


@pytest.fixture
async def bot() -> Any:
    bot = Bot("123456:TEST-TOKEN")
    bot._me = User(id=1, is_bot=True, first_name="Aduan", username="AduanBot")
    yield bot
    await bot.session.close()


WORDS = ["halo", "/batal", " /batal", "\n/batal", "\u00a0/batal", "\u3000/lapor",
         " /start", "\t/siaran halo", "\u2003/myid", " /gabung ADU-A ADU-B", "/x", " /x"]


@pytest.mark.parametrize("words", WORDS)
@pytest.mark.parametrize("where", ["text", "caption"])
async def test_the_lane_chooses_what_the_full_chain_chose(bot: Bot, words: str,
                                                          where: str) -> None:
    root = setup_routers()
    assert root.sub_routers[0].name == "handlers.telegram.citizen.fast"
    data = {"bot": bot, "session": None, "deps": SimpleNamespace(roles=_Roles())}
    fields: dict[str, Any] = {"text": words} if where == "text" else {
        "photo": PHOTO, "caption": words}
    message = Message(message_id=1, date=datetime.now(UTC), chat=PRIVATE, from_user=ADMIN,
                      **fields)
    old = await chosen(root.sub_routers[1:], message, "message", data)
    new = await chosen(root.sub_routers, message, "message", data)
    assert new == old, f"{words!r}: the full chain ran {old}, the lane runs {new}"


@pytest.mark.parametrize("payload", ["in:done:", "in:cat:3", "in:", "in:done", "in:a:b:c"])
async def test_intake_presses_choose_what_the_full_chain_chose(bot: Bot, payload: str) -> None:
    root = setup_routers()
    data = {"bot": bot, "session": None, "deps": SimpleNamespace(roles=_Roles())}
    message = Message(message_id=1, date=datetime.now(UTC), chat=PRIVATE, from_user=ADMIN,
                      text="Langkah 2/5")
    query = CallbackQuery(id="1", from_user=ADMIN, chat_instance="x", data=payload,
                          message=message)
    assert await chosen(root.sub_routers, query, "callback_query", data) == await chosen(
        root.sub_routers[1:], query, "callback_query", data)
