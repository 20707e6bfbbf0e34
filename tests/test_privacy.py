"""Identity choices, personal data encrypted at rest, who sees what, retention, /dataku and
/hapus_dataku — through the real bot on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text, update
from sqlmodel import col, select

from bot.ops import purge_personal_data
from handlers import reports
from handlers.i18n import Translator
from models.domain import utcnow
from models.pii import Vault, convert_plaintext, key_file_vault, rotate_all
from models.tables import Citizen, Report, ReportEvent
from tests import test_load as L
from tests.conftest import ADMIN_ID, Harness, jpeg_bytes, new_user
from tests.test_agency_groups import (
    PIC_A,
    PUPR_GROUP,
    buttons_of,
    card_of,
    setup_groups,
)
from tests.test_intake_telegram import category_id

NAME = "Sutini Rahayuningsih"
PHONE_TYPED, PHONE = "0812-3456-7890", "+6281234567890"
NIK = "3171014709900001"  # a woman born 7 September 1990 (day 47 = 7 + 40)
T = Translator(default="id")


def tr(key: str, lang: str = "id", **params: Any) -> str:
    return T(lang, key, **params)


def plain_values(phone: str = PHONE, nik: str = NIK, name: str = NAME) -> list[str]:
    """Every way the reporter's identity could show up in plain text."""
    return [name, phone, phone.lstrip("+"), phone[3:], PHONE_TYPED, nik, mask_free(nik)]


def mask_free(nik: str) -> str:
    """The NIK's first twelve digits: what masking hides."""
    return nik[:12]


async def say(h: Harness, user: int, msg: str | None = None, replies: int = 1,
              **kwargs: Any) -> list[str]:
    return await h.say(user, msg, replies=replies, first_name=NAME, **kwargs)


async def press(h: Harness, user: int, action: str, arg: str = "") -> list[str]:
    """A button press by the citizen whose profile name is NAME; the texts shown after."""
    mark = h.fake.mark()
    update_ = h.fake.make_callback(user, user, f"in:{action}:{arg}", h.last_message_id(user),
                                   first_name=NAME)
    h.fake.push_update(update_)
    qid = update_["callback_query"]["id"]
    await h.fake.wait_for("answerCallbackQuery", lambda c: c.params.get("callback_query_id")
                          == qid, since=mark, timeout=20)
    # Under a crowd the answer may leave through the outbox after the press is answered.
    await h.fake.wait_for(None, lambda c: c.chat_id == user and c.method in (
        "sendMessage", "editMessageText"), since=mark, timeout=20)
    return [c.text or "" for c in h.fake.calls[mark:] if c.ok and c.chat_id == user
            and c.method in ("sendMessage", "editMessageText")]


async def pic_press(h: Harness, card: Any, action: str) -> str:
    """PIC A presses a card button; the answer to that very press (others may be pressing)."""
    mark = h.fake.mark()
    update_ = h.fake.make_callback(PUPR_GROUP, PIC_A, buttons_of(card.params["reply_markup"])
                                   [action], card.result["message_id"], chat_type="supergroup",
                                   first_name="Andi")
    h.fake.push_update(update_)
    qid = update_["callback_query"]["id"]
    [answer] = await h.fake.wait_for("answerCallbackQuery", lambda c: c.params.get(
        "callback_query_id") == qid, since=mark, timeout=20)
    return str(answer.params.get("text") or "")


async def to_identity(h: Harness, user: int, lang: str = "id") -> list[str]:
    """A report up to the identity question; returns that question's button actions."""
    await say(h, user, "/start", language_code=lang)
    await press(h, user, "new")
    await press(h, user, "cat", str(await category_id(h, "jalan")))
    await say(h, user, "Jalan berlubang besar di depan SD 003, sudah dua minggu.")
    fid = h.fake.add_file(jpeg_bytes(), file_path=f"photos/p{user}.jpg")
    await say(h, user, photo=fid)
    await press(h, user, "done")
    await say(h, user, location=(0.40, 101.85), replies=2)
    return [b.split(":")[1] for b in h.buttons(user)]


async def send(h: Harness, user: int) -> str:
    nonce = h.buttons(user)[0].split(":", 2)[2]
    texts = await press(h, user, "send", nonce)
    match = re.search(r"(ADU-[A-Z0-9]{4,})", texts[0])
    assert match, texts
    return match.group(1)


