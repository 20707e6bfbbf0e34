"""Bans: an admin bars a citizen (by a ticket of theirs, a Telegram user id or a WhatsApp
number); the citizen is told once, politely, in their language, then ignored on every
channel until unbanned (told once again)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import lifecycle
from handlers.admin import UsageError
from handlers.i18n import Translator
from models import repo
from models.domain import Channel, normalize_ticket, utcnow
from models.tables import Citizen

TG, WA = Channel.TELEGRAM.value, Channel.WHATSAPP.value
DIGITS = re.compile(r"^\d{5,20}$")


@dataclass
class Target:
    """Who a `/blokir` argument names: candidates (channel, external id), shown as `who`."""

    who: str
    citizens: list[Citizen]


def wa_number(text: str) -> str:
    """A typed WhatsApp number as its wa_id: digits only, a leading 0 taken as Indonesia's."""
    digits = re.sub(r"\D", "", text)
    return "62" + digits[1:] if digits.startswith("0") else digits


async def find(session: AsyncSession, deps: lifecycle.Deps, args: str) -> Target:
    """`ADU-7K3Q` | `123456789` | `+62812…` | `tg:…` | `wa:…` -> the matching citizens;
    UsageError('ban-usage') when the argument is none of these."""
    arg = args.strip()
    if not arg:
        raise UsageError("ban-usage")
    low = arg.lower()
    prefix = deps.ticket_prefix.lower()
    if low.startswith((prefix, "#")):
        code = normalize_ticket(arg, deps.ticket_prefix) if " " not in arg.strip() else None
        if code is None:
            raise UsageError("ban-usage")
        report = await repo.report_by_code(session, code)
        citizen = await session.get(Citizen, report.citizen_id) if report else None
        return Target(code, [citizen] if citizen else [])
    arg = re.sub(r"[\s().-]", "", arg)  # a number as people write it: +62 812-3456-7890
    low = arg.lower()
    channels: tuple[str, ...] = (TG, WA)
    if low.startswith(("tg:", "wa:")):
        channels = (TG,) if low.startswith("tg:") else (WA,)
        arg = arg[3:]
    elif arg.startswith("+"):
        channels = (WA,)
    ids = {TG: re.sub(r"\s", "", arg), WA: wa_number(arg)}
    if not all(DIGITS.match(ids[c]) for c in channels):
        raise UsageError("ban-usage")
    found = [c for ch in channels
             if (c := await repo.get_citizen(session, ch, ids[ch])) is not None]
    return Target(arg, found)


def label(citizen: Citizen) -> str:
    """How an admin sees a citizen: channel, id and name."""
    channel = "WhatsApp +" if citizen.channel == WA else "Telegram "
    name = f" ({citizen.display_name})" if citizen.display_name else ""
    return f"{channel}{citizen.external_id}{name}"


async def ban(session: AsyncSession, citizen: Citizen, commit: bool = True) -> bool:
    """Ban (committed unless `commit=False`); False if already banned. They are told at their
    next message."""
    result = await session.execute(
        update(Citizen).where(col(Citizen.id) == citizen.id, col(Citizen.banned_at).is_(None))
        .values(banned_at=utcnow(), ban_notified=False)
        .execution_options(synchronize_session=False))
    if commit:
        await session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def unban(session: AsyncSession, deps: lifecycle.Deps, citizen: Citizen,
                commit: bool = True) -> bool:
    """Lift a ban and tell the citizen once, through the outbox (committed together, unless
    `commit=False`)."""
    result = await session.execute(
        update(Citizen).where(col(Citizen.id) == citizen.id,
                              col(Citizen.banned_at).is_not(None))
        .values(banned_at=None, ban_notified=False)
        .execution_options(synchronize_session=False))
    if not result.rowcount:  # type: ignore[attr-defined]
        if commit:
            await session.commit()
        return False
    text = deps.translator(citizen.language, "unban-notice")
    lifecycle.enqueue(session, citizen.external_id, "text", {"text": text, "no_alert": True},
                      channel=citizen.channel)
    if commit:
        await session.commit()
    return True


async def turned_away(session: AsyncSession, translator: Translator, citizen: Citizen) -> bool:
    """A message from `citizen`: True if they are banned (the message must be ignored). The
    first one after the ban queues the polite notice, once (not committed)."""
    if citizen.banned_at is None:
        return False
    result = await session.execute(
        update(Citizen).where(col(Citizen.id) == citizen.id,
                              col(Citizen.banned_at).is_not(None),
                              col(Citizen.ban_notified).is_(False))
        .values(ban_notified=True).execution_options(synchronize_session=False))
    if result.rowcount:  # type: ignore[attr-defined]
        text = translator(citizen.language, "ban-notice")
        lifecycle.enqueue(session, citizen.external_id, "text",
                          {"text": text, "no_alert": True}, channel=citizen.channel)
    return True

