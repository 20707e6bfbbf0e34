"""Identity numbers: phone numbers normalised to E.164, NIK format checked, NIK masked."""

from __future__ import annotations

import pytest

from models.identity import NikProblem, check_nik, mask_nik, nik_is_female, normalize_phone

# ---- phone numbers ----------------------------------------------------------------------------

E164 = "+6281234567890"


@pytest.mark.parametrize("typed", [
    "0812-3456-7890", "081234567890", "+62 812 3456 7890", "6281234567890", "62812-3456-7890",
    "+62 (812) 3456.7890", " 0812 3456 7890 ", "812 3456 7890",
])
def test_indonesian_mobile_numbers_become_e164(typed: str) -> None:
    assert normalize_phone(typed) == E164


@pytest.mark.parametrize("typed", [
    "", "   ", "abc", "0812-ABCD-7890", "08123", "12345", "+62811111",
    "021 5550123",  # a Jakarta fixed line: not a number to call a citizen back on
    "0800 1234567",  # toll-free
    "0812345678901234567890123456789012345",  # too long to be typed as a phone number
    "0812 3456 7890 ext. 12",
])
def test_invalid_or_not_mobile_is_none(typed: str) -> None:
    assert normalize_phone(typed) is None


def test_none_is_none() -> None:
    assert normalize_phone(None) is None


def test_foreign_numbers() -> None:
    assert normalize_phone("+44 7911 123456") == "+447911123456"
    # A Telegram contact or a WhatsApp id carries its country code without the "+".
    assert normalize_phone("447911123456", international=True) == "+447911123456"
    assert normalize_phone("6281234567890", international=True) == E164
    assert normalize_phone("+6281234567890", international=True) == E164
    # another default region
    assert normalize_phone("07911 123456", region="GB") == "+447911123456"


# ---- NIK --------------------------------------------------------------------------------------

MAN = "3171011705900001"  # Jakarta Pusat, born 17 May 1990, serial 0001
WOMAN = "3171015705900002"  # the same, day 17 + 40


def test_well_formed_niks() -> None:
    assert check_nik(MAN) is None
    assert check_nik(WOMAN) is None
    assert check_nik("3171 0117 0590 0001") is None  # grouped as people write it
    assert check_nik("3171.0117.0590.0001") is None
    assert not nik_is_female(MAN) and nik_is_female(WOMAN)


@pytest.mark.parametrize("day", ["41", "50", "69", "70", "71"])
def test_women_days_41_to_71(day: str) -> None:
    assert check_nik(f"317101{day}01900001") is None  # January: 31 days


@pytest.mark.parametrize("day,problem", [
    ("00", NikProblem.DAY), ("32", NikProblem.DAY), ("39", NikProblem.DAY),
    ("40", NikProblem.DAY), ("72", NikProblem.DAY), ("99", NikProblem.DAY),
])
def test_days_out_of_range(day: str, problem: NikProblem) -> None:
    assert check_nik(f"317101{day}01900001") is problem


@pytest.mark.parametrize("month", ["00", "13", "99"])
def test_month_out_of_range(month: str) -> None:
    assert check_nik(f"31710117{month}900001") is NikProblem.MONTH


def test_calendar_dates() -> None:
    assert check_nik("3171013102900001") is NikProblem.DATE  # 31 February
    assert check_nik("3171017102900001") is NikProblem.DATE  # 31 February, a woman
    assert check_nik("3171013104900001") is NikProblem.DATE  # 31 April
    assert check_nik("3171013004900001") is None  # 30 April
    assert check_nik("3171012902960001") is None  # 29 February 1996
    assert check_nik("3171012902970001") is NikProblem.DATE  # 1997/2097: no 29 February
    assert check_nik("3171016902000001") is None  # 29 February 2000 (1900 was not a leap year)
    assert check_nik("3171012902050001") is NikProblem.DATE  # neither 1905 nor 2005 leap


def test_serial_not_zero() -> None:
    assert check_nik("3171011705900000") is NikProblem.SERIAL
    assert check_nik("3171011705909999") is None


@pytest.mark.parametrize("region", ["003101", "310001", "317100", "000000"])
def test_region_codes_not_zero(region: str) -> None:
    assert check_nik(f"{region}1705900001") is NikProblem.REGION


@pytest.mark.parametrize("text", ["317101170590001", "31710117059000011", "3171", "1" * 20])
def test_wrong_length(text: str) -> None:
    assert check_nik(text) is NikProblem.LENGTH


@pytest.mark.parametrize("text", ["31710117059000O1", "3171011705900001x", "NIK3171011705900001",
                                  "３１７１０１１７０５９００００１", "3171/0117/0590/0001", "+1"])
def test_non_digits(text: str) -> None:
    assert check_nik(text) is NikProblem.NOT_DIGITS


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty(text: str | None) -> None:
    assert check_nik(text) is NikProblem.EMPTY


def test_mask_shows_the_last_four_only() -> None:
    masked = mask_nik(MAN)
    assert masked == "•" * 12 + "0001" and "3171" not in masked
    assert mask_nik("3171 0117 0590 0001") == masked
    assert mask_nik("") == "" and mask_nik(None) == "" and mask_nik("12") == "••"