async def report_by(h: Harness, code: str) -> Report:
    async with h.sessionmaker() as s:
        return (await s.exec(select(Report).where(Report.code == code))).one()


async def raw_rows(h: Harness) -> str:
    """Every row of the tables that hold people's data, as stored (no ORM, no decryption)."""
    out = []
    async with h.sessionmaker() as s:
        for table in ("report", "citizen", "draft", "report_event", "outbox"):
            out += [repr(tuple(r)) for r in (await s.execute(text(f"SELECT * FROM {table}")))]
    return "\n".join(out)


def group_traffic(h: Harness) -> str:
    """Everything the bot sent to the OPD group: texts, captions, buttons, files."""
    parts = []
    for c in h.fake.calls:
        if c.chat_id == PUPR_GROUP:
            parts.append(json.dumps(c.params, ensure_ascii=False, default=str))
            parts += [repr(f) for f in c.files.values()]
    return "\n".join(parts)


def leaks(haystack: str, user: int | None = None, values: list[str] | None = None) -> list[str]:
    found = [v for v in (values or plain_values()) if v and v in haystack]
    if user is not None and re.search(rf"(?<!\d){user}(?!\d)", haystack):
        found.append(str(user))
    return found


# ---- the vault -------------------------------------------------------------------------------


def test_vault_encrypts_hashes_and_rotates() -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    v_old = Vault([old], hash_key=b"h" * 32)
    token = v_old.encrypt(PHONE)
    assert token and PHONE not in token and v_old.decrypt(token) == PHONE
    assert v_old.encrypt(PHONE) != token  # random IV: equal values do not look equal
    assert v_old.hash("phone", PHONE) == v_old.hash("phone", PHONE) != v_old.hash("nik", PHONE)
    both = Vault([new, old], hash_key=b"h" * 32)  # the new key added first
    assert both.decrypt(token) == PHONE
    rotated = both.rotate(token)
    assert Vault([new]).decrypt(rotated) == PHONE
    assert v_old.decrypt(rotated) is None  # written with the new key only
    assert Vault([new]).decrypt(token) is None  # the old key dropped too early: unreadable
    # Without PII_HASH_KEY the hash key comes from the first key (HKDF): stable per key.
    assert Vault([old]).hash("phone", PHONE) == Vault([old, new]).hash("phone", PHONE)
    assert Vault([old]).hash("phone", PHONE) != Vault([new]).hash("phone", PHONE)


