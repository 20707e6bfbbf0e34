"""Bans on both channels (told once, then ignored; unban told once), WhatsApp flood control,
and every admin tool refused to a non-admin."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from models.tables import Category, Citizen, Inbox, Outbox, Report
from tests import fakegraph as fg
from tests.conftest import ADMIN_ID, Harness, make_settings, new_user, start_seeded
from tests.fakebotapi import FakeBotAPI
from tests.test_whatsapp import WA, graph  # noqa: F401  (the fake Graph API fixture)

NOTICE = "akses Anda ke layanan pengaduan ini dibatasi"
BACK = "sudah dibuka kembali"


@pytest.fixture
async def wah(db_url: str, fake_tg: FakeBotAPI, geocoder: Any, graph: fg.FakeGraphAPI,  # noqa: F811
              tmp_path: Path) -> AsyncIterator[Harness]:
    """Telegram and WhatsApp, with a small flood-control burst."""
    settings = make_settings(
        db_url, fake_tg, tmp_path / "media", geocoder.port,
        WHATSAPP_TOKEN=fg.TOKEN, WHATSAPP_PHONE_NUMBER_ID=fg.PHONE_ID,
        WHATSAPP_APP_SECRET=fg.APP_SECRET, WHATSAPP_VERIFY_TOKEN=fg.VERIFY_TOKEN,
        WHATSAPP_API_URL=graph.api_base("v22.0"), WEB_HOST="127.0.0.1", WEB_PORT=0,
        RATE_LIMIT_BURST=5, RATE_LIMIT_PER_SECOND=0.1,
    )
    h = await start_seeded(fake_tg, settings)
    yield h
    await h.stop()


async def processed(h: Harness, channel: str, chat: str, count: int) -> None:
    """Wait until `count` inbound updates of a chat are processed (their inbox rows closed):
    a bounded poll, the inbox leaving no other trace to wait for."""
    async with asyncio.timeout(10):
        while True:
            async with h.sessionmaker() as s:
                rows = (await s.exec(select(Inbox).where(Inbox.channel == channel,
                                                         Inbox.chat_key == chat))).all()
            if len([r for r in rows if r.status != "new"]) >= count:
                return
            await asyncio.sleep(0.02)


async def idle_outbox(h: Harness, chat: str) -> None:
    async with asyncio.timeout(10):
        while True:
            async with h.sessionmaker() as s:
                rows = (await s.exec(select(Outbox).where(Outbox.chat_id == chat,
                                                          Outbox.status == "pending"))).all()
            if not rows:
                return
            await asyncio.sleep(0.02)


async def admin_says(h: Harness, text: str) -> str:
    return (await h.say(ADMIN_ID, text))[0]


async def report_for(h: Harness, user: int, code: str) -> None:
    """A stored report of a Telegram citizen (its filing is tested elsewhere)."""
    async with h.sessionmaker() as s:
        citizen = (await s.exec(select(Citizen).where(Citizen.external_id == str(user)))).one()
        cat = (await s.exec(select(Category).where(Category.code == "jalan"))).one()
        s.add(Report(code=code, channel="telegram", citizen_id=citizen.id or 0,
                     category_id=cat.id or 0, opd_id=cat.opd_id, description="Jalan rusak"))
        await s.commit()


async def test_telegram_ban_told_once_then_ignored_and_unban(harness: Harness) -> None:
    h, amir, budi = harness, new_user(), new_user()
    await h.say(amir, "/start")
    await h.say(budi, "/start")

    # Malformed or unknown: the usage or a clear answer, in the admin's language.
    assert "Format: /blokir" in await admin_says(h, "/blokir")
    assert "Format: /blokir" in await admin_says(h, "/blokir abc def")
    assert "tidak ditemukan" in await admin_says(h, "/blokir 99999")
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_message(-100777, ADMIN_ID, "/ban", chat_type="supergroup",
                                           title="Admin", language_code="en"))
    [usage] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == -100777, since=mark)
    assert usage.text.startswith("Usage: /ban")

    # By Telegram user id.
    assert "diblokir" in await admin_says(h, f"/blokir {amir}")
    assert "sudah diblokir" in await admin_says(h, f"/ban {amir}")
    told = await h.say(amir, "halo")
    assert NOTICE in told[0]
    mark = h.fake.mark()
    for text in ("/start", "/lapor", "tolong"):
        h.fake.push_update(h.fake.make_message(amir, amir, text))
    await processed(h, "telegram", str(amir), 5)  # /start, halo, and these three
    h.fake.push_update(h.fake.make_callback(amir, amir, "in:new:", 1))
    await processed(h, "telegram", str(amir), 6)
    await idle_outbox(h, str(amir))
    assert not [c for c in h.fake.calls[mark:] if c.chat_id == amir or
                c.method == "answerCallbackQuery"]

    # By ticket code: its reporter.
    await report_for(h, budi, "ADU-BANZ")
    assert f"Telegram {budi}" in await admin_says(h, "/blokir adu-banz")
    assert NOTICE in (await h.say(budi, "halo"))[0]
    # A banned flooder is not even told to slow down.
    mark = h.fake.mark()
    for i in range(30):
        h.fake.push_update(h.fake.make_message(budi, budi, f"spam {i}"))
    await processed(h, "telegram", str(budi), 2 + 30)  # /start, halo, and the flood
    assert not [c for c in h.fake.calls[mark:] if c.chat_id == budi]

    # Unban: told once, and back in.
    mark = h.fake.mark()
    assert "dibuka" in await admin_says(h, f"/buka_blokir {amir}")
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == amir and BACK in (c.text or ""),
                          since=mark)
    assert "Halo" in (await h.say(amir, "/start"))[0]
    assert "tidak sedang diblokir" in await admin_says(h, f"/unban {amir}")
    assert len([t for t in h.fake.texts(amir) if NOTICE in t]) == 1


async def test_every_tool_is_refused_to_a_non_admin(harness: Harness) -> None:
    h, someone = harness, new_user()
    for command in ("/siaran Halo semua", "/broadcast hi", "/siaran_batal", "/broadcast_cancel",
                    f"/blokir {someone}", f"/ban {someone}", f"/buka_blokir {someone}",
                    f"/unban {someone}"):
        assert "hanya untuk admin" in (await h.say(someone, command))[0], command
    # In a group too, and the progress message's cancel button.
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_message(-100778, someone, "/siaran x", chat_type="supergroup",
                                           title="G"))
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == -100778
                          and "hanya untuk admin" in (c.text or ""), since=mark)
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_callback(someone, someone, "bc:1:x", 5))
    [answer] = await h.fake.wait_for("answerCallbackQuery", since=mark)
    assert "hanya untuk admin" in answer.params["text"]
    async with h.sessionmaker() as s:
        citizen = (await s.exec(select(Citizen).where(Citizen.external_id == str(someone)))
                   ).one()
        assert citizen.banned_at is None


async def test_whatsapp_ban_told_once_then_ignored_and_unban(
        wah: Harness, graph: fg.FakeGraphAPI) -> None:  # noqa: F811
    h, wa = wah, WA(wah, graph, "6281234500077")
    await wa.text("halo", "Halo Siti")
    assert "diblokir" in await admin_says(h, "/blokir +62 812-3450-0077")
    mark = graph.mark()
    await wa.text("halo", NOTICE)
    for _ in range(2):  # within the burst of 5: ignored for the ban, not the flood control
        assert (await wa.post(fg.text_message(wa.wa_id, "menu")))[0] == 200
    await processed(h, "whatsapp", wa.wa_id, 4)
    await idle_outbox(h, wa.wa_id)
    sent = [c for c in graph.sent(wa.wa_id, since=mark) if c.is_send]
    assert len(sent) == 1 and NOTICE in (sent[0].text or "")

    mark = graph.mark()
    assert "dibuka" in await admin_says(h, "/buka_blokir 081234500077")
    await graph.wait_for(lambda c: c.to == wa.wa_id and BACK in (c.text or ""), since=mark)
    await wa.text("halo", "Halo Siti")


async def test_whatsapp_flood_control(wah: Harness, graph: fg.FakeGraphAPI) -> None:  # noqa: F811
    h, wa = wah, WA(wah, graph, "6281234500088")
    mark = graph.mark()
    payload = fg.merge_webhooks(*[fg.text_message(wa.wa_id, "halo") for _ in range(12)])
    assert (await wa.post(payload))[0] == 200
    await processed(h, "whatsapp", wa.wa_id, 12)
    await idle_outbox(h, wa.wa_id)
    texts = [c.text or "" for c in graph.sent(wa.wa_id, since=mark) if c.is_send]
    assert len([t for t in texts if "pelan-pelan" in t]) == 1, texts
    assert 5 <= len([t for t in texts if "Halo Siti" in t]) <= 6, texts
