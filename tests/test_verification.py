"""Operator verification (VERIFY_REPORTS), the daily report limit and the spam score: end to
end through the real Dispatcher and Bot against the fake Bot API (and the fake Graph API for a
WhatsApp citizen), and races on the core against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlmodel import col, func, select

from bot.settings import SettingsError, operator_chat
from handlers import lifecycle, verification
from handlers.i18n import Translator
from handlers.reports import statistics, statistics_text
from models import repo
from models.db import make_engine, make_sessionmaker, migrate
from models.domain import ShiftedClock, Status
from models.seed import load_seed
from models.tables import Category, Citizen, Outbox, Report, ReportEvent, StaffRole
from tests import fakegraph as fg
from tests import test_load as load
from tests.conftest import ADMIN_ID, SEED, Harness, make_settings, new_user, start_seeded
from tests.test_agency_groups import (
    DLH_GROUP,
    PUPR_GROUP,
    admin_in_group,
    card_of,
    group_say,
    report_by,
    setup_groups,
    wait_citizen,
)
from tests.test_intake_telegram import to_summary
from tests.test_whatsapp import WA, graph  # noqa: F401  (the fixture)
from tests.test_whatsapp import to_summary as wa_to_summary

OPS = -1001000000050  # the operators' group
OPERATOR, OUTSIDER = 710001, 710002
VERIFY = {"VERIFY_REPORTS": True, "OPERATOR_CHAT_ID": OPS, "MAX_REPORTS_PER_DAY": 0}


# ---- helpers --------------------------------------------------------------------------------


async def grant_operator(h: Harness, user: int = OPERATOR) -> None:
    async with h.sessionmaker() as s:
        s.add(StaffRole(user_id=user, role="operator", name="Oki"))
        await s.commit()
    assert h.app is not None and h.app.deps is not None and h.app.deps.roles is not None
    h.app.deps.roles.invalidate()


async def file(h: Harness, citizen: int) -> str:
    """A citizen files a report through the whole conversation; its ticket code."""
    await to_summary(h, citizen)
    texts = await h.press(citizen, "send", h.buttons(citizen)[0].split(":", 2)[2], replies=1)
    return re.search(r"(ADU-[A-Z0-9]{4})", texts[0]).group(1)


async def op_card(h: Harness, code: str) -> Any:
    """The verification card of a report in the operators' group, as sent."""
    [card] = await h.fake.wait_for(
        "sendMessage", lambda c: c.chat_id == OPS and code in (c.text or "")
        and c.params.get("reply_markup"))
    return card


def vbuttons(markup: dict[str, Any]) -> dict[str, str]:
    """action[:arg] -> callback data of a verification keyboard."""
    out = {}
    for row in markup.get("inline_keyboard", []):
        for b in row:
            parts = b["callback_data"].split(":")
            out[parts[2] + (f":{parts[4]}" if parts[4] else "")] = b["callback_data"]
    return out


async def op_press(h: Harness, user: int, data: str, message_id: int,
                   first_name: str = "Oki") -> str:
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_callback(OPS, user, data, message_id,
                                            chat_type="supergroup", first_name=first_name))
    [answer] = await h.fake.wait_for("answerCallbackQuery", since=mark)
    return str(answer.params.get("text", ""))


def keyboard_of(h: Harness, message_id: int) -> dict[str, str]:
    return vbuttons(h.fake.message(OPS, message_id).get("reply_markup") or {})


async def category_id(h: Harness, code: str) -> int:
    async with h.sessionmaker() as s:
        return int((await s.exec(select(Category).where(Category.code == code))).one().id)


async def events(h: Harness, report_id: int, kind: str | None = None,
                 to: str | None = None) -> list[ReportEvent]:
    async with h.sessionmaker() as s:
        q = select(ReportEvent).where(ReportEvent.report_id == report_id)
        if kind:
            q = q.where(ReportEvent.kind == kind)
        if to:
            q = q.where(ReportEvent.to_status == to)
        return list((await s.exec(q)).all())