def test_key_file_is_generated_once_with_mode_0600(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "keys" / "aduan-pii.key"
    with caplog.at_level(logging.WARNING):
        first = key_file_vault(path)
        second = key_file_vault(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert second.decrypt(first.encrypt(NIK)) == NIK
    assert sum("generated a personal-data key" in r.getMessage() for r in caplog.records) == 1



def _vault_from_key_file(path: str) -> str:
    """In another process: a token encrypted with the key file's vault."""
    return key_file_vault(Path(path)).encrypt(NIK) or ""


def test_workers_starting_at_once_agree_on_one_key_file(tmp_path: Path) -> None:
    """Eight processes creating the key file at the same moment: one key, whole, for all
    (each decrypts what every other encrypted); no temporary file left."""
    from concurrent.futures import ProcessPoolExecutor

    path = tmp_path / "media" / ".aduan-pii.key"
    for _ in range(5):
        path.unlink(missing_ok=True)
        with ProcessPoolExecutor(8) as pool:
            tokens = list(pool.map(_vault_from_key_file, [str(path)] * 16))
        vault = key_file_vault(path)
        assert all(vault.decrypt(token) == NIK for token in tokens)
        assert [p.name for p in path.parent.iterdir()] == [path.name]

# ---- identity choices through the bot --------------------------------------------------------


@pytest.mark.settings(REQUIRE_PHONE=True, REQUIRE_NIK=True, IDENTITY_MODES="named,confidential")
async def test_confidential_reporter_appears_nowhere_an_opd_or_a_file_can_see(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    h, user = harness, new_user()
    caplog.set_level(logging.INFO)  # LOG_LEVEL default; DEBUG lets aiosqlite log SQL
    await setup_groups(h)
    actions = await to_identity(h, user)
    assert actions == ["name", "conf", "cancel"]  # anonymous is not offered: identity required
    texts = await press(h, user, "anon")  # a forged anonymous press changes nothing
    assert any(tr("identity-anonymous-off") in t for t in texts)
    texts = await press(h, user, "conf")
    assert tr("identity-confidential", name=NAME) in texts[0]
    texts = await say(h, user, "lewati")  # the phone is required here: no skipping
    assert texts[0] == tr("phone-required")
    texts = await say(h, user, PHONE_TYPED, replies=2)
    assert texts[0] == tr("phone-saved") and texts[1] == tr("ask-nik")
    # Every NIK problem gets its own polite re-prompt and changes nothing.
    for typed, problem in (("317101470990001", "length"), ("31710147099000A1", "not-digits"),
                           ("3171014700900001", "month"), ("3171017209900001", "day"),
                           ("3171013102900001", "date"), ("3171014709900000", "serial"),
                           ("0071014709900001", "region")):
        assert await say(h, user, typed) == [tr(f"nik-invalid-{problem}")], typed
    texts = await say(h, user, "3171 0147 0990 0001")  # grouped as on the KTP
    summary = texts[0]
    assert tr("nik-saved") in summary and "••••••••••••0001" in summary and NIK not in summary
    assert PHONE in summary and tr("summary-confidential") in summary
    code = await send(h, user)

    card = await card_of(h, PUPR_GROUP, code)
    assert tr("reporter-confidential") in card.text
    report = await report_by(h, code)
    assert report.identity_mode == "confidential" and not report.anonymous
    assert report.reporter_name == NAME and h.app.deps.pii.decrypt(
        report.reporter_nik_enc) == NIK
    # A PIC takes it: the card is edited; still no identity.
    await pic_press(h, card, "take")
    await h.fake.wait_for("editMessageText", lambda c: c.chat_id == PUPR_GROUP)
    assert leaks(group_traffic(h), user) == []

    # Encrypted at rest: neither the phone nor the NIK is in any stored row in plain text.
    raw = await raw_rows(h)
    assert leaks(raw, values=[PHONE, PHONE.lstrip("+"), NIK, PHONE_TYPED]) == []
    async with h.sessionmaker() as s:
        found = (await s.exec(select(Report).where(
            Report.reporter_phone_hash == h.app.deps.pii.hash("phone", PHONE)))).all()
    assert [r.code for r in found] == [code]  # looked up by the keyed hash

    # Exports, for the OPD scope and the personal one: "Rahasia" is all a file ever says.
    period = (utcnow() - timedelta(days=1), utcnow() + timedelta(days=1))
    async with h.sessionmaker() as s:
        for personal in (False, True):
            export = await reports.export_rows(s, h.app.deps, *period, personal=personal)
            assert [r[0] for r in export.rows] == [code]
            csv_text = reports.to_csv(export).decode("utf-8")
            from openpyxl import load_workbook

            book = load_workbook(io.BytesIO(reports.to_xlsx(export)))
            cells = " ".join(str(c.value) for ws in book for row in ws.iter_rows() for c in row)
            assert leaks(csv_text + cells, user) == [], personal

    # /cari by an admin: name and phone, the NIK masked, never in full.
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_message(ADMIN_ID, ADMIN_ID, f"/cari {code}"))
    [found_msg] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == ADMIN_ID,
                                        since=mark)
    assert NAME in found_msg.text and PHONE in found_msg.text
    assert "NIK ••••••••••••0001" in found_msg.text and NIK not in found_msg.text

    # Nothing logged holds the phone or the NIK (raw records, before any redaction).
    logged = "\n".join(r.getMessage() + str(r.exc_text or "") for r in caplog.records)
    assert leaks(logged, values=[PHONE, PHONE.lstrip("+"), PHONE_TYPED, NIK, NAME]) == []


async def test_named_reporter_is_seen_by_the_opd_and_admins(harness: Harness) -> None:
    h, user = harness, new_user()
    await setup_groups(h)
    assert await to_identity(h, user) == ["name", "conf", "anon", "cancel"]
    await press(h, user, "name")
    await say(h, user, PHONE_TYPED, replies=2)  # no NIK step: not required
    code = await send(h, user)
    card = await card_of(h, PUPR_GROUP, code)
    assert NAME in card.text and PHONE in card.text
    report = await report_by(h, code)
    assert report.identity_mode == "named" and report.reporter_nik_enc is None
    assert report.reporter_phone is None and PHONE not in (report.reporter_phone_enc or PHONE)
    async with h.sessionmaker() as s:
        export = await reports.export_rows(s, h.app.deps, utcnow() - timedelta(days=1),
                                           utcnow() + timedelta(days=1), personal=True)
    row = dict(zip(export.columns, export.rows[0], strict=True))
    assert row["reporter_name"] == NAME and row["reporter_phone"] == PHONE


async def test_anonymous_stores_nothing_about_the_reporter(harness: Harness) -> None:
    h, user = harness, new_user()
    await to_identity(h, user)
    texts = await press(h, user, "anon")
    assert tr("identity-anonymous") in texts[0]
    code = await send(h, user)
    report = await report_by(h, code)
    assert report.anonymous and report.identity_mode == "anonymous"
    assert report.reporter_name is None and report.reporter_phone_enc is None
    assert report.reporter_nik_enc is None
    async with h.sessionmaker() as s:
        citizen = await s.get(Citizen, report.citizen_id)
        events = (await s.exec(select(ReportEvent).where(
            ReportEvent.report_id == report.id))).all()
    assert citizen.phone_enc is None and all(e.actor_name is None for e in events)


@pytest.mark.settings(IDENTITY_MODES="confidential", REQUIRE_NIK=True)
async def test_nik_required_in_english_and_only_confidential(harness: Harness) -> None:
    h, user = harness, new_user()
    assert await to_identity(h, user, lang="en") == ["conf", "cancel"]
    texts = await press(h, user, "name")  # named is not offered here
    assert any(tr("identity-mode-off", "en") in t for t in texts)
    await press(h, user, "conf")
    texts = await say(h, user, "skip", replies=2)  # the phone stays optional
    assert texts[-1] == tr("ask-nik", "en")
    assert await say(h, user, "12345") == [tr("nik-invalid-length", "en")]
    assert await say(h, user, "3171010700900001") == [tr("nik-invalid-month", "en")]
    texts = await say(h, user, NIK)
    assert tr("nik-saved", "en") in texts[0]
    code = await send(h, user)
    report = await report_by(h, code)
    assert report.identity_mode == "confidential"
    assert report.reporter_nik_hash == h.app.deps.pii.hash("nik", NIK)


# ---- data migration and key rotation -----------------------------------------------------------


async def test_old_plain_phones_become_encrypted_e164_and_keys_rotate(harness: Harness) -> None:
    h, user = harness, new_user()
    await to_identity(h, user)
    await press(h, user, "anon")
    code = await send(h, user)
    async with h.sessionmaker() as s:  # as an older version stored it: plain, as typed
        await s.execute(update(Report).where(col(Report.code) == code).values(
            reporter_phone="0812 3456 7890", anonymous=False, identity_mode="named"))
        await s.execute(update(Citizen).where(col(Citizen.external_id) == str(user))
                        .values(phone="+62 812-3456-7890"))
        await s.commit()
    await h.restart()  # the start-up step converts them
    vault = h.app.deps.pii
    report = await report_by(h, code)
    assert report.reporter_phone is None and vault.decrypt(report.reporter_phone_enc) == PHONE
    assert report.reporter_phone_hash == vault.hash("phone", PHONE)
    assert PHONE not in await raw_rows(h) and "0812 3456 7890" not in await raw_rows(h)
    assert await convert_plaintext(h.sessionmaker, vault) == 0  # idempotent

    # Rotation: the new key first, rotate-keys, then the old key can go.
    old_key = (h.settings.key_file()).read_text().strip().encode()
    new_key = Fernet.generate_key()
    both = Vault([new_key, old_key])
    assert await rotate_all(h.sessionmaker, both) >= 2
    only_new = Vault([new_key])
    report = await report_by(h, code)
    assert only_new.decrypt(report.reporter_phone_enc) == PHONE
    assert report.reporter_phone_hash == only_new.hash("phone", PHONE)
    async with h.sessionmaker() as s:
        citizen = (await s.exec(select(Citizen).where(Citizen.external_id == str(user)))).one()
    assert only_new.decrypt(citizen.phone_enc) == PHONE


# ---- retention -------------------------------------------------------------------------------


async def _figures(h: Harness) -> tuple[Any, Any]:
    period = (utcnow() - timedelta(days=400), utcnow() + timedelta(days=1))
    async with h.sessionmaker() as s:
        stats = await reports.statistics(s, h.app.deps, *period)
        card = await reports.report_card(s, h.app.deps, *period)
    return repr(stats), repr(card)


async def test_retention_purges_identity_of_old_finished_reports_only(harness: Harness) -> None:
    h = harness
    users = L.distinct_citizens(4)
    codes = []
    for user in users:
        await to_identity(h, user)
        await press(h, user, "name")
        await say(h, user, PHONE_TYPED, replies=2)
        codes.append(await send(h, user))
    old = utcnow() - timedelta(days=400)
    async with h.sessionmaker() as s:  # two closed long ago, one rejected recently, one open
        await s.execute(update(Report).where(col(Report.code).in_(codes[:2]))
                        .values(status="closed", updated_at=old))
        await s.execute(update(Report).where(col(Report.code) == codes[2])
                        .values(status="rejected"))
        await s.commit()
    before = await _figures(h)
    assert await purge_personal_data(h.sessionmaker, 365) == 2
    assert await purge_personal_data(h.sessionmaker, 365) == 0  # nothing left to do
    assert await purge_personal_data(h.sessionmaker, 0) == 0  # 0 keeps everything
    assert await _figures(h) == before  # /statistik and /rapor figures unchanged
    for i, code in enumerate(codes):
        report = await report_by(h, code)
        purged = i < 2
        assert (report.personal_purged_at is not None) == purged
        assert (report.reporter_name is None) == purged
        assert (report.reporter_phone_enc is None) == purged
        assert report.status == ("closed" if purged else report.status)
        async with h.sessionmaker() as s:
            citizen = await s.get(Citizen, report.citizen_id)
            events = (await s.exec(select(ReportEvent).where(
                ReportEvent.report_id == report.id, ReportEvent.actor_kind == "citizen"))).all()
        assert (citizen.phone_enc is None) == purged  # no open report left: phone gone too
        assert all((e.actor_name is None and e.actor_id is None) == purged for e in events)
        assert events  # the timeline stays


# ---- /dataku and /hapus_dataku ---------------------------------------------------------------


async def test_mydata_shows_and_erase_removes_keeping_reports(harness: Harness) -> None:
    h, user = harness, new_user()
    await setup_groups(h)
    await to_identity(h, user)
    await press(h, user, "name")
    await say(h, user, PHONE_TYPED, replies=2)
    code = await send(h, user)
    card = await card_of(h, PUPR_GROUP, code)
    assert NAME in card.text
    texts = await say(h, user, "/dataku")
    assert PHONE in texts[0] and code in texts[0] and tr("mydata-identity-named") in texts[0]
    texts = await say(h, user, "/mydata", language_code="en")  # the English alias
    assert PHONE in texts[0] and code in texts[0]
    texts = await say(h, user, "/hapus_dataku")
    assert texts == [tr("erase-confirm")]
    assert await press(h, user, "erase", "no") == [tr("erase-cancelled")]
    assert (await report_by(h, code)).reporter_name == NAME  # nothing erased
    await say(h, user, "/hapus_dataku")
    before = await _figures(h)
    mark = h.fake.mark()
    texts = await press(h, user, "erase", "yes")
    assert await _figures(h) == before  # statistics intact
    assert tr("erase-done", reports=1) in texts[0] and tr("erase-done-open", count=1) in texts[0]
    report = await report_by(h, code)
    assert report.status == "dispatched" and report.personal_purged_at is not None
    assert report.reporter_name is None and report.reporter_phone_enc is None
    # The card in the group is edited: no name, no number.
    edit = await h.fake.wait_for("editMessageText", lambda c: c.chat_id == PUPR_GROUP
                                 and c.params.get("message_id") == card.result["message_id"],
                                 since=mark)
    assert NAME not in edit[-1].text and PHONE not in edit[-1].text
    assert tr("reporter-erased") in edit[-1].text
    texts = await say(h, user, "/dataku")
    assert PHONE not in texts[0] and tr("mydata-identity-erased") in texts[0]
    # The citizen is still told about progress on the open report (by chat id).
    mark = h.fake.mark()
    await pic_press(h, card, "take")
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == user and code in (c.text or ""),
                          since=mark)


