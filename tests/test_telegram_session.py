"""KeepingSession (bot/telegram.py): JSON bodies carry what aiogram's form carries; a lazily
parsed answer reads as the model aiogram would have built; errors raise as before; magic
filters run on the loop."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Bot, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter, TelegramServerError
from aiogram.methods import (
    AnswerCallbackQuery,
    BanChatMember,
    CopyMessage,
    EditMessageText,
    GetFile,
    SendLocation,
    SendMessage,
    SendPhoto,
)
from aiogram.types import (
    BufferedInputFile,
    File,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LinkPreviewOptions,
    Message,
    MessageId,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.playground.botapi import _decode_value
from bot.telegram import DirectReplies, KeepingSession, LazyResult
from handlers.replies import Choice, Reply
from handlers.telegram import run_filters_inline
from handlers.telegram.callbacks import IntakeCb
from handlers.telegram.render import markup_for, pack_intake

BOT = Bot("123:abc", default=DefaultBotProperties(parse_mode="HTML"))
KB = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
    text=f"Kategori {i}", callback_data=f"in:cat:{i}")] for i in range(3)])
METHODS = [
    SendMessage(chat_id=123456, text="Langkah 1/5 <b>x</b>", reply_markup=KB),
    SendMessage(chat_id="-100123", text="x", disable_notification=False, message_thread_id=0,
                reply_markup=ReplyKeyboardMarkup(keyboard=[[KeyboardButton(
                    text="Lokasi", request_location=True)]], resize_keyboard=True,
                    one_time_keyboard=True)),
    SendMessage(chat_id=1, text="y", link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_markup=ForceReply(force_reply=True, input_field_placeholder="z")),
    SendMessage(chat_id=1, text="y", reply_markup=ReplyKeyboardRemove()),
    EditMessageText(chat_id=1, message_id=5, text="t", reply_markup=KB),
    AnswerCallbackQuery(callback_query_id="abc", show_alert=False),
    SendLocation(chat_id=1, latitude=-6.2, longitude=106.8, reply_parameters={"message_id": 3}),
    # A field this aiogram does not know yet (extra="allow"), and a date.
    SendMessage(chat_id=1, text="z", future_field={"a": 1, "b": None}),
    BanChatMember(chat_id=-100, user_id=2, until_date=datetime(2030, 1, 2, tzinfo=UTC)),
]
SENT = {"message_id": 77, "date": 1700000000, "text": "Langkah 1/5 <b>x</b>",
        "chat": {"id": 123456, "type": "private", "first_name": "A"},
        "from": {"id": 1, "is_bot": True, "first_name": "Bot", "username": "bot"},
        "reply_markup": KB.model_dump(exclude_none=True)}


def _form_fields(session: KeepingSession, method: Any) -> dict[str, Any]:
    form = session.build_form_data(BOT, method)
    return {opts["name"]: _decode_value(opts["name"], value)
            for opts, _headers, value in form._fields}


@pytest.mark.parametrize("method", METHODS, ids=lambda m: type(m).__name__)
def test_json_body_carries_what_the_form_carries(method: Any) -> None:
    session = KeepingSession()
    payload = session.json_payload(BOT, method)
    assert payload is not None
    sent = json.loads(session.json_dumps(payload))
    # The fake Bot API decodes both the same way: JSON values, form strings as JSON.
    assert {k: _decode_value(k, v) for k, v in sent.items()} == _form_fields(session, method)
    assert sent["chat_id" if "chat_id" in sent else "callback_query_id"]


def test_a_method_with_a_file_goes_as_a_form() -> None:
    photo = SendPhoto(chat_id=1, photo=BufferedInputFile(b"\xff\xd8", "p.jpg"))
    assert KeepingSession().json_payload(BOT, photo) is None


def test_a_lazy_answer_reads_as_the_model() -> None:
    session = KeepingSession()
    raw = json.dumps({"ok": True, "result": SENT})
    eager = session.check_response(BOT, METHODS[0], 200, raw).result
    lazy = session.result(BOT, METHODS[0], 200, raw)
    assert type(lazy) is LazyResult and lazy._lazy_obj is None
    assert lazy.message_id == 77 and lazy._lazy_obj is None  # straight from the JSON
    assert isinstance(lazy, Message)
    assert lazy == eager and lazy.chat.id == 123456 and lazy.from_user.username == "bot"
    assert lazy.reply_markup.inline_keyboard[0][0].text == "Kategori 0"
    assert lazy.bot is BOT and lazy.model_dump() == eager.model_dump()
    # An edit answers a Message or `true`; a copy a MessageId; getFile a File.
    edited = session.result(BOT, METHODS[4], 200, raw)
    assert isinstance(edited, Message) and edited.text == SENT["text"]
    assert session.result(BOT, METHODS[4], 200, '{"ok":true,"result":true}') is True
    assert session.result(BOT, METHODS[5], 200, '{"ok":true,"result":true}') is True
    copied = session.result(BOT, CopyMessage(chat_id=1, from_chat_id=2, message_id=3), 200,
                            '{"ok":true,"result":{"message_id":9}}')
    assert copied.message_id == 9 and isinstance(copied, MessageId)
    file = session.result(BOT, GetFile(file_id="f"), 200, json.dumps(
        {"ok": True, "result": {"file_id": "f", "file_unique_id": "u", "file_path": "a/b"}}))
    assert isinstance(file, File) and file.file_path == "a/b"


def test_errors_raise_as_aiogram_raises() -> None:
    session = KeepingSession()
    with pytest.raises(TelegramRetryAfter) as caught:
        session.result(BOT, METHODS[0], 429, json.dumps({
            "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3}}))
    assert caught.value.retry_after == 3
    with pytest.raises(TelegramBadRequest):
        session.result(BOT, METHODS[4], 400, json.dumps({
            "ok": False, "error_code": 400,
            "description": "Bad Request: message is not modified"}))


def test_intake_buttons_pack_as_intake_cb() -> None:
    for action, arg in [("cat", "12"), ("send", "abcdef0123456789"), ("new", "")]:
        assert pack_intake(action, arg) == IntakeCb(action=action, arg=arg).pack()
    for action, arg in [("a:b", ""), ("x", "y" * 70)]:
        with pytest.raises(ValueError):
            pack_intake(action, arg)
    label = "Kategori 😀" * 10
    markup = markup_for(Reply("x", choices=[[Choice(label, "cat", "1")], [Choice("B", "new")]]))
    expected = InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=label[:64], callback_data="in:cat:1")],
        [InlineKeyboardButton(text="B", callback_data="in:new:")]])
    assert isinstance(markup, InlineKeyboardMarkup)
    assert markup.model_dump() == expected.model_dump()


async def test_magic_filters_run_on_the_loop() -> None:
    router, seen = Router(), []

    async def handler(message: Message) -> None:
        seen.append(message.text)

    router.message.filter(F.chat.type == "private")
    router.message.register(handler, F.text.startswith("a"))
    assert run_filters_inline(router) == 2
    observer = router.message
    assert all(f.awaitable for f in observer.handlers[0].filters or [])
    message = Message.model_validate({**SENT, "text": "abc"}, context={"bot": BOT})
    other = Message.model_validate({**SENT, "text": "xyz"}, context={"bot": BOT})
    for item in (message, other):
        await router.propagate_event("message", item)
    assert seen == ["abc"]


class _Pacer:
    def __init__(self) -> None:
        self.holds: list[tuple[str, float]] = []

    async def held_for(self, chat: str) -> float:
        return 0.0

    async def hold(self, chat: str, seconds: float) -> None:
        self.holds.append((chat, seconds))


def _failing(errors: list[Exception]) -> tuple[list[float], Any]:
    calls: list[float] = []

    async def make_request(bot: Bot, method: Any) -> Any:
        calls.append(time.monotonic())
        if errors:
            raise errors.pop(0)
        return True

    return calls, make_request


async def test_direct_sends_retry_briefly_then_give_up() -> None:
    """DirectReplies' retry loop: transient errors are retried with a short backoff, at most
    `attempts` times; a short 429 is waited out and recorded with the pacer; a long one and
    a bad request are not retried."""
    method = SendMessage(chat_id=5, text="x")
    server = TelegramServerError(method=method, message="bad gateway")

    calls, request = _failing([server, server])
    assert await DirectReplies(_Pacer())(request, BOT, method) is True
    assert len(calls) == 3
    assert 0.18 < calls[1] - calls[0] < 0.5 and 0.38 < calls[2] - calls[1] < 0.8

    calls, request = _failing([server, server, server, server])
    with pytest.raises(TelegramServerError):
        await DirectReplies(_Pacer())(request, BOT, method)
    assert len(calls) == 3

    pacer = _Pacer()
    calls, request = _failing([TelegramRetryAfter(method=method, message="slow", retry_after=1)])
    assert await DirectReplies(pacer)(request, BOT, method) is True
    assert len(calls) == 2 and calls[1] - calls[0] >= 0.99 and pacer.holds == [("5", 1)]

    calls, request = _failing([TelegramRetryAfter(method=method, message="slow", retry_after=9)])
    with pytest.raises(TelegramRetryAfter):
        await DirectReplies(_Pacer())(request, BOT, method)
    assert len(calls) == 1

    calls, request = _failing([TelegramBadRequest(method=method, message="no")])
    with pytest.raises(TelegramBadRequest):
        await DirectReplies(_Pacer())(request, BOT, method)
    assert len(calls) == 1

    # A callback answer that cannot go is dropped (it expires), not raised.
    answer = AnswerCallbackQuery(callback_query_id="q")
    calls, request = _failing([server, server, server])
    assert await DirectReplies(_Pacer())(request, BOT, answer) is True
    assert len(calls) == 3