async def set_language(h: Harness, channel: str, external_id: str, lang: str) -> None:
    async with h.sessionmaker() as s:
        citizen = (await s.exec(select(Citizen).where(Citizen.channel == channel,
                                                      Citizen.external_id == external_id))
                   ).one()
        citizen.language = lang
        s.add(citizen)
        await s.commit()


# ---- settings -------------------------------------------------------------------------------


def test_operator_chat_falls_back_and_fails_with_one_line(tmp_path: Path) -> None:
    from bot.settings import Settings

    def make(**kw: Any) -> Settings:
        return Settings(_env_file=None, BOT_TOKEN="1:x", **kw)  # type: ignore[call-arg]

    assert operator_chat(make()) is None  # off: nothing needed
    assert operator_chat(make(VERIFY_REPORTS=True, OPERATOR_CHAT_ID="-100")) == -100
    assert operator_chat(make(VERIFY_REPORTS=True, ADMIN_CHAT_ID="-200")) == -200
    with pytest.raises(SettingsError) as err:
        operator_chat(make(VERIFY_REPORTS=True, OPERATOR_CHAT_ID=""))
    assert "OPERATOR_CHAT_ID" in str(err.value) and "\n" not in str(err.value)
    assert make().max_reports_per_day == 5


# ---- verification off: unchanged ------------------------------------------------------------


