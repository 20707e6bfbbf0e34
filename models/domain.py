"""Domain rules that need no database: statuses, ticket codes, working-day deadlines."""

from __future__ import annotations

import importlib.util
import re
import secrets
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

import holidays as holidays_lib


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
    """Aware start plus `days` working days (Mon-Fri, minus `holidays` only) in tz, at that
    day's end, as UTC; deployments use WorkCalendar, which adds the public holidays."""
    return WorkCalendar(tz, holidays, None).add_working_days(start, days)


# ---- clocks -----------------------------------------------------------------------------------


class Clock(Protocol):
    """Where "now" comes from: the system in production, a hand-moved clock in tests and demos."""

    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


class ManualClock:
    """A clock that moves only when told (`advance`, `set`): tests and the playground."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or utcnow()

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now


class ShiftedClock:
    """The system clock moved forward by a settable offset: time still flows, and a test or a
    demo can jump ahead ("one working day later") to see lights change."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, delta: timedelta) -> datetime:
        self.offset += delta
        return self.now()


# ---- deadlines --------------------------------------------------------------------------------

_DEADLINE_RE = re.compile(r"^\s*(\d{1,4})\s*(d|h|j|hari|jam|days?|hours?)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Deadline:
    """A deadline as a category states it: `n` working days ("5d", "5 hari") or hours
    ("48h", "48 jam", wall-clock, for urgent matters)."""

    amount: int
    unit: str  # "d" | "h"

    @classmethod
    def parse(cls, text: str | int) -> Deadline:
        """'5', '5d', '5 hari', '48h', '48 jam' -> Deadline; ValueError otherwise."""
        match = _DEADLINE_RE.match(str(text))
        if match is None:
            raise ValueError(f"not a deadline: {text!r} (write e.g. 5d or 48h)")
        amount, unit = int(match.group(1)), (match.group(2) or "d").lower()
        unit = "h" if unit[0] in "hj" and unit not in ("hari",) else "d"
        if amount <= 0 or (unit == "d" and amount > 365) or (unit == "h" and amount > 8760):
            raise ValueError(f"deadline out of range: {text!r}")
        return cls(amount, unit)

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


def country_holidays(country: str) -> holidays_lib.HolidayBase:
    """The public holidays of one country (ISO code), as `holidays.country_holidays` gives them,
    with only that country's module imported: the package `holidays.countries` imports all of
    its ~250 countries in its `__init__` (~8 MB resident). It is registered unexecuted, as a
    plain package path, so `holidays.countries.<name>` modules still import one by one."""
    loader = getattr(holidays_lib, country, None)
    module = getattr(loader, "module_name", None)  # e.g. holidays.countries.indonesia
    package = module.rpartition(".")[0] if isinstance(module, str) else ""
    if package and package not in sys.modules:
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            sys.modules[package] = importlib.util.module_from_spec(spec)
    return holidays_lib.country_holidays(country)


class WorkCalendar:
    """Working days in the deployment's time zone: Monday to Friday, minus Indonesia's public
    holidays (the `holidays` library, Islamic-calendar dates included) and local extra days."""

    def __init__(self, tz: ZoneInfo, extra: Iterable[date] = (), country: str | None = "ID"
                 ) -> None:
        self.tz = tz
        self.extra = frozenset(extra)
        self._public = country_holidays(country) if country else None

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.extra and (
            self._public is None or day not in self._public)

    def holiday_name(self, day: date) -> str | None:
        if day in self.extra:
            return "local"
        if self._public is not None and day in self._public:  # `in` loads the year
            return str(self._public.get(day))
        return None

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """Aware start plus `days` working days, at that day's end in tz, as UTC."""
        day = start.astimezone(self.tz).date()
        remaining = max(days, 0)
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return datetime.combine(day, time(23, 59, 59), tzinfo=self.tz).astimezone(UTC)

    def due(self, start: datetime, deadline: Deadline | str) -> datetime:
        """When a deadline that starts at `start` falls due."""
        spec = deadline if isinstance(deadline, Deadline) else Deadline.parse(deadline)
        if spec.unit == "h":
            return start + timedelta(hours=spec.amount)
        return self.add_working_days(start, spec.amount)


# ---- the traffic light ------------------------------------------------------------------------

LIGHT_EMOJI = {"green": "🟢", "yellow": "🟡", "red": "🔴", "done": "✅", "rejected": "⛔"}
TERMINAL = frozenset({Status.RESOLVED, Status.CLOSED, Status.REJECTED})


@dataclass(frozen=True)
class LightPlan:
    """A report's light now and the next moments it changes (None: it will not by itself)."""

    light: str
    yellow_at: datetime | None
    red_at: datetime | None


def plan_light(status: str, start: datetime, due: datetime | None, now: datetime,
               share: float, paused: bool = False, current: str = "green") -> LightPlan:
    """The light of an open report whose running deadline (follow-up, or resolution once
    followed up) runs from `start` to `due`: green until `share` of it has passed, yellow
    until it is due, red after. Paused (need_info): the light holds and nothing is scheduled.
    Finished reports are 'done'."""
    if status in TERMINAL:
        return LightPlan("done", None, None)
    if paused:
        return LightPlan(current if current != "done" else "green", None, None)
    if due is None:
        return LightPlan("green", None, None)
    yellow = start + (due - start) * share
    if now >= due:
        return LightPlan("red", None, None)
    if now >= yellow:
        return LightPlan("yellow", None, due)
    return LightPlan("green", yellow, due)