# ---- many people at once ---------------------------------------------------------------------


async def test_many_citizens_file_confidential_and_named_at_once(harness: Harness) -> None:
    h = harness
    users = L.distinct_citizens(12)

    async def file(i: int, user: int) -> tuple[str, str]:
        await to_identity(h, user)
        mode = "conf" if i % 2 else "name"
        await press(h, user, mode)
        await say(h, user, f"0812-3456-7{i:03d}", replies=2)
        return await send(h, user), mode

    filed = await asyncio.gather(*(file(i, u) for i, u in enumerate(users)))
    vault = h.app.deps.pii
    assert len({c for c, _ in filed}) == len(users)
    for i, ((code, mode), user) in enumerate(zip(filed, users, strict=True)):
        report = await report_by(h, code)
        assert report.identity_mode == ("confidential" if mode == "conf" else "named")
        async with h.sessionmaker() as s:
            citizen = await s.get(Citizen, report.citizen_id)
        assert citizen.external_id == str(user)
        assert vault.decrypt(report.reporter_phone_enc) == f"+628123456{7000 + i}"
    assert "+628123456" not in await raw_rows(h)


@pytest.mark.settings(OUTBOX_GROUP_PER_MINUTE=1000)  # eight cards at once, not paced
async def test_many_erase_at_once_while_pics_act(harness: Harness) -> None:
    h = harness
    await setup_groups(h)
    users = L.distinct_citizens(8)
    codes = []
    for user in users:
        await to_identity(h, user)
        await press(h, user, "conf" if user % 2 else "name")
        await say(h, user, PHONE_TYPED, replies=2)
        codes.append(await send(h, user))
    cards = [await card_of(h, PUPR_GROUP, code) for code in codes]

    async def erase(user: int) -> None:
        await say(h, user, "/hapus_dataku")
        mark = h.fake.mark()
        await press(h, user, "erase", "yes")
        # Waited for by its text: the PIC's "taken" notice, pressed at the same time, may come
        # first.
        done = tr("erase-done", reports=1)
        await h.fake.wait_for(None, lambda c: c.chat_id == user and done in (c.text or ""),
                              since=mark, timeout=20)

    answers = await asyncio.gather(*(pic_press(h, c, "take") for c in cards),
                                   *(erase(u) for u in users))
    assert all("Anda tangani" in a for a in answers[:len(cards)]), answers
    for code in codes:
        report = await report_by(h, code)
        assert report.personal_purged_at is not None and report.reporter_name is None
        assert report.reporter_phone_enc is None and report.anonymous
        assert report.status == "in_progress" and report.assignee_name  # the PIC's take held
    async with h.sessionmaker() as s:
        phones = (await s.exec(select(Citizen.phone_enc).where(
            col(Citizen.external_id).in_([str(u) for u in users])))).all()
    assert phones == [None] * len(users)