@pytest.mark.settings(MAX_REPORTS_PER_DAY=0)
async def test_verification_off_dispatches_at_once(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file(h, citizen)
    await card_of(h, PUPR_GROUP, code)
    report = await report_by(h, code)
    assert report.status == Status.DISPATCHED and report.verify_due_at is None
    assert report.red_at == report.followup_due_at
    assert not [c for c in h.fake.calls if c.chat_id == OPS]
    # Scored all the same (a photo, no repeat, but a citizen first seen just now).
    assert report.spam_reasons == "new" and report.spam_score == verification.SPAM_NEW


# ---- verify ---------------------------------------------------------------------------------


@pytest.mark.settings(**VERIFY)
async def test_verify_dispatches_to_the_opd_and_tells_the_citizen(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    await grant_operator(h)
    code = await file(h, citizen)
    ticket = await wait_citizen(h, citizen, code, 0)
    assert "diteruskan" not in ticket.text  # not forwarded yet
    card = await op_card(h, code)
    mid = card.result["message_id"]
    assert "verifikasi operator s.d." in card.text and "Skor spam" in card.text
    assert "akun baru" in card.text
    report = await report_by(h, code)
    assert report.status == Status.RECEIVED and report.verify_due_at is not None
    assert report.red_at == report.verify_due_at  # its light runs on the verification deadline
    assert not [c for c in h.fake.calls if c.chat_id == PUPR_GROUP and code in (c.text or "")]
    buttons = vbuttons(card.params["reply_markup"])
    assert set(buttons) == {"ok", "rj", "rc", "mg"}
    # The operators see the photo and the pin too, as answers to the card.
    [photo] = await h.fake.wait_for("sendPhoto", lambda c: c.chat_id == OPS)
    assert photo.params["reply_parameters"]["message_id"] == mid
    await h.fake.wait_for("sendLocation", lambda c: c.chat_id == OPS)

    # Someone who is no operator: told politely, nothing changes.
    answer = await op_press(h, OUTSIDER, buttons["ok"], mid, first_name="Zed")
    assert "Hanya operator" in answer
    assert (await report_by(h, code)).status == Status.RECEIVED

    # The citizen adds something before verification: the operators hear it, not the OPD.
    mark = h.fake.mark()
    await h.say(citizen, f"/balas {code} Lubangnya makin besar hari ini")
    [relay] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == OPS
                                    and "makin besar" in (c.text or ""), since=mark)
    assert relay.params["reply_parameters"]["message_id"] == mid
    # An admin's /cari shows the verification deadline and the spam score.
    found = await h.say(ADMIN_ID, f"/cari {code}")
    assert "Verifikasi: batas" in found[0] and "Skor spam: 15 (akun baru" in found[0]

    mark = h.fake.mark()
    answer = await op_press(h, OPERATOR, buttons["ok"], mid)
    assert f"{code} diverifikasi" in answer
    opd_card = await card_of(h, PUPR_GROUP, code)
    assert "Diverifikasi oleh: Oki" in opd_card.text
    await wait_citizen(h, citizen, "sudah diverifikasi dan diteruskan ke Dinas Pekerjaan Umum",
                       mark)
    await h.fake.wait_for("editMessageText", lambda c: c.chat_id == OPS
                          and c.params.get("message_id") == mid
                          and "diverifikasi oleh Oki" in (c.text or ""), since=mark)
    report = await report_by(h, code)
    assert report.status == Status.DISPATCHED and report.verified_by == "Oki"
    assert report.verified_at is not None
    # The OPD's follow-up clock starts at verification.
    assert report.followup_due_at >= report.verified_at and report.red_at == \
        report.followup_due_at
    assert len(await events(h, report.id, to="verified")) == 1
    assert not [c for c in h.fake.calls if c.chat_id == PUPR_GROUP
                and "makin besar" in (c.text or "")]

    # The same (old) button again: already handled, by whom.
    answer = await op_press(h, ADMIN_ID, buttons["ok"], mid, first_name="Admin")
    assert "sudah ditangani oleh Oki" in answer
    assert len(await events(h, report.id, to="verified")) == 1


@pytest.mark.settings(**VERIFY)
async def test_two_operators_pressing_at_once_one_wins(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    await grant_operator(h)
    code = await file(h, citizen)
    card = await op_card(h, code)
    mid, buttons = card.result["message_id"], vbuttons(card.params["reply_markup"])
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_callback(OPS, OPERATOR, buttons["ok"], mid,
                                            chat_type="supergroup", first_name="Oki"))
    h.fake.push_update(h.fake.make_callback(OPS, ADMIN_ID, buttons["ok"], mid,
                                            chat_type="supergroup", first_name="Admin"))
    answers = await h.fake.wait_for("answerCallbackQuery", count=2, since=mark)
    texts = [str(a.params.get("text", "")) for a in answers]
    assert sum("diverifikasi dan diteruskan" in t for t in texts) == 1, texts
    assert sum("sudah ditangani oleh" in t for t in texts) == 1, texts
    report = await report_by(h, code)
    assert len(await events(h, report.id, to="verified")) == 1
    assert len(await events(h, report.id, to="dispatched")) == 1


# ---- reject, with the reason in the citizen's language --------------------------------------


@pytest.mark.settings(**VERIFY)
async def test_reject_reasons_reach_the_citizen_in_their_language(harness: Harness) -> None:
    h = harness
    await setup_groups(h)
    for lang, reason, needle, shown in (
            ("id", "hoax", "dinilai tidak benar", "Hoaks"),
            ("en", "incomplete", "does not have enough information", "Tidak lengkap"),
            ("en", "notpublic", "not a matter for the local government", "Bukan urusan")):
        citizen = new_user()
        code = await file(h, citizen)
        await set_language(h, "telegram", str(citizen), lang)
        card = await op_card(h, code)
        mid = card.result["message_id"]
        await op_press(h, ADMIN_ID, vbuttons(card.params["reply_markup"])["rj"], mid)
        reasons = keyboard_of(h, mid)
        assert {"rx:hoax", "rx:notpublic", "rx:incomplete", "back"} <= set(reasons)
        mark = h.fake.mark()
        answer = await op_press(h, ADMIN_ID, reasons[f"rx:{reason}"], mid)
        assert "ditolak" in answer
        told = await wait_citizen(h, citizen, needle, mark)
        assert code in told.text
        def edited(c: Any, mid: int = mid, shown: str = shown) -> bool:
            return c.chat_id == OPS and c.params.get("message_id") == mid \
                and shown in (c.text or "")

        await h.fake.wait_for("editMessageText", edited, since=mark)
        report = await report_by(h, code)
        assert (report.status, report.reject_reason) == (Status.REJECTED, reason)
        assert report.first_action_at is None  # no OPD ever saw it
    assert not [c for c in h.fake.calls if c.chat_id == PUPR_GROUP and "ADU-" in (c.text or "")]


@pytest.fixture
async def wa_verify(db_url: str, fake_tg: Any, geocoder: Any, graph: fg.FakeGraphAPI,  # noqa: F811
                    tmp_path: Path) -> AsyncIterator[Harness]:
    settings = make_settings(
        db_url, fake_tg, tmp_path / "media", geocoder.port,
        WHATSAPP_TOKEN=fg.TOKEN, WHATSAPP_PHONE_NUMBER_ID=fg.PHONE_ID,
        WHATSAPP_APP_SECRET=fg.APP_SECRET, WHATSAPP_VERIFY_TOKEN=fg.VERIFY_TOKEN,
        WHATSAPP_API_URL=graph.api_base("v22.0"), **VERIFY)
    h = await start_seeded(fake_tg, settings)
    yield h
    await h.stop()


async def test_whatsapp_citizen_told_why_in_english(wa_verify: Harness,
                                                     graph: fg.FakeGraphAPI) -> None:  # noqa: F811
    h = wa_verify
    wa = WA(h, graph, "6281200000077")
    summary = await wa_to_summary(wa)
    send_id = [i for i in (b["reply"]["id"] for b in summary.json["interactive"]["action"]
                           ["buttons"]) if i.startswith("send:")][0]
    done = await wa.button(send_id, "diterima")
    code = re.search(r"(ADU-[A-Z0-9]{4})", done.text).group(1)
    await set_language(h, "whatsapp", wa.wa_id, "en")
    card = await op_card(h, code)
    mid = card.result["message_id"]
    await op_press(h, ADMIN_ID, vbuttons(card.params["reply_markup"])["rj"], mid)
    mark = graph.mark()
    await op_press(h, ADMIN_ID, keyboard_of(h, mid)["rx:hoax"], mid)
    [told] = await graph.wait_for(lambda c: c.is_send and c.ok and c.to == wa.wa_id
                                  and "found to be untrue" in (c.text or ""), since=mark)
    assert code in told.text


# ---- re-categorise, merge -------------------------------------------------------------------


@pytest.mark.settings(**VERIFY)
async def test_recategorise_then_verify_goes_to_the_new_opd(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file(h, citizen)
    card = await op_card(h, code)
    mid = card.result["message_id"]
    await op_press(h, ADMIN_ID, vbuttons(card.params["reply_markup"])["rc"], mid)
    cats = keyboard_of(h, mid)
    sampah = await category_id(h, "sampah")
    mark = h.fake.mark()
    answer = await op_press(h, ADMIN_ID, cats[f"rk:{sampah}"], mid)
    assert "masih menunggu verifikasi" in answer
    await h.fake.wait_for("editMessageText", lambda c: c.chat_id == OPS
                          and c.params.get("message_id") == mid
                          and "Lingkungan" in (c.text or ""), since=mark)
    report = await report_by(h, code)
    assert report.status == Status.RECEIVED and report.category_id == sampah
    assert len(await events(h, report.id, kind="recategorised")) == 1
    ok = keyboard_of(h, mid)["ok"]  # the edited card carries the new version
    await op_press(h, ADMIN_ID, ok, mid)
    await card_of(h, DLH_GROUP, code)
    assert (await report_by(h, code)).status == Status.DISPATCHED


@pytest.mark.settings(**VERIFY)
async def test_merge_by_reply_and_by_command(harness: Harness) -> None:
    h = harness
    await setup_groups(h)
    first, second, third = new_user(), new_user(), new_user()
    target = await file(h, first)
    t_card = await op_card(h, target)
    await op_press(h, ADMIN_ID, vbuttons(t_card.params["reply_markup"])["ok"],
                   t_card.result["message_id"])
    source = await file(h, second)
    card = await op_card(h, source)
    mid = card.result["message_id"]
    mark = h.fake.mark()
    await op_press(h, ADMIN_ID, vbuttons(card.params["reply_markup"])["mg"], mid)
    [prompt] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == OPS
                                     and "kode tiket laporan tujuan" in (c.text or ""),
                                     since=mark)
    assert prompt.params["reply_markup"]["force_reply"] is True
    # A wrong code first: asked again, nothing changes.
    mark = h.fake.mark()
    await group_say(h, OPS, ADMIN_ID, "ADU-ZZZZ", first_name="Admin",
                    reply_to_message_id=prompt.result["message_id"])
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == OPS
                          and "tidak dikenali" in (c.text or ""), since=mark)
    assert (await report_by(h, source)).status == Status.RECEIVED
    mark = h.fake.mark()
    await group_say(h, OPS, ADMIN_ID, target.lower(), first_name="Admin",
                    reply_to_message_id=prompt.result["message_id"])
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == OPS
                          and f"{source} digabung ke {target}" in (c.text or ""), since=mark)
    told = await wait_citizen(h, second, f"mendapat kabar perkembangan laporan {target}", mark)
    assert source in told.text
    merged, tgt = await report_by(h, source), await report_by(h, target)
    assert merged.status == Status.REJECTED and merged.merged_into_id == tgt.id
    assert tgt.supporters == 1
    # By command, from the operators' group: another report merged into the same target.
    other = await file(h, third)
    await op_card(h, other)
    reply = await admin_in_group(h, OPS, f"/gabung {other} {target}")
    assert f"{other} digabung ke {target}" in reply
    assert (await report_by(h, target)).supporters == 2
    assert "Cara pakai" in await admin_in_group(h, OPS, "/gabung")
    # Merging into a merged report is refused.
    assert "tidak dapat dipakai" in await admin_in_group(h, OPS, f"/gabung {target} {source}")
    # Not an operator: refused politely.
    mark = h.fake.mark()
    await group_say(h, OPS, OUTSIDER, f"/gabung {target} {other}", first_name="Zed")
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == OPS
                          and "Hanya operator" in (c.text or ""), since=mark)


