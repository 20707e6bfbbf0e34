"""A bare aiogram echo bot: the baseline that bench.intake_e2e compares Aduan with.

Run (bench.intake_e2e starts it for you):
    BOT_TOKEN=123456:ECHO TELEGRAM_API_URL=http://127.0.0.1:PORT .venv/bin/python -m bench.echobot

Every message is answered with its text (or a fixed word for media and locations) through
message.answer; every button press with callback.answer plus one message. Long polling until
SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import CallbackQuery, Message

from bench.proc import die_with_parent


async def on_message(message: Message) -> None:
    """Echo the text (or caption); media without text gets the content type back."""
    await message.answer(message.text or message.caption or str(message.content_type))


async def on_callback(callback: CallbackQuery, bot: Bot) -> None:
    """Answer the press, then send its data back as a message to the user."""
    await callback.answer()
    await bot.send_message(callback.from_user.id, callback.data or "ok")


async def run(token: str, api_url: str) -> None:
    """Poll `api_url` with one Dispatcher and the two handlers above until stopped."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url.rstrip("/")))
    bot = Bot(token=token, session=session)
    dp = Dispatcher()
    dp.message.register(on_message)
    dp.callback_query.register(on_callback)
    try:
        await dp.start_polling(bot, allowed_updates=dp.resolve_used_update_types())
    finally:
        await bot.session.close()


def main() -> int:
    """Read BOT_TOKEN and TELEGRAM_API_URL from the environment and run."""
    die_with_parent()
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING").upper())
    token = os.environ.get("BOT_TOKEN", "123456:ECHO")
    api_url = os.environ.get("TELEGRAM_API_URL", "")
    if not api_url:
        print("echobot: set TELEGRAM_API_URL", file=sys.stderr)
        return 2
    try:
        asyncio.run(run(token, api_url))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