# ---- the same on WhatsApp --------------------------------------------------------------------


@pytest.fixture
async def graph_api() -> Any:
    from tests import fakegraph as fg

    server = fg.FakeGraphAPI()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def wa_nik(db_url: str, fake_tg: Any, geocoder: Any, graph_api: Any,
                 tmp_path: Path) -> Any:
    """The app with WhatsApp on and a NIK required."""
    from tests import fakegraph as fg
    from tests.conftest import make_settings, start_seeded

    graph = graph_api
    settings = make_settings(
        db_url, fake_tg, tmp_path / "media", geocoder.port,
        WHATSAPP_TOKEN=fg.TOKEN, WHATSAPP_PHONE_NUMBER_ID=fg.PHONE_ID,
        WHATSAPP_APP_SECRET=fg.APP_SECRET, WHATSAPP_VERIFY_TOKEN=fg.VERIFY_TOKEN,
        WHATSAPP_API_URL=graph.api_base("v22.0"), REQUIRE_NIK=True)
    h = await start_seeded(fake_tg, settings)
    yield h
    await h.stop()


async def test_whatsapp_confidential_with_nik_then_mydata_and_erase(wa_nik: Harness,
                                                                    graph_api: Any) -> None:
    from tests import fakegraph as fg
    from tests.test_whatsapp import WA, ids, send_report

    h, graph = wa_nik, graph_api
    wa = WA(h, graph, "6281234500077", name=NAME)
    await setup_groups(h)
    await wa.text("halo", "Halo")
    await wa.row("new:", "Langkah 1/5")
    await wa.row(f"cat:{await category_id(h, 'jalan')}", "Langkah 2/5")
    await wa.text("Jalan berlubang besar di depan pasar, bahaya untuk motor.", "Langkah 3/5")
    media_id = graph.add_media(jpeg_bytes("green"), "image/jpeg")
    await wa.send(fg.image_message(wa.wa_id, media_id), "(1/5)")
    await wa.button("done:", "Langkah 4/5")
    identity = (await wa.send(fg.location_message(wa.wa_id, 0.40, 101.85), "Langkah 5/5"))[-1]
    assert ids(identity) == ["name:", "conf:", "cancel:"]  # NIK required: no anonymous
    await wa.row("conf:", tr("identity-confidential", name=NAME).split(":")[0])
    await wa.button("wa_phone:", tr("ask-nik")[:20])
    await wa.text("3171014700900001", tr("nik-invalid-month"))
    summary = await wa.text(NIK, "••••••••••••0001")
    assert NIK not in summary.text
    code = await send_report(wa, summary)
    card = await card_of(h, PUPR_GROUP, code)
    assert tr("reporter-confidential") in card.text
    assert leaks(group_traffic(h), values=[NAME, wa.wa_id, "+" + wa.wa_id, NIK]) == []
    report = await report_by(h, code)
    assert h.app.deps.pii.decrypt(report.reporter_phone_enc) == "+" + wa.wa_id

    mine = await wa.text("/dataku", tr("mydata-head"))
    assert "+" + wa.wa_id in mine.text and code in mine.text and "••••••••••••0001" in mine.text
    assert NIK not in mine.text
    await wa.button("erase:ask", tr("erase-confirm")[:30])
    await wa.button("erase:yes", tr("erase-done", reports=1)[:30])
    report = await report_by(h, code)
    assert report.reporter_nik_enc is None and report.reporter_phone_enc is None
    assert report.personal_purged_at is not None and report.status == "dispatched"


