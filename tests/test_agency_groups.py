"""Agency groups end to end: card in the OPD group, PIC actions and replies, the citizen."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from sqlmodel import select

from models.tables import Outbox, Report, ReportEvent
from tests.conftest import ADMIN_ID, Harness, jpeg_bytes, new_user
from tests.test_intake_telegram import reports_of, to_summary

PUPR_GROUP = -1001000000001
DLH_GROUP = -1001000000002
DLH_TOPIC = 77
PIC_A, PIC_B, OUTSIDER = 700001, 700002, 700003


async def group_say(h: Harness, chat: int, user: int, text: str | None = None, *,
                    first_name: str = "Andi", username: str | None = None,
                    **kwargs: Any) -> dict[str, Any]:
    """A message in a group; returns the message dict (its id is for replies)."""
    update = h.fake.make_message(chat, user, text, chat_type="supergroup", title="OPD",
                                 first_name=first_name, username=username, **kwargs)
    h.fake.push_update(update)
    return update["message"]


async def admin_in_group(h: Harness, chat: int, text: str, **kwargs: Any) -> str:
    mark = h.fake.mark()
    await group_say(h, chat, ADMIN_ID, text, first_name="Admin", **kwargs)
    [call] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == chat, since=mark)
    return call.text or ""


async def setup_groups(h: Harness) -> None:
    assert "terhubung" in await admin_in_group(h, PUPR_GROUP, "/opd_bind PUPR")
    assert "Topik" in await admin_in_group(h, DLH_GROUP, "/opd_bind DLH",
                                           message_thread_id=DLH_TOPIC)
    # PIC A by replying to their message; PIC B by user id.
    hello = await group_say(h, PUPR_GROUP, PIC_A, "halo semua", first_name="Andi")
    assert "ditambahkan" in await admin_in_group(h, PUPR_GROUP, "/pic_add PUPR",
                                                 reply_to_message_id=hello["message_id"])
    assert "ditambahkan" in await admin_in_group(h, PUPR_GROUP, f"/pic_add PUPR {PIC_B}")


async def file_report(h: Harness, citizen: int) -> str:
    await to_summary(h, citizen)
    texts = await h.press(citizen, "send", h.buttons(citizen)[0].split(":", 2)[2], replies=1)
    return re.search(r"(ADU-[A-Z0-9]{4})", texts[0]).group(1)


async def card_of(h: Harness, chat: int, code: str) -> Any:
    [card] = await h.fake.wait_for(
        "sendMessage", lambda c: c.chat_id == chat and code in (c.text or "")
        and c.params.get("reply_markup"))
    return card


async def card_showing(h: Harness, chat: int, card_id: int, needle: str) -> Any:
    """The card showing `needle`: as it was sent, or as the outbox edited it later (e.g. the
    address from the background lookup arriving after the card went out)."""
    def shows(c: Any) -> bool:
        if c.chat_id != chat or needle not in (c.text or ""):
            return False
        if c.method == "sendMessage":
            return c.result["message_id"] == card_id
        return c.method == "editMessageText" and c.params.get("message_id") == card_id

    return (await h.fake.wait_for(None, shows))[-1]


def buttons_of(markup: dict[str, Any]) -> dict[str, str]:
    """action -> callback data of a card keyboard."""
    out = {}
    for row in markup.get("inline_keyboard", []):
        for b in row:
            out[b["callback_data"].split(":")[2]] = b["callback_data"]
    return out


async def group_press(h: Harness, chat: int, user: int, data: str, message_id: int, *,
                      first_name: str = "Andi") -> Any:
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_callback(chat, user, data, message_id,
                                            chat_type="supergroup", first_name=first_name))
    [answer] = await h.fake.wait_for("answerCallbackQuery", since=mark)
    return answer


def current_buttons(h: Harness, chat: int, message_id: int) -> dict[str, str]:
    msg = h.fake.message(chat, message_id)
    return buttons_of(msg.get("reply_markup") or {})


async def wait_citizen(h: Harness, citizen: int, needle: str, since: int) -> Any:
    [call] = await h.fake.wait_for(
        None, lambda c: c.chat_id == citizen and needle in (c.text or ""), since=since)
    return call


async def report_by(h: Harness, code: str) -> Report:
    async with h.sessionmaker() as s:
        return (await s.exec(select(Report).where(Report.code == code))).one()


async def test_the_whole_loop(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)

    # The card, its photo answering it, and a native pin, in the PUPR group.
    card = await card_of(h, PUPR_GROUP, code)
    card_id = card.result["message_id"]
    assert card.params["parse_mode"] == "HTML"
    assert "Budi" in card.text
    assert "maps.google.com/?q=0.400000,101.850000" in card.text
    # The address is looked up in the background: on the card as sent, or edited in after.
    shown = await card_showing(h, PUPR_GROUP, card_id, "Jalan Lintas Timur")
    assert shown.params["parse_mode"] == "HTML" and "Budi" in shown.text
    assert (await report_by(h, code)).address.startswith("Jalan Lintas Timur")
    await h.fake.wait_for("sendLocation", lambda c: c.chat_id == PUPR_GROUP)
    [photo] = await h.fake.wait_for("sendPhoto", lambda c: c.chat_id == PUPR_GROUP)
    assert photo.params["reply_parameters"]["message_id"] == card_id
    assert (await report_by(h, code)).status == "dispatched"
    # Dispatched with the filing: the ticket message itself says where it went.
    ticket = await wait_citizen(h, citizen, code, 0)
    assert f"Laporan {code} diterima dan sudah diteruskan ke Dinas Pekerjaan Umum" in ticket.text

    # Take it: the card shows the PIC, the citizen is told.
    mark = h.fake.mark()
    answer = await group_press(h, PUPR_GROUP, PIC_A, buttons_of(card.params["reply_markup"])
                               ["take"], card_id)
    assert "Anda tangani" in answer.params["text"]
    await wait_citizen(h, citizen, "sedang ditangani", mark)
    await h.fake.wait_for("editMessageText", lambda c: c.chat_id == PUPR_GROUP
                          and "Ditangani oleh: Andi" in (c.text or ""), since=mark)

    # The PIC replies to the card: relayed to the citizen as the OPD's answer.
    mark = h.fake.mark()
    await group_say(h, PUPR_GROUP, PIC_A, "Tim kami ke lokasi besok pagi.",
                    reply_to_message_id=card_id)
    relay = await wait_citizen(h, citizen, "Tim kami ke lokasi besok pagi.", mark)
    assert "Dinas Pekerjaan Umum" in relay.text

    # The citizen answers by replying to that message: it lands as a reply to the card.
    mark = h.fake.mark()
    texts = await h.say(citizen, "Terima kasih, saya tunggu.",
                        reply_to_message_id=relay.result["message_id"])
    assert "diteruskan" in texts[0]
    [back] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP
                                   and "saya tunggu" in (c.text or ""), since=mark)
    assert back.params["reply_parameters"]["message_id"] == card_id

    # Ask for info: prompt, PIC's question, citizen's answer with /balas.
    buttons = current_buttons(h, PUPR_GROUP, card_id)
    mark = h.fake.mark()
    await group_press(h, PUPR_GROUP, PIC_A, buttons["info"], card_id)
    [prompt] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP
                                     and "pertanyaan" in (c.text or ""), since=mark)
    await group_say(h, PUPR_GROUP, PIC_A, "Lubangnya sebelah kiri atau kanan jalan?",
                    reply_to_message_id=prompt.result["message_id"])
    await wait_citizen(h, citizen, "sebelah kiri atau kanan", mark)
    assert (await report_by(h, code)).status == "need_info"
    mark = h.fake.mark()
    texts = await h.say(citizen, f"/balas {code} Sebelah kiri, dekat tiang listrik.")
    assert "diteruskan" in texts[0]
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP
                          and "dekat tiang listrik" in (c.text or ""), since=mark)
    assert (await report_by(h, code)).status == "in_progress"

    # Resolved with a note and a proof photo (roads require one).
    buttons = current_buttons(h, PUPR_GROUP, card_id)
    mark = h.fake.mark()
    await group_press(h, PUPR_GROUP, PIC_A, buttons["resolve"], card_id)
    [prompt] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP
                                     and "catatan penyelesaian" in (c.text or ""), since=mark)
    await group_say(h, PUPR_GROUP, PIC_A, "no photo", reply_to_message_id=prompt.result[
        "message_id"])
    [again] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP
                                    and "wajib foto bukti" in (c.text or ""), since=mark)
    proof = h.fake.add_file(jpeg_bytes("gray"), file_path="photos/proof.jpg")
    mark = h.fake.mark()
    await group_say(h, PUPR_GROUP, PIC_A, photo=proof, caption="Sudah ditambal aspal.",
                    reply_to_message_id=again.result["message_id"])
    done = await wait_citizen(h, citizen, "Sudah selesai?", mark)
    assert "Sudah ditambal aspal." in done.text
    await h.fake.wait_for("sendPhoto", lambda c: c.chat_id == citizen, since=mark)
    assert (await report_by(h, code)).status == "resolved"

    # Satisfied, rated 5: closed.
    feedback = {b["callback_data"].split(":")[-1]: b["callback_data"]
                for row in done.params["reply_markup"]["inline_keyboard"] for b in row}
    texts = await h.press(citizen, "", data=feedback["yes"], message_id=done.result[
        "message_id"])
    assert "penilaian" in texts[-1]
    rate_msg = h.last_message_id(citizen)
    await h.press(citizen, "", data=f"fb:{(await report_by(h, code)).id}:5",
                  message_id=rate_msg)
    report = await report_by(h, code)
    assert report.status == "closed" and report.rating == 5
    async with h.sessionmaker() as s:
        events = (await s.exec(select(ReportEvent).where(ReportEvent.report_id == report.id)
                               .order_by(ReportEvent.id))).all()
    kinds = [(e.kind, e.to_status) for e in events]
    assert kinds[0] == ("created", "received")
    for expected in [("status", "dispatched"), ("status", "in_progress"),
                     ("assigned", "in_progress"), ("pic_reply", "in_progress"),
                     ("citizen_reply", "in_progress"), ("status", "need_info"),
                     ("status", "resolved"), ("status", "closed")]:
        assert expected in kinds, (expected, kinds)
    assert all(e.actor_kind for e in events)
    texts = await h.say(citizen, f"/status {code}")
    assert "Ditutup" in texts[0] and "Balasan dinas" in texts[0]
    # ... and no separate "forwarded" notice was sent at filing.
    assert not [t for t in h.fake.texts(citizen) if f"Laporan {code} sudah diteruskan" in t]


async def test_not_yet_reopens(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    card = await card_of(h, PUPR_GROUP, code)
    card_id = card.result["message_id"]
    # Roads need a proof photo; this test resolves with a note only, so drop that rule.
    async with h.sessionmaker() as s:
        from models.tables import Category

        cat = (await s.exec(select(Category).where(Category.code == "jalan"))).one()
        cat.requires_photo = False
        s.add(cat)
        await s.commit()
    await group_press(h, PUPR_GROUP, PIC_B, buttons_of(card.params["reply_markup"])["resolve"],
                      card_id)
    prompt = h.fake.sent("sendMessage", PUPR_GROUP)[-1]
    mark = h.fake.mark()
    await group_say(h, PUPR_GROUP, PIC_B, "Sudah diperbaiki.",
                    reply_to_message_id=prompt.result["message_id"])
    done = await wait_citizen(h, citizen, "Sudah selesai?", mark)
    no = [b["callback_data"] for row in done.params["reply_markup"]["inline_keyboard"]
          for b in row if b["callback_data"].endswith(":no")][0]
    mark = h.fake.mark()
    texts = await h.press(citizen, "", data=no, message_id=done.result["message_id"])
    assert "dibuka kembali" in texts[-1]
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP
                          and "BELUM selesai" in (c.text or ""), since=mark)
    report = await report_by(h, code)
    assert report.status == "in_progress" and report.reopen_count == 1


async def test_outsider_and_forged_presses_change_nothing(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    card = await card_of(h, PUPR_GROUP, code)
    card_id = card.result["message_id"]
    take = buttons_of(card.params["reply_markup"])["take"]
    answer = await group_press(h, PUPR_GROUP, OUTSIDER, take, card_id)
    assert answer.params["show_alert"] and "Hanya PIC" in answer.params["text"]
    report = await report_by(h, code)
    forged = [take.replace(f"c:{report.id}:", f"c:{report.id + 999}:"),  # another report
              take.replace(":take:", ":nuke:"), "c:zz:take:1:", "garbage"]
    for data in forged:
        answer = await group_press(h, PUPR_GROUP, PIC_A, data, card_id)
        assert answer.params.get("text"), data
    # A PIC of another OPD (admin-registered for DLH only) may not act on PUPR's card.
    await admin_in_group(h, DLH_GROUP, "/pic_add DLH 700009", message_thread_id=DLH_TOPIC)
    answer = await group_press(h, PUPR_GROUP, 700009, take, card_id)
    assert "Hanya PIC" in answer.params["text"]
    # A reply to the card by a non-PIC is not relayed.
    mark = h.fake.mark()
    await group_say(h, PUPR_GROUP, OUTSIDER, "Saya bukan petugas", reply_to_message_id=card_id)
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP
                          and "Hanya PIC terdaftar" in (c.text or ""), since=mark)
    assert not [c for c in h.fake.calls[mark:] if c.chat_id == citizen]
    after = await report_by(h, code)
    assert after.status == "dispatched" and after.version == report.version


async def test_two_pics_racing_one_wins(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    card = await card_of(h, PUPR_GROUP, code)
    take = buttons_of(card.params["reply_markup"])["take"]
    mid = card.result["message_id"]
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_callback(PUPR_GROUP, PIC_A, take, mid, chat_type="supergroup",
                                            first_name="Andi"))
    h.fake.push_update(h.fake.make_callback(PUPR_GROUP, PIC_B, take, mid, chat_type="supergroup",
                                            first_name="Bayu"))
    answers = await h.fake.wait_for("answerCallbackQuery", count=2, since=mark)
    texts = sorted(a.params.get("text", "") for a in answers)
    assert sum("Anda tangani" in t for t in texts) == 1, texts
    report = await report_by(h, code)
    assert report.assignee_id in (PIC_A, PIC_B)
    async with h.sessionmaker() as s:
        assigned = (await s.exec(select(ReportEvent).where(
            ReportEvent.report_id == report.id, ReportEvent.kind == "assigned"))).all()
    assert len(assigned) == 1


async def test_reject_with_each_reason(harness: Harness) -> None:
    h = harness
    await setup_groups(h)
    first_code = None
    for reason in ("hoax", "authority", "duplicate", "other"):
        citizen = new_user()
        code = await file_report(h, citizen)
        first_code = first_code or code
        card = await card_of(h, PUPR_GROUP, code)
        mid = card.result["message_id"]
        await group_press(h, PUPR_GROUP, PIC_A, buttons_of(card.params["reply_markup"])
                          ["reject"], mid)
        rj = [d for d in (b["callback_data"] for row in h.fake.message(PUPR_GROUP, mid)
                          ["reply_markup"]["inline_keyboard"] for b in row)
              if d.split(":")[2] == "rj" and d.endswith(reason)][0]
        mark = h.fake.mark()
        await group_press(h, PUPR_GROUP, PIC_A, rj, mid)
        if reason in ("duplicate", "other"):
            [prompt] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP
                                             and "balas pesan ini" in (c.text or ""),
                                             since=mark)
            answer = first_code if reason == "duplicate" else "Lokasi di luar kabupaten."
            await group_say(h, PUPR_GROUP, PIC_A, answer,
                            reply_to_message_id=prompt.result["message_id"])
        notice = await wait_citizen(h, citizen, "ditolak", mark)
        report = await report_by(h, code)
        assert report.status == "rejected" and report.reject_reason == reason
        if reason == "duplicate":
            assert first_code in notice.text
        if reason == "other":
            assert "Lokasi di luar kabupaten." in notice.text


async def test_reassign_moves_the_card_to_a_forum_topic(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    card = await card_of(h, PUPR_GROUP, code)
    mid = card.result["message_id"]
    await group_press(h, PUPR_GROUP, PIC_A, buttons_of(card.params["reply_markup"])
                      ["reassign"], mid)
    choices = [b["callback_data"] for row in h.fake.message(PUPR_GROUP, mid)["reply_markup"]
               ["inline_keyboard"] for b in row]
    async with h.sessionmaker() as s:
        from models.tables import Opd

        dlh = (await s.exec(select(Opd).where(Opd.code == "DLH"))).one()
    target = [d for d in choices if d.split(":")[2] == "ra" and d.endswith(f":{dlh.id}")][0]
    mark = h.fake.mark()
    await group_press(h, PUPR_GROUP, PIC_A, target, mid)
    [new_card] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == DLH_GROUP
                                       and code in (c.text or "") and c.params.get(
                                           "reply_markup"), since=mark)
    assert new_card.params["message_thread_id"] == DLH_TOPIC
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP
                          and "dialihkan ke" in (c.text or ""), since=mark)
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == DLH_GROUP
                          and "dialihkan ke sini" in (c.text or ""), since=mark)
    await wait_citizen(h, citizen, "dialihkan", mark)
    report = await report_by(h, code)
    assert report.opd_id == dlh.id and report.card_chat_id == DLH_GROUP
    # The old card is closed (no buttons).
    assert not (h.fake.message(PUPR_GROUP, mid).get("reply_markup") or {}).get(
        "inline_keyboard")


async def test_escaping_and_anonymity_in_the_group(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    from tests.test_intake_telegram import to_description

    await to_description(h, citizen)
    evil = 'Awas <b>bold</b> <a href="http://evil.example">klik</a> **md** @everyone'
    await h.say(citizen, evil, replies=1)
    fid = h.fake.add_file(jpeg_bytes(), file_path="photos/e.jpg")
    await h.say(citizen, photo=fid)
    await h.press(citizen, "done")
    await h.say(citizen, location=(0.4, 101.85), replies=2)
    await h.press(citizen, "anon", replies=1)
    texts = await h.press(citizen, "send", h.buttons(citizen)[0].split(":", 2)[2], replies=1)
    code = re.search(r"(ADU-[A-Z0-9]{4})", texts[0]).group(1)
    card = await card_of(h, PUPR_GROUP, code)
    assert "&lt;b&gt;bold&lt;/b&gt;" in card.text and "<b>bold</b>" not in card.text
    assert "&lt;a href=&quot;http://evil.example&quot;&gt;" in card.text
    assert "**md** @everyone" in card.text
    assert "Anonim" in card.text and "Budi" not in card.text and str(citizen) not in card.text
    group_texts = " ".join(c.text or "" for c in h.fake.calls
                           if c.chat_id == PUPR_GROUP and c.text)
    assert "Budi" not in group_texts


async def test_429_and_500s_are_retried_not_lost(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    h.fake.fail_next("sendMessage", status=429, retry_after=1, chat_id=PUPR_GROUP)
    h.fake.fail_next("sendMessage", status=500, times=2, chat_id=PUPR_GROUP)
    mark = h.fake.mark()
    code = await file_report(h, citizen)
    card = await card_of(h, PUPR_GROUP, code)
    assert card.ok
    failed = [c for c in h.fake.calls[mark:] if c.method == "sendMessage" and c.failed]
    assert [c.status for c in failed] == [429, 500, 500]
    # The next row for the group goes only after the card's outcome is committed.
    await h.fake.wait_for("sendPhoto", lambda c: c.chat_id == PUPR_GROUP, since=mark)
    async with h.sessionmaker() as s:
        rows = (await s.exec(select(Outbox).where(Outbox.kind == "card"))).all()
    assert [r.status for r in rows] == ["sent"]


async def test_repeated_failure_is_parked_and_admins_told(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    h.fake.fail_next("sendMessage", status=500, times=4, chat_id=PUPR_GROUP)  # max attempts
    mark = h.fake.mark()
    await file_report(h, citizen)
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == ADMIN_ID
                          and "ditahan" in (c.text or ""), since=mark, timeout=10)
    async with h.sessionmaker() as s:
        card = (await s.exec(select(Outbox).where(Outbox.kind == "card"))).one()
    assert card.status == "parked" and card.attempts == 4


async def test_bot_removed_from_group_is_recorded_and_reported(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    h.fake.fail_next("sendMessage", status=403, chat_id=PUPR_GROUP,
                     description="Forbidden: bot was kicked from the supergroup chat")
    mark = h.fake.mark()
    code = await file_report(h, citizen)
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == ADMIN_ID
                          and "PUPR" in (c.text or ""), since=mark)
    async with h.sessionmaker() as s:
        from models.tables import Opd

        opd = (await s.exec(select(Opd).where(Opd.code == "PUPR"))).one()
        card = (await s.exec(select(Outbox).where(Outbox.kind == "card"))).one()
    assert opd.unreachable_since is not None and card.status == "undeliverable"
    assert (await report_by(h, code)).status == "dispatched"  # pending, not lost
    # Re-added and re-bound: the card goes out.
    mark = h.fake.mark()
    await admin_in_group(h, PUPR_GROUP, "/opd_bind PUPR")
    await card_of(h, PUPR_GROUP, code)


async def test_citizen_who_blocked_the_bot(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    card = await card_of(h, PUPR_GROUP, code)
    h.fake.fail_next("sendMessage", status=403, chat_id=citizen,
                     description="Forbidden: bot was blocked by the user")
    mark = h.fake.mark()
    await group_press(h, PUPR_GROUP, PIC_A, buttons_of(card.params["reply_markup"])["take"],
                      card.result["message_id"])
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == ADMIN_ID
                          and "memblokir" in (c.text or ""), since=mark)
    # They come back: the waiting notification is delivered.
    mark = h.fake.mark()
    await h.say(citizen, "/laporanku", replies=0)
    await wait_citizen(h, citizen, "sedang ditangani", mark)


async def test_notification_survives_a_crash_exactly_once(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    card = await card_of(h, PUPR_GROUP, code)
    await h.restart(worker=False)  # the next status change is committed, never sent
    mark = h.fake.mark()
    await group_press(h, PUPR_GROUP, PIC_A, buttons_of(card.params["reply_markup"])["take"],
                      card.result["message_id"])
    assert (await report_by(h, code)).status == "in_progress"
    assert not [c for c in h.fake.calls[mark:] if c.chat_id == citizen]
    await h.restart()  # back with a worker
    await wait_citizen(h, citizen, "sedang ditangani", mark)
    await h.restart()  # and once more: nothing is sent twice
    await h.say(citizen, "/laporanku")
    sent = [c for c in h.fake.calls[mark:]
            if c.chat_id == citizen and "sedang ditangani" in (c.text or "")]
    assert len(sent) == 1


async def test_report_waits_when_opd_has_no_group(harness: Harness) -> None:
    h, citizen = harness, new_user()
    mark = h.fake.mark()
    code = await file_report(h, citizen)  # no group bound yet
    ticket = await wait_citizen(h, citizen, code, mark)
    assert f"Laporan {code} diterima. " in ticket.text and "diteruskan" not in ticket.text
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == ADMIN_ID
                          and "belum punya grup" in (c.text or ""), since=mark)
    assert (await report_by(h, code)).status == "received"
    mark = h.fake.mark()
    await admin_in_group(h, PUPR_GROUP, "/opd_bind PUPR")
    await card_of(h, PUPR_GROUP, code)
    assert (await report_by(h, code)).status == "dispatched"
    # dispatched later: now the citizen is told where it went
    await wait_citizen(h, citizen, f"Laporan {code} sudah diteruskan ke Dinas Pekerjaan", mark)
    assert len(await reports_of(h, citizen)) == 1


async def test_group_help_explains_the_buttons(harness: Harness) -> None:
    h = harness
    mark = h.fake.mark()
    await group_say(h, PUPR_GROUP, OUTSIDER, "/help")
    [answer] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP,
                                     since=mark)
    assert "Saya tangani" in answer.text and "/pic_add" in answer.text


async def test_myid_helps_setting_admin_ids(harness: Harness) -> None:
    h = harness
    texts = await h.say(555001, "/myid")
    assert "555001" in texts[0]
    mark = h.fake.mark()
    await group_say(h, PUPR_GROUP, 555001, "/myid")
    [answer] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP,
                                     since=mark)
    assert str(PUPR_GROUP) in answer.text and "555001" in answer.text


async def test_voice_note_reaches_the_group(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    from tests.test_intake_telegram import to_description

    await to_description(h, citizen)
    voice = h.fake.add_file(b"OggS" + b"\x00" * 200, file_path="voice/v1.ogg",
                            mime_type="audio/ogg")
    texts = await h.say(citizen, voice=voice)
    assert "Pesan suara disimpan" in texts[0]
    await h.say(citizen, "Jalan amblas di dekat jembatan, mohon segera dicek.", replies=1)
    fid = h.fake.add_file(jpeg_bytes(), file_path="photos/v.jpg")
    await h.say(citizen, photo=fid)
    await h.press(citizen, "done")
    await h.say(citizen, location=(0.4, 101.85), replies=2)
    await h.press(citizen, "anon", replies=1)
    texts = await h.press(citizen, "send", h.buttons(citizen)[0].split(":", 2)[2], replies=1)
    code = re.search(r"(ADU-[A-Z0-9]{4})", texts[0]).group(1)
    card = await card_of(h, PUPR_GROUP, code)
    assert "Pesan suara: 1" in card.text
    [sent] = await h.fake.wait_for("sendVoice", lambda c: c.chat_id == PUPR_GROUP)
    assert sent.params["reply_parameters"]["message_id"] == card.result["message_id"]


async def test_waiting_reports_alert_the_admins_once_per_opd(harness: Harness) -> None:
    """Many citizens reporting to an OPD with no group (after a flood): the admins are told
    that it waits, not once per report; every report is dispatched on /opd_bind. (Filed one
    after another: the harness's helpers follow one citizen at a time; the crowd is in
    test_load.py.)"""
    h = harness
    citizens = [new_user() for _ in range(6)]
    codes = [await file_report(h, c) for c in citizens]
    assert len(set(codes)) == len(citizens)
    async with h.sessionmaker() as s:
        rows = (await s.exec(select(Outbox).where(Outbox.chat_id == str(ADMIN_ID)))).all()
    alerts = [r for r in rows if "belum punya grup" in r.payload.get("text", "")]
    assert len(alerts) == 1, [r.payload for r in alerts]
    await group_say(h, PUPR_GROUP, ADMIN_ID, "/opd_bind PUPR", first_name="Admin")
    for code in codes:
        await card_of(h, PUPR_GROUP, code)


async def test_reply_to_an_unlinked_bot_message_is_answered_not_ignored(
        harness: Harness) -> None:
    """PICs replying at once to bot messages that lead to no report (here the bot's own
    /opd_bind answer; after a crash, a prompt sent twice) are each told it was not passed on;
    replies to other people's messages stay unanswered, and nothing reaches any citizen."""
    h = harness
    await setup_groups(h)
    mark = h.fake.mark()
    await group_say(h, PUPR_GROUP, ADMIN_ID, "/opd_bind PUPR", first_name="Admin")
    [bound] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP,
                                    since=mark)
    chatter = await group_say(h, PUPR_GROUP, PIC_B, "rapat jam 9", first_name="Budi")
    mark = h.fake.mark()
    # The reply to a person first: updates of one chat are handled in order, so once the
    # five answers are out, it has been handled too.
    await group_say(h, PUPR_GROUP, PIC_A, "oke", first_name="Andi",
                    reply_to_message_id=chatter["message_id"])
    pics = (PIC_A, PIC_B, 700011, 700012, 700013)
    await asyncio.gather(*(group_say(h, PUPR_GROUP, pic, f"siap {pic}", first_name="P",
                                     reply_to_message_id=bound.result["message_id"])
                           for pic in pics))
    told = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP
                                 and "tidak diteruskan ke pelapor" in (c.text or ""),
                                 since=mark, count=len(pics), timeout=20)
    assert len(told) == len(pics)
    answered = [c for c in h.fake.calls[mark:] if c.method == "sendMessage" and c.ok]
    assert len(answered) == len(pics)  # the reply to a person got nothing
    assert all(c.chat_id == PUPR_GROUP for c in answered)
