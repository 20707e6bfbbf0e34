"""Domain rules that need no database: statuses, ticket codes, working-day deadlines."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class Status(StrEnum):
    RECEIVED = "received"
    VERIFIED = "verified"
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    NEED_INFO = "need_info"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REJECTED = "rejected"


OPEN_STATUSES = frozenset(
    {Status.RECEIVED, Status.VERIFIED, Status.DISPATCHED, Status.IN_PROGRESS, Status.NEED_INFO}
)


class Channel(StrEnum):
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"


# No 0/O, 1/I/L, U/V look-alikes: typeable from a phone and unambiguous when read aloud.
TICKET_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
_BODY_RE = re.compile("^[" + TICKET_ALPHABET + "]{4,8}$")


def utcnow() -> datetime:
    """Current time, timezone-aware UTC (how every timestamp is stored)."""
    return datetime.now(UTC)


def new_ticket_code(prefix: str, length: int = 4) -> str:
    """Random ticket code such as ADU-7K3Q."""
    body = "".join(secrets.choice(TICKET_ALPHABET) for _ in range(length))
    return f"{prefix}-{body}"


def ticket_length(reports: int, *, shortest: int = 4, longest: int = 8,
                  load: float = 0.01) -> int:
    """Code length for the next ticket: the shortest whose space stays under `load` full, so
    a new random code collides with an existing one less than 1 time in 100. Old (shorter)
    codes stay valid: lookups accept 4 to 8 characters."""
    length = shortest
    while length < longest and reports >= load * len(TICKET_ALPHABET) ** length:
        length += 1
    return length


def normalize_ticket(text: str, prefix: str) -> str | None:
    """Typed ticket ('adu 7k3q', '7K3Q', '#ADU-7K3Q') to canonical form, or None."""
    cleaned = text.strip().upper().lstrip("#").strip()
    if cleaned.startswith(prefix):
        cleaned = cleaned[len(prefix) :].lstrip("- ")
    return f"{prefix}-{cleaned}" if _BODY_RE.match(cleaned) else None


def add_working_days(
    start: datetime, days: int, tz: ZoneInfo, holidays: Iterable[date] = ()
) -> datetime:
    """Aware start plus `days` working days (Mon-Fri, minus holidays) in tz, at day's end, UTC."""
    off = set(holidays)
    local = start.astimezone(tz)
    day = local.date()
    remaining = max(days, 0)
    while remaining > 0:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in off:
            remaining -= 1
    end = datetime.combine(day, time(23, 59, 59), tzinfo=tz)
    return end.astimezone(UTC)