# ---- settings and the command line -----------------------------------------------------------


def test_identity_settings_are_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bot.settings import SettingsError, load_settings

    monkeypatch.chdir(tmp_path)
    s = load_settings(IDENTITY_MODES="anonymous, NAMED", _env_file=None)
    assert s.identity_modes == ("named", "anonymous") and s.anonymous_allowed
    assert not load_settings(REQUIRE_PHONE="true", _env_file=None).anonymous_allowed
    for bad, needle in (({"IDENTITY_MODES": "named,secret"}, "IDENTITY_MODES"),
                        ({"PII_KEYS": "not-a-key"}, "PII_KEYS"),
                        ({"PII_HASH_KEY": "short"}, "PII_HASH_KEY"),
                        ({"IDENTITY_MODES": "anonymous", "REQUIRE_NIK": "true"},
                         "cannot go with")):
        with pytest.raises(SettingsError, match=needle):
            load_settings(_env_file=None, **bad)


def test_logs_redact_numbers_of_any_country_and_grouped_niks() -> None:
    from bot.ops import redact

    line = redact("to +447911123456 and 0812-3456-7890, NIK 3171 0147 0990 0001 / " + NIK)
    assert "7911123456" not in line and "3456-7890" not in line and "0147" not in line
    assert NIK not in line and redact("update 123456789 took 12 ms") == \
        "update 123456789 took 12 ms"