# ---- the verification deadline ----------------------------------------------------------------


@pytest.mark.settings(**VERIFY, VERIFY_DEADLINE="48h")
async def test_unverified_report_turns_red_and_reminds_the_operators(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file(h, citizen)
    await op_card(h, code)
    report = await report_by(h, code)
    assert report.verify_due_at - report.created_at == timedelta(hours=48)
    h.clock.advance(report.yellow_at - h.clock.now() + timedelta(seconds=1))
    mark = h.fake.mark()
    await h.tick()
    [yellow] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == OPS
                                     and "belum diverifikasi" in (c.text or ""), since=mark)
    assert code in yellow.text
    h.clock.advance(report.red_at - h.clock.now() + timedelta(seconds=1))
    mark = h.fake.mark()
    await h.tick()
    [red] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == OPS
                                  and "batas waktu verifikasi" in (c.text or ""), since=mark)
    assert code in red.text
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == ADMIN_ID
                          and "belum diverifikasi operator" in (c.text or ""), since=mark)
    await h.fake.wait_for("editMessageText", lambda c: c.chat_id == OPS
                          and "🔴" in (c.text or ""), since=mark)
    assert (await report_by(h, code)).light == "red"
    # The OPD group hears nothing about a report it has not got.
    assert not [c for c in h.fake.calls if c.chat_id == PUPR_GROUP and code in (c.text or "")]
    # Verified late: counted, not on time, in the statistics.
    card = await op_card(h, code)
    await op_press(h, ADMIN_ID, keyboard_of(h, card.result["message_id"])["ok"],
                   card.result["message_id"])
    report = await report_by(h, code)
    assert report.light == "green"  # the OPD's own clock starts fresh
    assert h.app is not None and h.app.deps is not None
    async with h.sessionmaker() as s:
        stats = await statistics(s, h.app.deps, report.created_at - timedelta(days=1),
                                 report.created_at + timedelta(days=1))
    assert stats.verification is not None and stats.verification.verified == 1
    assert stats.verification.on_time == 0
    from handlers.reports import last_days

    t = h.app.deps.translator.bind("id")
    text = statistics_text(stats, t, last_days(7, h.app.deps.tz, h.clock.now()))
    assert "Verifikasi: 1 diverifikasi" in text and "0% tepat waktu" in text


