"""One worker's leases on chats (several workers on one database): the short transactions
both channels' shared drains are made of (bot/inbox.py SharedInboxProcessor for Telegram,
bot/whatsapp.py WhatsAppInbound for WhatsApp), over models/inbox.py's statements."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from models import inbox
from models.domain import utcnow
from models.tables import Inbox

# Work done in the release's transaction, before the lease goes (e.g. clearing sent answers).
Before = Callable[[Any], Awaitable[None]] | None


def worker_name() -> str:
    """This process's holder name: host, pid and a random tag (a restart is someone new)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class ChatLeases:
    """Take, renew and give up the lease on a chat's inbox rows of one channel; each call is
    one short transaction."""

    def __init__(self, sessionmaker: async_sessionmaker[Any], channel: str, holder: str,
                 lease: timedelta, batch: int = 2) -> None:
        self.sessionmaker = sessionmaker
        self.channel = channel
        self.holder = holder
        self.lease = lease
        self.batch = batch  # rows read per turn: the one to process, and whether another waits

    async def claim(self, key: str) -> bool:
        """Take or renew the chat's lease."""
        now = utcnow()
        async with self.sessionmaker() as session:
            ok = await inbox.claim_chat(session, self.channel, key, self.holder,
                                        now + self.lease, now)
            await session.commit()
        return ok

    async def claim_rows(self, key: str) -> list[Inbox] | None:
        """Take or renew the chat and read its next rows; None when another worker has it."""
        now = utcnow()
        async with self.sessionmaker() as session:
            rows = await inbox.claim_chat_rows(session, self.channel, key, self.holder,
                                               now + self.lease, now, self.batch)
            await session.commit()
        return rows

    async def release_and_look(self, key: str, before: Before = None) -> bool:
        """Let the chat go; whether a row waits now (rows recorded meanwhile, anywhere)."""
        async with self.sessionmaker() as session:
            if before is not None:
                await before(session)
            more = await inbox.release_chat_and_look(session, self.channel, key, self.holder,
                                                     utcnow())
            await session.commit()
        return more

    async def release(self, key: str, before: Before = None) -> None:
        """Let the chat go (after a failure: whoever comes next looks at its rows)."""
        async with self.sessionmaker() as session:
            if before is not None:
                await before(session)
            await inbox.release_chat(session, self.channel, key, self.holder, utcnow())
            await session.commit()

    async def heartbeat(self, key: str) -> None:
        """Renew the lease every quarter of it, while one update takes long (a slow
        download); cancelled when it is done."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 4)
            await self.claim(key)
