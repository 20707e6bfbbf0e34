"""WhatsApp end to end: signed webhooks in, a fake Graph API out, PICs in Telegram groups."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlmodel import select

from models.domain import utcnow
from models.tables import Category, Citizen, Inbox, Outbox, Report
from tests import fakegraph as fg
from tests.conftest import Harness, jpeg_bytes, make_settings, start_seeded
from tests.fakebotapi import FakeBotAPI
from tests.test_agency_groups import (
    PIC_A,
    PUPR_GROUP,
    buttons_of,
    card_of,
    current_buttons,
    group_press,
    group_say,
    setup_groups,
)

PATH = "/whatsapp/webhook"


class WA:
    """A WhatsApp citizen talking to the running app through signed webhooks."""

    def __init__(self, h: Harness, graph: fg.FakeGraphAPI, wa_id: str, name: str = "Siti"):
        self.h, self.graph, self.wa_id, self.name = h, graph, wa_id, name

    @property
    def base(self) -> str:
        assert self.h.app is not None
        return f"http://127.0.0.1:{self.h.app.web_port}"

    async def post(self, payload: dict[str, Any] | bytes, **kwargs: Any) -> tuple[int, str]:
        return await fg.post_webhook(self.base, PATH, payload, **kwargs)

    async def send(self, payload: dict[str, Any], needle: str | None = None,
                   count: int = 1) -> list[fg.GraphCall]:
        """Deliver a webhook; wait for `count` messages to this citizen (containing needle)."""
        mark = self.graph.mark()
        status, _ = await self.post(payload)
        assert status == 200
        return await self.graph.wait_for(
            lambda c: c.is_send and c.ok and c.to == self.wa_id
            and (needle is None or needle in (c.text or "")), count=count, since=mark)

    async def text(self, body: str, needle: str | None = None, **kw: Any) -> fg.GraphCall:
        calls = await self.send(fg.text_message(self.wa_id, body, name=self.name, **kw), needle)
        return calls[-1]

    async def button(self, bid: str, needle: str | None = None) -> fg.GraphCall:
        calls = await self.send(fg.button_reply(self.wa_id, bid, "x", name=self.name), needle)
        return calls[-1]

    async def row(self, rid: str, needle: str | None = None) -> fg.GraphCall:
        calls = await self.send(fg.list_reply(self.wa_id, rid, "x", name=self.name), needle)
        return calls[-1]


def ids(call: fg.GraphCall) -> list[str]:
    """Button or row ids of an interactive message."""
    inter = call.json.get("interactive", {})
    action = inter.get("action", {})
    if "buttons" in action:
        return [b["reply"]["id"] for b in action["buttons"]]
    return [r["id"] for s in action.get("sections", []) for r in s["rows"]]


def titles(call: fg.GraphCall) -> list[str]:
    action = call.json.get("interactive", {}).get("action", {})
    if "buttons" in action:
        return [b["reply"]["title"] for b in action["buttons"]]
    return [r["title"] for s in action.get("sections", []) for r in s["rows"]]


@pytest.fixture
async def graph() -> AsyncIterator[fg.FakeGraphAPI]:
    server = fg.FakeGraphAPI()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def wah(db_url: str, fake_tg: FakeBotAPI, geocoder: Any, graph: fg.FakeGraphAPI,
              tmp_path: Path) -> AsyncIterator[Harness]:
    settings = make_settings(
        db_url, fake_tg, tmp_path / "media", geocoder.port,
        WHATSAPP_TOKEN=fg.TOKEN, WHATSAPP_PHONE_NUMBER_ID=fg.PHONE_ID,
        WHATSAPP_APP_SECRET=fg.APP_SECRET, WHATSAPP_VERIFY_TOKEN=fg.VERIFY_TOKEN,
        WHATSAPP_API_URL=graph.api_base("v22.0"), WEB_HOST="127.0.0.1", WEB_PORT=0,
    )
    h = await start_seeded(fake_tg, settings)
    yield h
    await h.stop()


async def category_id(h: Harness, code: str) -> int:
    async with h.sessionmaker() as s:
        return int((await s.exec(select(Category).where(Category.code == code))).one().id)


async def to_summary(wa: WA, anonymous: bool = False) -> fg.GraphCall:
    """From the first hello to the summary, on WhatsApp; returns the summary message."""
    await wa.text("halo", "Halo Siti")
    menu = wa.graph.sent(wa.wa_id)[-1]
    assert "new:" in ids(menu)
    cats = await wa.row("new:", "Langkah 1/5")
    assert len(ids(cats)) <= 10 and all(len(t) <= 24 for t in titles(cats))
    await wa.row(f"cat:{await category_id(wa.h, 'jalan')}", "Langkah 2/5")
    await wa.text("Jalan berlubang besar di depan pasar, bahaya untuk motor.", "Langkah 3/5")
    media_id = wa.graph.add_media(jpeg_bytes("green", gps=True), "image/jpeg")
    await wa.send(fg.image_message(wa.wa_id, media_id), "(1/5)")
    req = await wa.button("done:", "Langkah 4/5")
    assert req.interactive_type == "location_request_message"
    await wa.send(fg.location_message(wa.wa_id, 0.40, 101.85), "Langkah 5/5")
    if anonymous:
        return await wa.button("anon:", "Periksa laporan")
    await wa.button("name:", "nomor")
    return await wa.button("wa_phone:", "Periksa laporan")


async def send_report(wa: WA, summary: fg.GraphCall) -> str:
    send_id = [i for i in ids(summary) if i.startswith("send:")][0]
    done = await wa.button(send_id, "diterima")
    return re.search(r"(ADU-[A-Z0-9]{4})", done.text).group(1)


async def to_media(h: Harness, wa: WA) -> None:
    """A new WhatsApp citizen, through category and description to the photo step."""
    await wa.text("halo", "Halo")
    await wa.row("new:", "Langkah 1/5")
    await wa.row(f"cat:{await category_id(h, 'jalan')}", "Langkah 2/5")
    await wa.text("Sampah dan lubang di jalan depan sekolah dasar.", "Langkah 3/5")


async def test_webhook_verification(wah: Harness, graph: fg.FakeGraphAPI) -> None:
    base = WA(wah, graph, "6281200000001").base
    async with aiohttp.ClientSession() as http:
        ok = await http.get(f"{base}{PATH}", params={
            "hub.mode": "subscribe", "hub.verify_token": fg.VERIFY_TOKEN,
            "hub.challenge": "1158201444"})
        assert ok.status == 200 and await ok.text() == "1158201444"
        bad = await http.get(f"{base}{PATH}", params={
            "hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "x"})
        assert bad.status == 403


async def test_forged_missing_signature_and_malformed_json(wah: Harness,
                                                           graph: fg.FakeGraphAPI) -> None:
    wa = WA(wah, graph, "6281200000002")
    payload = fg.text_message(wa.wa_id, "halo")
    assert (await wa.post(payload, signature="sha256=" + "0" * 64))[0] == 401
    assert (await wa.post(payload, signature=""))[0] == 401
    assert (await wa.post(payload, app_secret="not-the-secret"))[0] == 401
    assert (await wa.post(b"{not json", app_secret=fg.APP_SECRET))[0] == 400
    async with wah.sessionmaker() as s:
        assert (await s.exec(select(Inbox).where(Inbox.channel == "whatsapp"))).all() == []
    assert not graph.sent(wa.wa_id)


async def test_full_loop_whatsapp_citizen_and_telegram_pic(wah: Harness,
                                                            graph: fg.FakeGraphAPI) -> None:
    h, wa = wah, WA(wah, graph, "6281234500001")
    await setup_groups(h)
    code = await send_report(wa, await to_summary(wa))
    async with h.sessionmaker() as s:
        report = (await s.exec(select(Report).where(Report.code == code))).one()
    assert report.channel == "whatsapp"  # the number in E.164, encrypted at rest:
    assert h.app.deps.pii.decrypt(report.reporter_phone_enc) == "+" + wa.wa_id

    # The card in the OPD's Telegram group, the photo uploaded from the stored (clean) file.
    card = await card_of(h, PUPR_GROUP, code)
    assert "Siti" in card.text and wa.wa_id in card.text
    [photo] = await h.fake.wait_for("sendPhoto", lambda c: c.chat_id == PUPR_GROUP)
    assert photo.upload("photo") is not None
    mid = card.result["message_id"]

    mark = graph.mark()
    await group_press(h, PUPR_GROUP, PIC_A, buttons_of(card.params["reply_markup"])["take"], mid)
    await graph.wait_for(lambda c: c.to == wa.wa_id and "sedang ditangani" in (c.text or ""),
                         since=mark)

    # PIC reply -> WhatsApp; the citizen's reply to it -> back to the card in Telegram.
    mark = graph.mark()
    await group_say(h, PUPR_GROUP, PIC_A, "Petugas datang sore ini.", reply_to_message_id=mid)
    [relay] = await graph.wait_for(lambda c: c.to == wa.wa_id and "datang sore ini" in (
        c.text or ""), since=mark)
    tg_mark = h.fake.mark()
    await wa.text("Baik, terima kasih.", "diteruskan", context_id=relay.wamid)
    [back] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP
                                   and "Baik, terima kasih." in (c.text or ""), since=tg_mark)
    assert back.params["reply_parameters"]["message_id"] == mid

    # Resolved with a proof photo: the citizen gets the photo and the question on WhatsApp.
    buttons = current_buttons(h, PUPR_GROUP, mid)
    tg_mark = h.fake.mark()
    await group_press(h, PUPR_GROUP, PIC_A, buttons["resolve"], mid)
    [prompt] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP
                                     and "catatan penyelesaian" in (c.text or ""), since=tg_mark)
    proof = h.fake.add_file(jpeg_bytes("black"), file_path="photos/proof-wa.jpg")
    mark = graph.mark()
    await group_say(h, PUPR_GROUP, PIC_A, photo=proof, caption="Sudah diaspal ulang.",
                    reply_to_message_id=prompt.result["message_id"])
    [image] = await graph.wait_for(lambda c: c.to == wa.wa_id and c.type == "image", since=mark)
    [ask] = await graph.wait_for(lambda c: c.to == wa.wa_id and "Sudah selesai?" in (
        c.text or ""), since=mark)
    assert "Sudah diaspal ulang." in ask.text and len(ids(ask)) == 2
    yes = [i for i in ids(ask) if i.endswith(":yes")][0]
    rate = await wa.button(yes, "penilaian")
    five = [i for i in ids(rate) if i.endswith(":5")][0]
    await wa.row(five, "Terima kasih atas penilaian")
    async with h.sessionmaker() as s:
        report = (await s.exec(select(Report).where(Report.code == code))).one()
    assert report.status == "closed" and report.rating == 5


async def test_triple_delivery_makes_one_report(wah: Harness, graph: fg.FakeGraphAPI) -> None:
    h, wa = wah, WA(wah, graph, "6281234500002")
    summary = await to_summary(wa, anonymous=True)
    send_id = [i for i in ids(summary) if i.startswith("send:")][0]
    payload = fg.button_reply(wa.wa_id, send_id, "Kirim", msg_id="wamid.SEND-ONCE")
    mark = graph.mark()
    for _ in range(3):
        assert (await wa.post(payload))[0] == 200
    await graph.wait_for(lambda c: c.to == wa.wa_id and "diterima" in (c.text or ""),
                         since=mark)
    async with h.sessionmaker() as s:
        rows = (await s.exec(select(Inbox).where(Inbox.channel == "whatsapp",
                                                 Inbox.update_key == "wamid.SEND-ONCE"))).all()
        citizen = (await s.exec(select(Citizen).where(Citizen.external_id == wa.wa_id))).one()
        reports = (await s.exec(select(Report).where(Report.citizen_id == citizen.id))).all()
    assert len(rows) == 1 and len(reports) == 1
    assert reports[0].anonymous and reports[0].reporter_phone is None


async def test_anonymous_whatsapp_number_never_in_group(wah: Harness,
                                                        graph: fg.FakeGraphAPI) -> None:
    h, wa = wah, WA(wah, graph, "6281234500003")
    await setup_groups(h)
    code = await send_report(wa, await to_summary(wa, anonymous=True))
    card = await card_of(h, PUPR_GROUP, code)
    await h.fake.wait_for("sendLocation", lambda c: c.chat_id == PUPR_GROUP)
    group_text = json.dumps([c.params for c in h.fake.calls if c.chat_id == PUPR_GROUP])
    assert wa.wa_id not in group_text and "Siti" not in group_text
    assert "Anonim" in card.text


async def test_media_download_fails_then_succeeds(wah: Harness, graph: fg.FakeGraphAPI) -> None:
    h, wa = wah, WA(wah, graph, "6281234500004")
    await to_media(h, wa)
    media_id = graph.add_media(jpeg_bytes("yellow"), "image/jpeg")
    graph.fail_next("download", status=500)  # the first try fails, the retry works
    mark = graph.mark()
    await wa.send(fg.image_message(wa.wa_id, media_id), "(1/5)")  # answered at once
    await graph.wait_for(lambda c: c.kind == "download", since=mark, include_failed=False)
    assert len([c for c in graph.calls[mark:] if c.kind == "download"]) >= 2


async def test_media_download_always_fails_and_citizen_is_told(
        wah: Harness, graph: fg.FakeGraphAPI) -> None:
    h, wa = wah, WA(wah, graph, "6281234500005")
    await to_media(h, wa)
    media_id = graph.add_media(jpeg_bytes("yellow"), "image/jpeg")
    graph.fail_next("media_url", status=500, times=10)
    await wa.send(fg.image_message(wa.wa_id, media_id), "gagal diunduh")


async def test_notification_after_24_hours_goes_out_as_template(
        wah: Harness, graph: fg.FakeGraphAPI) -> None:
    h, wa = wah, WA(wah, graph, "6281234500006")
    await setup_groups(h)
    code = await send_report(wa, await to_summary(wa))
    card = await card_of(h, PUPR_GROUP, code)
    async with h.sessionmaker() as s:
        citizen = (await s.exec(select(Citizen).where(Citizen.external_id == wa.wa_id))).one()
        citizen.last_inbound_at = utcnow() - timedelta(hours=25)
        s.add(citizen)
        await s.commit()
    mark = graph.mark()
    await group_press(h, PUPR_GROUP, PIC_A, buttons_of(card.params["reply_markup"])["take"],
                      card.result["message_id"])
    [tpl] = await graph.wait_for(lambda c: c.to == wa.wa_id and c.type == "template",
                                 since=mark)
    template = tpl.json["template"]
    assert template["name"] == "aduan_update" and template["language"]["code"] == "id"
    params = [p["text"] for comp in template["components"] for p in comp["parameters"]]
    assert params[0] == code and "sedang ditangani" in params[1]
    assert not [c for c in graph.calls[mark:] if c.to == wa.wa_id and c.type == "text"]


async def test_more_than_ten_categories_are_paged(wah: Harness, graph: fg.FakeGraphAPI) -> None:
    h, wa = wah, WA(wah, graph, "6281234500007")
    await wa.text("halo", "Halo")
    first = await wa.row("new:", "halaman 1/2")
    assert len(ids(first)) <= 10 and "page:1" in ids(first)
    assert all(len(t) <= 24 for t in titles(first))
    assert any(t.endswith("…") for t in titles(first))  # long names shortened sensibly
    second = await wa.row("page:1", "halaman 2/2")
    assert "page:0" in ids(second)
    seen = {i for i in ids(first) + ids(second) if i.startswith("cat:")}
    async with h.sessionmaker() as s:
        assert len(seen) == len((await s.exec(select(Category))).all()) == 12


async def test_unsupported_types_get_a_polite_reprompt(wah: Harness,
                                                       graph: fg.FakeGraphAPI) -> None:
    h, wa = wah, WA(wah, graph, "6281234500008")
    await wa.text("halo", "Halo")
    await wa.row("new:", "Langkah 1/5")
    await wa.row(f"cat:{await category_id(h, 'jalan')}", "Langkah 2/5")
    await wa.text("Jalan rusak parah sekali di km 5 arah kota.", "Langkah 3/5")
    await wa.send(fg.sticker_message(wa.wa_id, graph.add_media(b"RIFF", "image/webp")),
                  "Mohon kirim foto atau video")


async def test_delivery_receipts_are_recorded(wah: Harness, graph: fg.FakeGraphAPI) -> None:
    h, wa = wah, WA(wah, graph, "6281234500009")
    hello = await wa.text("halo", "Halo")
    for state in ("sent", "delivered", "read"):
        assert (await wa.post(fg.status_update(hello.wamid, state, wa.wa_id)))[0] == 200
    async with h.sessionmaker() as s:
        row = (await s.exec(select(Outbox).where(Outbox.provider_message_id == hello.wamid))
               ).one()
    assert row.delivery_status == "read"


async def test_failed_receipt_outside_window_resends_as_template(
        wah: Harness, graph: fg.FakeGraphAPI) -> None:
    h, wa = wah, WA(wah, graph, "6281234500010")
    await setup_groups(h)
    code = await send_report(wa, await to_summary(wa))
    card = await card_of(h, PUPR_GROUP, code)
    mark = graph.mark()
    await group_press(h, PUPR_GROUP, PIC_A, buttons_of(card.params["reply_markup"])["take"],
                      card.result["message_id"])
    [notice] = await graph.wait_for(lambda c: c.to == wa.wa_id and c.type == "text"
                                    and "sedang ditangani" in (c.text or ""), since=mark)
    # The next message to the same chat goes only after the notice's outcome is committed.
    await wa.text("/laporanku", code)
    # Meta accepted the notice, then reports it failed: its 24-hour window had closed.
    mark = graph.mark()
    failed = fg.status_update(notice.wamid, "failed", wa.wa_id,
                              errors=[fg.status_error(131047)])
    assert (await wa.post(failed))[0] == 200
    [tpl] = await graph.wait_for(lambda c: c.to == wa.wa_id and c.type == "template",
                                 since=mark)
    assert tpl.json["template"]["components"][0]["parameters"][0]["text"] == code


async def test_text_with_a_lone_surrogate_is_recorded_and_answered(
        wah: Harness, graph: fg.FakeGraphAPI) -> None:
    """Meta writes non-ASCII as \\uXXXX escapes: a text with half an emoji (a lone
    surrogate) parses, and is stored in the inbox, the draft and read back like any other
    (the standard library's JSON took it; orjson alone refuses it both ways)."""
    wa = WA(wah, graph, "6281200077701")
    await wa.text("halo \ud83d", "Halo Siti")  # first contact: recorded, greeted
    await wa.row("new:", "Langkah 1/5")
    cid = await category_id(wah, "jalan")
    await wa.row(f"cat:{cid}", "Langkah 2/5")
    await wa.text("Jalan berlubang \ud83d besar di depan pasar, sudah seminggu.", "Langkah 3/5")
    async with wah.sessionmaker() as s:
        rows = (await s.exec(select(Inbox).where(Inbox.chat_key == wa.wa_id))).all()
        assert rows and all(r.status == "done" for r in rows)
        assert rows[0].payload["message"]["text"]["body"] == "halo \ud83d"
