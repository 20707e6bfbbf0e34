"""Layer 1: ticket codes and working-day deadlines, with plain values only."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from models.domain import TICKET_ALPHABET, add_working_days, new_ticket_code, normalize_ticket

WIB = ZoneInfo("Asia/Jakarta")


# ---- ticket codes -------------------------------------------------------------------------


def test_alphabet_has_no_look_alikes() -> None:
    assert not set("0O1IL") & set(TICKET_ALPHABET)
    assert len(set(TICKET_ALPHABET)) == len(TICKET_ALPHABET)


def test_new_codes_use_the_alphabet_only() -> None:
    pattern = re.compile(rf"^ADU-[{TICKET_ALPHABET}]{{4}}$")
    codes = {new_ticket_code("ADU") for _ in range(500)}
    assert all(pattern.match(code) for code in codes), codes
    assert len(codes) > 400  # random, not a counter
    assert re.match(rf"^LPR-[{TICKET_ALPHABET}]{{6}}$", new_ticket_code("LPR", 6))


@pytest.mark.parametrize(
    "typed",
    ["adu 7k3q", "#ADU-7K3Q", "7K3Q", "7k3q", "ADU-7K3Q", "  adu-7k3q  ", "ADU7K3Q", "# adu 7K3Q"],
)
def test_normalize_accepts_what_people_type(typed: str) -> None:
    assert normalize_ticket(typed, "ADU") == "ADU-7K3Q"


@pytest.mark.parametrize(
    "typed",
    [
        "XYZ-7K3Q",  # another deployment's prefix
        "LPR 7K3Q",
        "",
        "   ",
        "#",
        "ADU-",
        "ADU-7K3",  # too short
        "ADU-7K3Q5678X",  # too long
        "ADU-0O1I",  # characters that are never issued
        "ADU-7K3L",
        "halo pak",
        "jalan rusak di depan SD",
        "ADU-7K-3Q",
        "ADU_7K3Q",
    ],
)
def test_normalize_rejects_other_prefixes_and_junk(typed: str) -> None:
    assert normalize_ticket(typed, "ADU") is None


def test_normalize_uses_the_configured_prefix() -> None:
    assert normalize_ticket("lpr 7k3q", "LPR") == "LPR-7K3Q"
    assert normalize_ticket("ADU-7K3Q", "LPR") is None


def test_generated_codes_round_trip() -> None:
    for _ in range(50):
        code = new_ticket_code("ADU")
        assert normalize_ticket(code.lower().replace("-", " "), "ADU") == code


# ---- working-day deadlines ----------------------------------------------------------------


def wib(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=WIB)


def end_of_day(d: date) -> datetime:
    return datetime.combine(d, time(23, 59, 59), tzinfo=WIB)


def test_result_is_utc_at_end_of_local_day() -> None:
    due = add_working_days(wib(2026, 1, 6), 1, WIB)  # Tuesday -> Wednesday
    assert due.tzinfo is not None and due.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    local = due.astimezone(WIB)
    assert local.date() == date(2026, 1, 7)
    assert local.time() == time(23, 59, 59)
    assert due == datetime(2026, 1, 7, 16, 59, 59, tzinfo=UTC)  # WIB is UTC+7


def test_weekend_is_skipped() -> None:
    # 2026-01-02 is a Friday: one working day later is Monday 5 January.
    assert add_working_days(wib(2026, 1, 2), 1, WIB) == end_of_day(date(2026, 1, 5))
    # Saturday and Sunday starts also land on Monday.
    assert add_working_days(wib(2026, 1, 3), 1, WIB) == end_of_day(date(2026, 1, 5))
    assert add_working_days(wib(2026, 1, 4), 1, WIB) == end_of_day(date(2026, 1, 5))
    # Five working days from a Monday is the next Monday.
    assert add_working_days(wib(2026, 1, 5), 5, WIB) == end_of_day(date(2026, 1, 12))
    # Ten working days span two weekends.
    assert add_working_days(wib(2026, 1, 5), 10, WIB) == end_of_day(date(2026, 1, 19))


def test_holidays_are_skipped() -> None:
    holidays = [date(2026, 1, 5), date(2026, 1, 6)]  # Monday and Tuesday off
    assert add_working_days(wib(2026, 1, 2), 1, WIB, holidays) == end_of_day(date(2026, 1, 7))
    # A holiday on a weekend changes nothing.
    assert add_working_days(wib(2026, 1, 2), 1, WIB, [date(2026, 1, 3)]) == end_of_day(
        date(2026, 1, 5)
    )
    # Christmas 2026 is a Friday: Thursday + 1 working day is Monday 28 December.
    assert add_working_days(wib(2026, 12, 24), 1, WIB, (date(2026, 12, 25),)) == end_of_day(
        date(2026, 12, 28)
    )


def test_days_are_counted_in_local_time_not_utc() -> None:
    # 20:00 UTC on Thursday 1 January is already Friday 03:00 in Jakarta.
    start = datetime(2026, 1, 1, 20, 0, tzinfo=UTC)
    assert add_working_days(start, 1, WIB) == end_of_day(date(2026, 1, 5))
    # The same instant seen from UTC would still be Thursday, giving Friday.
    assert add_working_days(start, 1, ZoneInfo("UTC")).date() == date(2026, 1, 2)


def test_zero_or_negative_days_is_end_of_today() -> None:
    assert add_working_days(wib(2026, 1, 6, 8), 0, WIB) == end_of_day(date(2026, 1, 6))
    assert add_working_days(wib(2026, 1, 6, 8), -3, WIB) == end_of_day(date(2026, 1, 6))


def test_other_zones_use_their_own_day_end() -> None:
    wit = ZoneInfo("Asia/Jayapura")  # UTC+9
    due = add_working_days(datetime(2026, 1, 6, 9, tzinfo=wit), 1, wit)
    assert due == datetime(2026, 1, 7, 14, 59, 59, tzinfo=UTC)