# ---- the daily limit ----------------------------------------------------------------------


@pytest.mark.settings(MAX_REPORTS_PER_DAY=1)
async def test_daily_limit_refuses_politely_and_stores_nothing(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    await to_summary(h, citizen)
    # Meanwhile (another device, another worker) a report of theirs was filed today.
    async with h.sessionmaker() as s:
        c = (await s.exec(select(Citizen).where(Citizen.external_id == str(citizen)))).one()
        cat = (await s.exec(select(Category))).first()
        await repo.create_report(s, Report(code="", channel="telegram", citizen_id=c.id,
                                           category_id=cat.id, opd_id=cat.opd_id,
                                           description="Laporan lain hari ini"), [],
                                 prefix="ADU", actor_id=str(citizen), actor_name=None)
        await s.commit()
    texts = await h.press(citizen, "send", h.buttons(citizen)[0].split(":", 2)[2], replies=1)
    assert "sudah mengirim 1 laporan hari ini" in texts[0] and "00:00" in texts[0]
    async with h.sessionmaker() as s:
        count = await s.scalar(select(func.count()).select_from(Report).where(
            Report.citizen_id == c.id))
    assert count == 1
    # Starting a new one is refused the same way; tomorrow (local day) it is allowed again.
    texts = await h.say(citizen, "/lapor")
    assert "sudah mengirim 1 laporan hari ini" in texts[0]
    h.clock.advance(timedelta(days=1))
    texts = await h.say(citizen, "/lapor")
    assert "Langkah 1/5" in texts[0]


@pytest.mark.settings(MAX_REPORTS_PER_DAY=1)
async def test_many_citizens_at_their_limit_at_once(harness: Harness) -> None:
    h = harness
    await setup_groups(h)
    users = [new_user() for _ in range(4)]
    codes = await asyncio.gather(*(load.file_report(h, u) for u in users))
    assert len(set(codes)) == 4
    answers = await asyncio.gather(*(h.say(u, "/lapor") for u in users))
    assert all("sudah mengirim 1 laporan hari ini" in a[0] for a in answers), answers
    async with h.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(Report)) == 4