def test_rotate_keys_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    """`aduan rotate-keys`: every phone re-encrypted with the first key of PII_KEYS."""
    from bot.__main__ import main
    from models.db import make_engine, make_sessionmaker, migrate

    old, new = Fernet.generate_key(), Fernet.generate_key()
    url = f"sqlite+aiosqlite:///{tmp_path / 'aduan.db'}"

    async def prepare() -> None:
        engine = make_engine(url)
        await migrate(engine)
        async with make_sessionmaker(engine)() as s:
            s.add(Citizen(channel="telegram", external_id="42",
                          phone_enc=Vault([old]).encrypt(PHONE)))
            await s.commit()
        await engine.dispose()

    async def stored() -> str:
        engine = make_engine(url)
        async with make_sessionmaker(engine)() as s:
            token = (await s.exec(select(Citizen.phone_enc))).one()
        await engine.dispose()
        return token

    asyncio.run(prepare())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "media"))
    monkeypatch.setenv("PII_KEYS", f"{new.decode()},{old.decode()}")
    assert main(["rotate-keys"]) == 0
    assert "Re-encrypted the personal data of 1 rows" in capsys.readouterr().out
    token = asyncio.run(stored())
    assert Vault([new]).decrypt(token) == PHONE and Vault([old]).decrypt(token) is None


