"""Downloading Telegram files by id (citizen media, PIC proof photos)."""

from __future__ import annotations

import asyncio
import io

import aiohttp
from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError, TelegramServerError

from handlers import intake as core

DOWNLOAD_ATTEMPTS = 3


def fetcher(bot: Bot) -> core.Fetch:
    """Downloads a Telegram file by id, retrying transient server and network errors."""

    async def fetch(media: core.Media) -> bytes:
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            try:
                file = await bot.get_file(media.ref)
                if not file.file_path:
                    raise RuntimeError("Telegram returned no file path")
                buffer = io.BytesIO()
                await bot.download_file(file.file_path, destination=buffer, timeout=120)
                return buffer.getvalue()
            except (TelegramServerError, TelegramNetworkError, aiohttp.ClientError):
                if attempt == DOWNLOAD_ATTEMPTS:
                    raise
                await asyncio.sleep(0.2 * attempt)  # brief backoff before the next attempt
        raise AssertionError("unreachable")

    return fetch
