"""Tests for the fake Bot API server, driving the real aiogram Bot against it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
)

from tests.fakebotapi import FakeBotAPI, make_message

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as srv:
        yield srv


@pytest_asyncio.fixture
async def bot(server: FakeBotAPI) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(server.url))
    bot = Bot("42:TEST-TOKEN", session=session)
    try:
        yield bot
    finally:
        await bot.session.close()


def keyboard(*labels: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=t.lower())] for t in labels]
    )


@pytest.mark.asyncio
async def test_get_me(bot: Bot, server: FakeBotAPI) -> None:
    me = await bot.get_me()
    assert me.id == 42
    assert me.is_bot
    assert me.username == "aduan_test_bot"
    assert me.can_join_groups is True
    (call,) = server.sent("getMe")
    assert call.token == "42:TEST-TOKEN"


@pytest.mark.asyncio
async def test_send_message_with_keyboard_and_edit(bot: Bot, server: FakeBotAPI) -> None:
    sent = await bot.send_message(777, "Pilih kategori", reply_markup=keyboard("Jalan", "Air"))
    assert sent.message_id == 1000
    assert sent.chat.id == 777 and sent.chat.type == "private"
    assert sent.from_user is not None and sent.from_user.id == 42
    assert sent.text == "Pilih kategori"
    assert sent.reply_markup is not None
    assert sent.reply_markup.inline_keyboard[1][0].callback_data == "air"

    (call,) = server.sent("sendMessage", chat_id=777)
    assert call.params["chat_id"] == 777
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Jalan"

    edited = await bot.edit_message_text(
        text="Kategori: Jalan", chat_id=777, message_id=sent.message_id
    )
    assert isinstance(edited, Message)
    assert edited.text == "Kategori: Jalan"
    assert edited.reply_markup is None  # editing without reply_markup drops the keyboard
    assert edited.edit_date is not None

    second = await bot.send_message(777, "Terima kasih")
    assert second.message_id == 1001
    assert server.texts(777) == ["Pilih kategori", "Terima kasih"]
    assert server.texts(777, include_edits=True)[1] == "Kategori: Jalan"


@pytest.mark.asyncio
async def test_download_registered_file(bot: Bot, server: FakeBotAPI) -> None:
    file_id = server.add_file(b"hello bytes", file_path="photos/file_1.jpg")
    file = await bot.get_file(file_id)
    assert file.file_path == "photos/file_1.jpg"
    assert file.file_size == len(b"hello bytes")
    data = await bot.download(file)
    assert data is not None and data.read() == b"hello bytes"

    big = server.add_file(b"x", file_path="videos/big.mp4", file_size=25 * 1024 * 1024)
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file(big)


@pytest.mark.asyncio
async def test_retry_after(bot: Bot, server: FakeBotAPI) -> None:
    server.fail_next("sendMessage", status=429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(1, "a")
    assert info.value.retry_after == 7
    (failed,) = server.calls
    assert failed.failed and failed.status == 429
    assert not server.sent("sendMessage")
    # The fault is consumed: the next call succeeds.
    await bot.send_message(1, "b")
    assert server.texts(1) == ["b"]


@pytest.mark.asyncio
async def test_server_error_and_blocked(bot: Bot, server: FakeBotAPI) -> None:
    server.fail_next("sendMessage", status=500)
    server.fail_next("sendMessage", status=403)
    with pytest.raises(TelegramServerError):
        await bot.send_message(1, "a")
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(1, "b")
    server.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(1, "c")
    assert [c.status for c in server.calls] == [500, 403, 400]


@pytest.mark.asyncio
async def test_hang_causes_client_timeout(bot: Bot, server: FakeBotAPI) -> None:
    server.hang_next("sendMessage", 5)
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(1, "slow", request_timeout=1)
    (call,) = server.calls
    assert call.delayed == 5
    await server.wait_for(predicate=lambda c: c.failed, include_failed=True, timeout=3)
    assert not call.ok


@pytest.mark.asyncio
async def test_send_photo_upload_is_recorded(bot: Bot, server: FakeBotAPI) -> None:
    photo = BufferedInputFile(PNG, filename="laporan.png")
    msg = await bot.send_photo(5, photo, caption="Foto jalan rusak")
    assert msg.photo and msg.photo[-1].file_size == len(PNG)
    assert msg.caption == "Foto jalan rusak"
    (call,) = server.sent("sendPhoto")
    assert call.upload("photo") == ("laporan.png", PNG)
    # The returned file id is downloadable, like on real Telegram.
    file = await bot.get_file(msg.photo[-1].file_id)
    data = await bot.download(file)
    assert data is not None and data.read() == PNG


@pytest.mark.asyncio
async def test_send_media_group(bot: Bot, server: FakeBotAPI) -> None:
    media = [
        InputMediaPhoto(media=BufferedInputFile(PNG, filename=f"{i}.png"), caption=f"foto {i}")
        for i in range(3)
    ]
    messages = await bot.send_media_group(9, media)
    assert len(messages) == 3
    assert len({m.media_group_id for m in messages}) == 1
    assert [m.message_id for m in messages] == [1000, 1001, 1002]
    (call,) = server.sent("sendMediaGroup")
    assert len(call.files) == 3
    assert server.texts(9) == ["foto 0", "foto 1", "foto 2"]


@pytest.mark.asyncio
async def test_polling_roundtrip(bot: Bot, server: FakeBotAPI) -> None:
    dp = Dispatcher()

    @dp.message(CommandStart())
    async def on_start(message: Message) -> None:
        await message.answer("Halo!", reply_markup=keyboard("Lapor"))

    @dp.callback_query(F.data == "lapor")
    async def on_lapor(query: CallbackQuery) -> None:
        await query.answer()
        assert isinstance(query.message, Message)
        await query.message.edit_text("Silakan kirim foto")

    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False))
    try:
        since = server.mark()
        server.push_update(server.make_message(100, 100, "/start"))
        (reply,) = await server.wait_for("sendMessage", since=since)
        assert reply.params["chat_id"] == 100
        assert reply.params["text"] == "Halo!"

        await server.press(100, "lapor", reply.result["message_id"])
        await server.wait_for("answerCallbackQuery", since=since)
        (edit,) = await server.wait_for("editMessageText", since=since)
        assert edit.params["message_id"] == reply.result["message_id"]
        assert server.message(100, reply.result["message_id"])["text"] == "Silakan kirim foto"

        # An update without a handler is consumed (offset advances); the next one still works.
        server.push_update(make_message(100, 100, "halo"))
        server.push_update(server.make_message(100, 100, "/start"))
        replies = await server.wait_for("sendMessage", count=2, since=since)
        assert len(replies) == 2
        assert server.texts(100) == ["Halo!", "Halo!"]
    finally:
        await dp.stop_polling()
        with contextlib.suppress(asyncio.CancelledError):
            await task