# ---- races on the core, SQLite and PostgreSQL -------------------------------------------------


@pytest.fixture
async def core(db_url: str) -> AsyncIterator[tuple[Any, lifecycle.Deps]]:
    engine = make_engine(db_url)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    async with sm() as s:
        await load_seed(s, SEED)
        opd = await repo.opd_by_code(s, "PUPR")
        opd.chat_id = PUPR_GROUP
        s.add(opd)
        await s.commit()
    deps = lifecycle.Deps(translator=Translator(default="id"), tz=ZoneInfo("Asia/Jakarta"),
                          admin_ids=frozenset({ADMIN_ID}), verify_reports=True,
                          operator_chat_id=OPS, max_reports_per_day=3, clock=ShiftedClock())
    yield sm, deps
    await engine.dispose()


async def submit(sm: Any, deps: lifecycle.Deps, ext: str, text: str = "Jalan berlubang",
                 limit: bool = False) -> int | None:
    """One filing as the intake does it: (limit,) report, scored and held, committed."""
    async with sm() as s:
        citizen, _ = await repo.upsert_citizen(s, "telegram", ext, language="id")
        await s.flush()
        if limit and await verification.admit(s, deps, citizen,
                                              deps.translator.bind("id")) is not None:
            await s.rollback()
            return None
        opd = await repo.opd_by_code(s, "PUPR")
        cat = (await s.exec(select(Category).where(Category.opd_id == opd.id))).first()
        r = Report(code="", channel="telegram", citizen_id=citizen.id, category_id=cat.id,
                   opd_id=opd.id, description=text)
        lifecycle.start_clocks(r, cat, deps.cal, deps.now(), deps.yellow_share)
        r = await repo.create_report(s, r, [], prefix="ADU", actor_id=ext, actor_name=None)
        await verification.on_submitted(s, deps, r)
        await s.commit()
        return r.id


