"""Identity numbers: phone numbers normalised to E.164, NIK format checked, NIK masked."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select

from models.identity import NikProblem, check_nik, mask_nik, nik_is_female, normalize_phone
from models.tables import Citizen, Report
from tests import test_load as L
from tests.conftest import Harness, jpeg_bytes, new_user
from tests.test_intake_telegram import draft_of, reports_of, to_location

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


# ---- end to end through the real bot ----------------------------------------------------------
# (tests/test_whatsapp.py checks the WhatsApp number is stored as E.164 too)


async def _send(h: Harness, user: int) -> Report:
    texts = await h.press(user, "send", h.buttons(user)[0].split(":", 2)[2], replies=1)
    assert "diterima" in texts[0] or "received" in texts[0], texts
    [report] = await reports_of(h, user)
    return report


async def _at_phone_step(h: Harness, user: int) -> None:
    await to_location(h, user)
    await h.say(user, location=(0.40, 101.85), replies=2)
    await h.press(user, "name", replies=1)


async def test_shared_contact_is_stored_as_e164(harness: Harness) -> None:
    h, user = harness, new_user()
    await _at_phone_step(h, user)
    # Telegram often gives a contact's number without the "+"
    texts = await h.say(user, contact={"phone_number": "6281234567890", "first_name": "Budi",
                                       "user_id": user}, replies=2)
    assert texts[0] == "Nomor HP dicatat." and "+6281234567890" in texts[1]
    report = await _send(h, user)
    assert h.app.deps.pii.decrypt(report.reporter_phone_enc) == "+6281234567890"


async def test_typed_number_is_stored_as_e164(harness: Harness) -> None:
    h, user = harness, new_user()
    await _at_phone_step(h, user)
    texts = await h.say(user, "0812-3456-7890", replies=2)
    assert texts[0] == "Nomor HP dicatat." and "+6281234567890" in texts[1]
    report = await _send(h, user)
    assert h.app.deps.pii.decrypt(report.reporter_phone_enc) == "+6281234567890"


async def test_invalid_typed_number_is_asked_again_politely(harness: Harness) -> None:
    h, user = harness, new_user()
    await _at_phone_step(h, user)
    for typed in ("12345", "021 5550123"):  # too short; a fixed line
        texts = await h.say(user, typed, replies=1)
        assert texts[0].startswith("Maaf, itu bukan nomor HP"), texts
        assert h.last_markup(user)["keyboard"][0][0]["request_contact"] is True  # still offered
    assert (await draft_of(h, user)).data.get("phone_enc") is None
    texts = await h.say(user, "+62 812 3456 7890", replies=2)
    assert texts[0] == "Nomor HP dicatat."
    report = await _send(h, user)
    assert h.app.deps.pii.decrypt(report.reporter_phone_enc) == "+6281234567890"


async def test_shared_contact_that_is_no_mobile_number_is_asked_again(harness: Harness) -> None:
    h, user = harness, new_user()
    await _at_phone_step(h, user)
    texts = await h.say(user, contact={"phone_number": "+62811111", "first_name": "Budi",
                                       "user_id": user}, replies=1)
    assert texts[0].startswith("Maaf, itu bukan nomor HP"), texts
    assert (await draft_of(h, user)).data.get("phone_enc") is None
    texts = await h.say(user, "lewati", replies=2)
    assert texts[0] == "Tanpa nomor HP."
    assert (await _send(h, user)).reporter_phone_enc is None


async def test_invalid_number_reprompt_in_english(harness: Harness) -> None:
    h, user = harness, new_user()
    await h.say(user, "/start", language_code="en")  # first contact in English
    await _at_phone_step(h, user)
    texts = await h.say(user, "555-0199", replies=1)
    assert texts[0].startswith("Sorry, that is not a mobile number"), texts
    texts = await h.say(user, contact={"phone_number": "+6281234567891", "first_name": "Budi",
                                       "user_id": user}, replies=2)
    assert texts[0] == "Phone number saved."
    report = await _send(h, user)
    assert h.app.deps.pii.decrypt(report.reporter_phone_enc) == "+6281234567891"


async def test_many_citizens_at_once_each_stored_in_e164(harness: Harness) -> None:
    """Several citizens share or type their numbers at the same time: each report gets its own
    citizen's number, normalised, and nobody gets someone else's."""
    h = harness
    users = L.distinct_citizens(8)

    async def file(i: int, user: int) -> str:
        who = f"{user} #{i}"
        await L.say(h, user, "/start", what=who, label=L.tr("btn-new-report"))
        await L.press(h, user, L.tr("btn-new-report"), next_label=L.road_label())
        await L.press(h, user, L.road_label())
        await L.say(h, user, L.DESCRIPTION, what=who, label=L.tr("btn-done"))
        photo = h.fake.add_file(jpeg_bytes(size=(64 + i, 48)), file_path=f"photos/id-{i}.jpg")
        await L.say(h, user, photo=photo, what=who, label=L.tr("btn-done"))
        await L.press(h, user, L.tr("btn-done"))
        await L.say(h, user, location=(0.40, 101.85), what=who, label=L.tr("btn-anonymous"))
        await L.say(h, user, "Budi Santoso", what=who, match=L.any_of("ask-phone"))
        local = f"81234500{i:03d}"
        if i % 3 == 2:  # typed
            await L.say(h, user, f"0{local[:3]}-{local[3:7]}-{local[7:]}", what=who,
                        label=L.tr("btn-send"))
        else:  # shared, with and without the "+"
            number = f"62{local}" if i % 3 == 0 else f"+62{local}"
            await L.say(h, user, contact={"phone_number": number, "first_name": "Budi",
                                          "user_id": user}, what=who, label=L.tr("btn-send"))
        done = await L.press(h, user, L.tr("btn-send"), match=L.any_of(*L.RECEIVED))
        return L.ticket(done.text)

    codes = await asyncio.gather(*(file(i, u) for i, u in enumerate(users)))
    assert len(set(codes)) == len(users)
    async with h.sessionmaker() as s:
        for i, (user, code) in enumerate(zip(users, codes, strict=True)):
            report = (await s.exec(select(Report).where(Report.code == code))).one()
            citizen = await s.get(Citizen, report.citizen_id)
            assert citizen.external_id == str(user)
            phone = h.app.deps.pii.decrypt(report.reporter_phone_enc)
            assert phone == f"+6281234500{i:03d}" and not report.anonymous
