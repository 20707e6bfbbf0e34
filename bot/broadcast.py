"""The broadcast runner: moves running broadcasts forward and keeps their progress message
current. Restart-safe: everything it needs is in the database (handlers/broadcast.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select

from bot.loop import WakeableLoop
from handlers import broadcast as core
from handlers import lifecycle
from handlers.telegram.admin_tools import BcCb
from models.tables import Broadcast

log = logging.getLogger(__name__)

TICK = 0.5  # seconds between steps while a broadcast runs


def cancel_markup(label: str, bc_id: int) -> InlineKeyboardMarkup:
    """The progress message's cancel button."""
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=label, callback_data=BcCb(b=bc_id, a="x").pack())]])


class BroadcastRunner(WakeableLoop):
    """Queues the next citizens of each running broadcast, finishes it when all are settled,
    and edits its progress message at most every `edit_every` seconds."""

    name = "broadcast"

    def __init__(self, bot: Bot, sessionmaker: async_sessionmaker[Any], deps: lifecycle.Deps,
                 gate: core.Gate, channels: list[str], wake_outbox: Callable[[], None],
                 *, window: int = core.WINDOW, edit_every: float = 2.0) -> None:
        super().__init__()
        self.bot = bot
        self.sessionmaker = sessionmaker
        self.deps = deps
        self.gate = gate
        self.channels = channels
        self.wake_outbox = wake_outbox
        self.window = window
        self.edit_every = edit_every
        self._shown: dict[int, tuple[tuple[int, ...], float]] = {}
        self._lang: dict[int, str] = {}

    async def step(self) -> float | None:
        async with self.sessionmaker() as session:
            ids = set((await session.exec(select(Broadcast.id).where(
                Broadcast.status == "running").order_by(col(Broadcast.id)))).all())
            await session.commit()
        # Those shown running before and since finished or cancelled get their last edit.
        for bc_id in sorted(ids | set(self._shown)):
            await self.advance(int(bc_id or 0))
        return TICK if ids else None

    async def advance(self, bc_id: int) -> None:
        async with self.gate.lock, self.sessionmaker() as session:
            bc, queued = await core.advance(session, self.deps, bc_id, self.channels,
                                            self.window)
            if bc is not None and bc_id not in self._lang:
                self._lang[bc_id] = await core.admin_language(session, self.deps, bc)
                await session.commit()
        if queued or (bc is not None and bc.status != "running"):
            self.wake_outbox()  # new rows, or the final count
        if bc is not None:
            await self.show(bc)

    async def show(self, bc: Broadcast) -> None:
        """Edit the progress message when its numbers changed (and on the last change)."""
        bc_id = bc.id or 0
        now = time.monotonic()
        numbers = core.counts(bc)
        key = (numbers.total, numbers.delivered, numbers.blocked, numbers.failed,
               int(bc.status == "running"))
        final = bc.status != "running"
        last = self._shown.get(bc_id)
        if bc.progress_message_id is None or last is not None and (
                last[0] == key or not final and now - last[1] < self.edit_every):
            if final:
                self._forget(bc_id)
            return
        lang = self._lang.get(bc_id, self.deps.default_language)
        t = self.deps.translator.bind(lang)
        markup = None if final else cancel_markup(t("bc-btn-cancel"), bc_id)
        try:
            await self.bot.edit_message_text(
                t("bc-progress", **numbers.params()), chat_id=bc.chat_id,
                message_id=bc.progress_message_id, reply_markup=markup)
        except TelegramAPIError as exc:  # not modified, a 429, a deleted message: next time
            log.debug("broadcast %s progress not edited: %s", bc_id, exc)
        if final:
            self._forget(bc_id)
        else:
            self._shown[bc_id] = (key, now)

    def _forget(self, bc_id: int) -> None:
        self._shown.pop(bc_id, None)
        self._lang.pop(bc_id, None)