async def test_many_reports_verified_at_once(core: tuple[Any, lifecycle.Deps]) -> None:
    sm, deps = core
    ids = [await submit(sm, deps, str(9000 + i)) for i in range(20)]

    async def verify(rid: int, who: int) -> bool:
        async with sm() as s:
            r = await s.get(Report, rid)
            out = await verification.verify(s, deps, lifecycle.Actor(who, f"Op{who}"), r)
            return out.ok

    assert all(await asyncio.gather(*(verify(rid, ADMIN_ID) for rid in ids)))
    async with sm() as s:
        statuses = (await s.exec(select(Report.status).where(col(Report.id).in_(ids)))).all()
        assert set(statuses) == {Status.DISPATCHED}
        cards = await s.scalar(select(func.count()).select_from(Outbox).where(
            Outbox.kind == "card", Outbox.chat_id == str(PUPR_GROUP)))
        assert cards == 20


async def test_many_operators_on_one_report_exactly_one_wins(
        core: tuple[Any, lifecycle.Deps]) -> None:
    sm, deps = core
    rid = await submit(sm, deps, "9100")
    assert rid is not None

    async def act(i: int) -> lifecycle.Outcome:
        async with sm() as s:
            r = await s.get(Report, rid)
            actor = lifecycle.Actor(800000 + i, f"Op{i}")
            if i % 2:
                return await verification.reject(s, deps, actor, r, "hoax")
            return await verification.verify(s, deps, actor, r)

    outcomes = await asyncio.gather(*(act(i) for i in range(12)))
    won = [o for o in outcomes if o.ok]
    assert len(won) == 1, [o.alert for o in outcomes]
    assert all("sudah ditangani oleh Op" in o.alert for o in outcomes if not o.ok)
    async with sm() as s:
        changes = (await s.exec(select(ReportEvent).where(
            ReportEvent.report_id == rid, col(ReportEvent.to_status).in_(
                ("verified", "rejected"))))).all()
    assert len(changes) == 1


async def test_many_merges_into_one_target_all_count(core: tuple[Any, lifecycle.Deps]) -> None:
    sm, deps = core
    target = await submit(sm, deps, "9200")
    sources = [await submit(sm, deps, str(9300 + i)) for i in range(10)]

    async def merge(rid: int) -> bool:
        async with sm() as s:
            src, tgt = await s.get(Report, rid), await s.get(Report, target)
            return (await verification.merge_into(s, deps, lifecycle.Actor(ADMIN_ID, "Admin"),
                                                  src, tgt)).ok

    assert all(await asyncio.gather(*(merge(r) for r in sources)))
    async with sm() as s:
        assert (await s.get(Report, target)).supporters == 10
        merged = (await s.exec(select(Report).where(col(Report.id).in_(sources)))).all()
    assert {(r.status, r.merged_into_id) for r in merged} == {(Status.REJECTED, target)}


