"""The citizen's fast lane (handlers/telegram/citizen.py): it takes only what no router ahead
of the citizen's could take, and commands — also in a photo's caption — still go the full way.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiogram.types import CallbackQuery, Chat, Message, User
from sqlmodel import select

from handlers.telegram import setup_routers
from handlers.telegram.citizen import _free_words, _intake_press
from models.tables import Attachment
from tests.conftest import Harness, jpeg_bytes, new_user
from tests.test_intake_telegram import draft_of, to_media

USER = User(id=4242, is_bot=False, first_name="Budi")
PRIVATE = Chat(id=4242, type="private")
GROUP = Chat(id=-100123, type="supergroup", title="OPD")


def _message(chat: Chat = PRIVATE, **fields: Any) -> Message:
    return Message(message_id=1, date=datetime.now(UTC), chat=chat, from_user=USER, **fields)


def _press(data: str, chat: Chat = PRIVATE) -> CallbackQuery:
    return CallbackQuery(id="1", from_user=USER, chat_instance="x", data=data,
                         message=_message(chat, text="Langkah 2/5"))


async def test_the_lane_takes_words_and_intake_presses_only() -> None:
    assert await _free_words(_message(text="Jalan berlubang"))
    assert await _free_words(_message(location={"latitude": 0.4, "longitude": 101.8}))
    assert await _free_words(_message(photo=[{"file_id": "f", "file_unique_id": "u",
                                              "width": 1, "height": 1}], caption="lubang"))
    assert await _free_words(_message(text="halo /start"))  # a command only at the start
    assert not await _free_words(_message(text="/start"))
    assert not await _free_words(_message(text="/lapor@AduanBot"))
    assert not await _free_words(_message(photo=[{"file_id": "f", "file_unique_id": "u",
                                                  "width": 1, "height": 1}], caption="/batal"))
    assert not await _free_words(_message(GROUP, text="Sudah kami tangani"))
    assert await _intake_press(_press("in:done:"))
    assert await _intake_press(_press("in:cat:3"))
    assert not await _intake_press(_press("in:done:", GROUP))
    assert not await _intake_press(_press("inx:done:"))  # another prefix that starts alike
    assert not await _intake_press(_press("fb:12:yes"))
    assert not await _intake_press(_press("lang:en"))


def test_the_lane_comes_first_and_the_full_chain_keeps_its_handlers() -> None:
    root = setup_routers()
    names = [router.name for router in root.sub_routers]
    assert names[0] == "handlers.telegram.citizen.fast"
    citizen = root.sub_routers[-1]
    assert citizen.name == "handlers.telegram.citizen"
    callbacks = {h.callback.__name__ for h in citizen.message.handlers}
    assert {"on_message", "cmd_conversation", "on_unknown_command"} <= callbacks
    assert "on_button" in {h.callback.__name__ for h in citizen.callback_query.handlers}


async def test_a_command_in_a_caption_is_still_a_command(harness: Harness) -> None:
    """Many at once at the media step send a photo captioned /batal: each cancels (the full
    chain's command handler), none stores a photo (the lane's media step)."""
    h = harness
    users = [new_user() for _ in range(12)]
    for user in users:  # (the harness' helpers wait for anyone's answer: one at a time)
        await to_media(h, user)
    fid = h.fake.add_file(jpeg_bytes("red"), file_path="photos/caption.jpg")
    mark = h.fake.mark()
    for user in users:  # all in flight at once
        h.fake.push_update(h.fake.make_message(user, user, photo=fid, caption="/batal"))
    answers = await asyncio.gather(*(h.fake.wait_for(
        "sendMessage", lambda c, u=user: c.chat_id == u, since=mark) for user in users))
    assert all("dibatalkan" in (calls[0].text or "") for calls in answers), answers
    for user in users:
        assert await draft_of(h, user) is None
    async with h.sessionmaker() as s:
        assert (await s.exec(select(Attachment))).first() is None