@pytest.fixture
async def core_env(tmp_path: Path) -> Any:
    """The intake core on a seeded SQLite file, no channel (as tests/test_intake_core.py)."""
    from handlers.intake import Intake, IntakeConfig
    from models import repo
    from models.db import make_engine, make_sessionmaker, migrate
    from models.media import MediaStore
    from models.seed import load_seed
    from tests.conftest import SEED
    from tests.test_intake_core import WIB, AddressGeocoder, Env

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'core.db'}")
    await migrate(engine)
    sessionmaker = make_sessionmaker(engine)
    async with sessionmaker() as session:
        await load_seed(session, SEED)
        citizen, _ = await repo.upsert_citizen(session, "telegram", "424243", language="id",
                                               display_name=None)
        await session.commit()
    intake = Intake(T, MediaStore(tmp_path / "media"), AddressGeocoder(), IntakeConfig(tz=WIB))
    yield Env(intake, sessionmaker, citizen, tmp_path / "media", T.bind("id"))
    await engine.dispose()


async def test_no_profile_name_then_confidential_asks_the_name_and_keeps_the_choice(
        core_env: Any) -> None:
    """The core without a channel: a citizen with no profile name presses Confidential, is
    asked for a name, types it, and stays confidential (a typed name alone means Named)."""
    from handlers.intake import Button as Press
    from handlers.intake import Step, Turn
    from handlers.intake import Text as Typed
    from tests.test_intake_core import to_step

    await to_step(core_env, "jalan", Step.IDENTITY)
    nameless = Citizen(id=core_env.citizen.id, channel="telegram",
                       external_id=core_env.citizen.external_id, language="id")

    async def say(event: Any) -> list[str]:
        async with core_env.sessionmaker() as session:
            replies = await core_env.intake.handle(session, Turn(nameless), event, core_env.fetch)
        return [r.text for r in replies if r.text]

    assert (await say(Press("conf")))[-1] == tr("ask-name")
    texts = await say(Typed("Sri Wahyuni"))
    assert tr("identity-confidential", name="Sri Wahyuni") in texts[0]
    draft = await core_env.draft()
    assert draft.step == "phone" and draft.data["identity_mode"] == "confidential"
    assert "name_for" not in draft.data
    await say(Press("edit_menu"))  # not at the summary: re-prompted, nothing changes
    await say(Typed("lewati"))
    await say(Press("edit_menu"))
    await say(Press("edit", "identity"))
    texts = await say(Typed("Sri Wahyuni"))  # typed, no button: Named
    assert tr("identity-name", name="Sri Wahyuni") in texts[0]
    assert (await core_env.draft()).data["identity_mode"] == "named"


async def test_ban_by_ticket_in_an_opd_group_does_not_name_a_confidential_reporter(
        harness: Harness) -> None:
    h, user = harness, new_user()
    await setup_groups(h)
    await to_identity(h, user)
    await press(h, user, "conf")
    await say(h, user, PHONE_TYPED, replies=2)
    code = await send(h, user)
    await card_of(h, PUPR_GROUP, code)
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_message(PUPR_GROUP, ADMIN_ID, f"/blokir {code}",
                                           chat_type="supergroup", title="PUPR",
                                           first_name="Admin"))
    [answer] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP,
                                     since=mark)
    assert "diblokir" in answer.text and code in answer.text
    assert leaks(group_traffic(h), user) == []