async def test_daily_limit_holds_under_concurrent_submissions(
        core: tuple[Any, lifecycle.Deps]) -> None:
    sm, deps = core  # MAX_REPORTS_PER_DAY = 3
    async with sm() as s:  # the citizen exists (first seen earlier): only the filings race
        await repo.upsert_citizen(s, "telegram", "9400", language="id")
        await s.commit()
    results = await asyncio.gather(*(submit(sm, deps, "9400", f"Laporan {i}", limit=True)
                                     for i in range(10)))
    assert sum(r is not None for r in results) == 3
    async with sm() as s:
        citizen = (await s.exec(select(Citizen).where(Citizen.external_id == "9400"))).one()
        assert await s.scalar(select(func.count()).select_from(Report).where(
            Report.citizen_id == citizen.id)) == 3


async def test_spam_score_signals(core: tuple[Any, lifecycle.Deps]) -> None:
    sm, deps = core
    first = await submit(sm, deps, "9500", "Lampu jalan mati di gang mawar")
    async with sm() as s:
        r = await s.get(Report, first)
        assert r.spam_reasons == "nomedia,new"
        assert r.spam_score == verification.SPAM_NO_MEDIA + verification.SPAM_NEW
        out = await verification.reject(s, deps, lifecycle.Actor(ADMIN_ID, "Admin"), r, "hoax")
        assert out.ok
    deps.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    second = await submit(sm, deps, "9500", "  lampu JALAN mati di gang mawar ")
    async with sm() as s:
        r = await s.get(Report, second)
        assert r.spam_reasons == "repeat,nomedia,hoax:1"
        assert r.spam_score == (verification.SPAM_REPEAT + verification.SPAM_NO_MEDIA
                                + verification.SPAM_HOAX_EACH)
        t = deps.translator.bind("id")
        shown = verification.spam_text(t, r)
        assert shown is not None and "teks sama" in shown and "1 laporan sebelumnya" in shown


@pytest.mark.settings(MAX_REPORTS_PER_DAY=1)
async def test_new_citizens_start_without_a_count_and_send_still_counts(harness: Harness
                                                                        ) -> None:
    """A crowd of first-time citizens: a draft starting costs no count of their reports
    (nothing of theirs reached Send here today), yet Send counts under the lock, so a report
    filed meanwhile elsewhere is still refused; after Send, starting again counts."""
    h = harness
    await setup_groups(h)
    users = [new_user() for _ in range(6)]
    await asyncio.gather(*(h.say(u, "/start") for u in users))
    counts: list[str] = []

    def watch(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT COUNT"):
            counts.append(statement)

    assert h.app is not None
    event.listen(h.app.engine.sync_engine, "before_cursor_execute", watch)
    try:
        answers = await asyncio.gather(*(h.say(u, "/lapor") for u in users))
        assert all("Langkah 1/5" in a[0] for a in answers), answers
        assert counts == []
        # One of them files through another worker meanwhile: Send refuses theirs.
        first = users[0]
        async with h.sessionmaker() as s:
            c = (await s.exec(select(Citizen).where(Citizen.external_id == str(first)))).one()
            cat = (await s.exec(select(Category))).first()
            await repo.create_report(s, Report(code="", channel="telegram", citizen_id=c.id,
                                               category_id=cat.id, opd_id=cat.opd_id,
                                               description="Laporan lain hari ini"), [],
                                     prefix="ADU", actor_id=str(first), actor_name=None)
            await s.commit()
        await h.say(first, "/batal")
        await to_summary(h, first)
        texts = await h.press(first, "send", h.buttons(first)[0].split(":", 2)[2], replies=1)
        assert "sudah mengirim 1 laporan hari ini" in texts[0]
        # Having reached Send here, a new draft is counted again, and refused at once.
        counts.clear()
        texts = await h.say(first, "/lapor")
        assert "sudah mengirim 1 laporan hari ini" in texts[0]
        assert len(counts) == 1
    finally:
        event.remove(h.app.engine.sync_engine, "before_cursor_execute", watch)
