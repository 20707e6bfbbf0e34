"""End to end through the real Dispatcher and Bot over HTTP: the citizen's conversation."""

from __future__ import annotations

import asyncio
import io
import re
from typing import Any

from PIL import Image
from sqlmodel import select

from models.tables import Attachment, Category, Draft, Report, ReportEvent
from tests.conftest import Harness, jpeg_bytes, new_user


async def category_id(h: Harness, code: str) -> int:
    async with h.sessionmaker() as s:
        cat = (await s.exec(select(Category).where(Category.code == code))).one()
        return int(cat.id)


async def reports_of(h: Harness, user: int) -> list[Report]:
    from models.tables import Citizen

    async with h.sessionmaker() as s:
        citizen = (await s.exec(select(Citizen).where(Citizen.external_id == str(user)))).first()
        if citizen is None:
            return []
        return list((await s.exec(select(Report).where(Report.citizen_id == citizen.id))).all())


async def draft_of(h: Harness, user: int) -> Draft | None:
    async with h.sessionmaker() as s:
        return (await s.exec(select(Draft).where(Draft.external_id == str(user)))).first()


async def draft_address(h: Harness, user: int) -> str:
    """The address the background lookup writes into the draft (bounded poll: the lookup
    leaves no trace on the Telegram side to wait for)."""
    async with asyncio.timeout(5):
        while True:
            draft = await draft_of(h, user)
            if draft is not None and draft.data.get("address"):
                return str(draft.data["address"])
            await asyncio.sleep(0.02)


async def press_edits(h: Harness, user: int, action: str, arg: str = "") -> str:
    """Press a button whose answer replaces the pressed message: one edit, nothing sent."""
    mid = h.last_message_id(user)
    mark = h.fake.mark()
    texts = await h.press(user, action, arg)
    shown: list[Any] = [c for c in h.fake.calls[mark:] if c.ok and c.chat_id == user
                        and c.method in ("sendMessage", "editMessageText")]
    assert [(c.method, c.params.get("message_id")) for c in shown] == [
        ("editMessageText", mid)], [c.short() for c in shown]
    return texts[0]


async def to_description(h: Harness, user: int, code: str = "jalan") -> None:
    await h.say(user, "/start")
    await h.press(user, "new")
    await h.press(user, "cat", str(await category_id(h, code)), replies=1)


async def to_media(h: Harness, user: int, code: str = "jalan") -> None:
    await to_description(h, user, code)
    await h.say(user, "Jalan berlubang besar di depan SD 003, sudah dua minggu.", replies=1)


async def to_location(h: Harness, user: int) -> None:
    await to_media(h, user)
    fid = h.fake.add_file(jpeg_bytes(), file_path="photos/a.jpg")
    await h.say(user, photo=fid)
    await h.press(user, "done")


async def to_summary(h: Harness, user: int) -> None:
    await to_location(h, user)
    await h.say(user, location=(0.40, 101.85), replies=2)
    await h.press(user, "name", replies=1)
    await h.say(user, contact={"phone_number": "+6281234567890", "first_name": "Budi",
                               "user_id": user}, replies=2)


async def test_full_conversation_to_ticket(harness: Harness) -> None:
    h, user = harness, new_user()
    texts = await h.say(user, "/start")
    assert "Halo Budi" in texts[0]
    assert "in:new:" in h.buttons(user)

    text = await press_edits(h, user, "new")  # the menu becomes the category list
    assert "Langkah 1/5" in text and "halaman 1/2" in text
    assert "in:page:1" in h.buttons(user)
    text = await press_edits(h, user, "page", "1")  # edits the list in place
    assert "halaman 2/2" in text

    # the list becomes the chosen category and the next question, in one message
    text = await press_edits(h, user, "cat", str(await category_id(h, "jalan")))
    assert text.startswith("Kategori: Jalan rusak") and "\n\nLangkah 2/5" in text

    texts = await h.say(user, "Jalan berlubang besar di depan SD 003, sudah dua minggu.",
                        replies=1)
    assert texts[0].startswith("Uraian dicatat.\n\nLangkah 3/5")
    assert "in:skip:" not in h.buttons(user)  # photo is required for roads

    photo = jpeg_bytes("blue", gps=True)
    fid = h.fake.add_file(photo, file_path="photos/p1.jpg")
    texts = await h.say(user, photo=fid)
    assert "(1/5)" in texts[0]

    texts = await h.press(user, "done")
    assert "Langkah 4/5" in texts[-1]
    markup = h.last_markup(user)
    assert markup["keyboard"][0][0]["request_location"] is True
    assert markup.get("one_time_keyboard") is True and not markup.get("is_persistent")

    # answered at once with the coordinates; the address follows from the background lookup
    texts = await h.say(user, location=(0.40, 101.85), replies=2)
    # Two messages here: the first removes the location keyboard (Telegram cannot do that
    # and show inline buttons in one message), the second asks the next question.
    assert texts[0] == "Lokasi dicatat: 0.40000, 101.85000"
    assert "Langkah 5/5" in texts[1]
    assert (await draft_address(h, user)).startswith("Jalan Lintas Timur, Pangkalan Kerinci")

    texts = await h.press(user, "name", replies=1)
    assert "Budi" in texts[0]
    markup = h.last_markup(user)
    assert markup["keyboard"][0][0]["request_contact"] is True
    assert markup.get("one_time_keyboard") is True and not markup.get("is_persistent")
    texts = await h.say(user, contact={"phone_number": "+6281234567890", "first_name": "Budi",
                                       "user_id": user}, replies=2)
    assert texts[0] == "Nomor HP dicatat."
    summary = texts[1]
    assert "Jalan rusak" in summary and "1 foto" in summary and "+6281234567890" in summary
    assert "Jalan Lintas Timur, Pangkalan Kerinci" in summary

    texts = await h.press(user, "send", h.buttons(user)[0].split(":", 2)[2], replies=1)
    match = re.search(r"Laporan (ADU-[A-Z0-9]{4}) diterima\. ", texts[0])
    assert match, texts  # no OPD group bound here: received, not forwarded
    assert texts[0].endswith("\n\nApa yang ingin Anda lakukan?")  # with the menu
    code = match.group(1)

    [report] = await reports_of(h, user)
    assert report.code == code and report.status == "received"
    assert report.latitude == 0.40 and report.address.startswith("Jalan Lintas Timur")
    assert h.app.deps.pii.decrypt(report.reporter_phone_enc) == "+6281234567890"
    assert not report.anonymous and report.reporter_phone is None  # no plain text
    assert report.followup_due_at is not None and report.followup_due_at > report.created_at
    assert await draft_of(h, user) is None
    async with h.sessionmaker() as s:
        [att] = (await s.exec(select(Attachment).where(Attachment.report_id == report.id))).all()
        events = (await s.exec(select(ReportEvent).where(ReportEvent.report_id == report.id))
                  ).all()
    assert [e.kind for e in events] == ["created"]
    stored = h.settings.media_dir / att.path
    data = stored.read_bytes()
    assert len(data) == att.size and att.kind == "photo" and len(att.sha256) == 64
    with Image.open(io.BytesIO(data)) as img:
        assert not img.getexif()  # GPS, camera and every other tag gone
    assert b"TestCam" not in data

    texts = await h.say(user, f"/status {code.lower()}")
    assert code in texts[0] and "Diterima" in texts[0] and "Laporan dibuat" in texts[0]
    texts = await h.say(user, "/laporanku")
    assert code in texts[0]
    texts = await h.say(user, code)  # a bare ticket code also works
    assert "Status: Diterima" in texts[0]


async def test_other_citizen_cannot_see_report(harness: Harness) -> None:
    h, owner, other = harness, new_user(), new_user()
    await to_summary(h, owner)
    texts = await h.press(owner, "send", h.buttons(owner)[0].split(":", 2)[2], replies=1)
    code = re.search(r"(ADU-[A-Z0-9]{4})", texts[0]).group(1)
    texts = await h.say(other, f"/status {code}")
    assert "tidak ditemukan" in texts[0]


async def test_restart_mid_conversation_loses_nothing(harness: Harness) -> None:
    h, user = harness, new_user()
    await to_location(h, user)
    await h.restart()  # a new Dispatcher and Bot on the same database
    texts = await h.say(user, location=(0.41, 101.86), replies=2)
    assert "Langkah 5/5" in texts[1]
    await h.press(user, "anon", replies=1)
    texts = await h.press(user, "send", h.buttons(user)[0].split(":", 2)[2], replies=1)
    assert "diterima" in texts[0]
    [report] = await reports_of(h, user)
    assert report.anonymous and report.reporter_name is None
    assert report.reporter_phone_enc is None and report.identity_mode == "anonymous"


async def test_album_is_one_step_with_one_answer(harness: Harness) -> None:
    h, user = harness, new_user()
    await to_media(h, user)
    mark = h.fake.mark()
    for i, color in enumerate(("red", "green", "blue")):
        fid = h.fake.add_file(jpeg_bytes(color), file_path=f"photos/album{i}.jpg")
        h.fake.push_update(h.fake.make_message(user, user, photo=fid, media_group_id="album-1"))
    texts = await h.press(user, "done")  # handled after the album: per-user order is kept
    answers = [c for c in h.fake.calls[mark:] if c.method == "sendMessage" and c.ok]
    album_answers = [c for c in answers if "Album diterima" in (c.text or "")]
    assert len(album_answers) == 1, [c.text for c in answers]
    assert "Langkah 4/5" in texts[-1]
    draft = await draft_of(h, user)
    assert draft is not None and len(draft.data["media"]) == 3


async def test_cancel_from_every_step(harness: Harness) -> None:
    h = harness
    steps = [
        ("category", lambda u: _go(h, u, 0)),
        ("description", lambda u: to_description(h, u)),
        ("media", lambda u: to_media(h, u)),
        ("location", lambda u: to_location(h, u)),
        ("summary", lambda u: to_summary(h, u)),
    ]
    for name, go in steps:
        for command in ("/batal", "/cancel"):
            user = new_user()
            await go(user)
            assert await draft_of(h, user) is not None, name
            texts = await h.say(user, command, replies=1)
            assert "dibatalkan" in texts[0], (name, texts)
            assert await draft_of(h, user) is None
    # identity and phone steps, cancelled with the inline button and /batal
    user = new_user()
    await to_location(h, user)
    await h.say(user, location=(0.40, 101.85), replies=2)
    texts = await h.press(user, "cancel", replies=1)
    assert "dibatalkan" in texts[0] and await draft_of(h, user) is None
    user = new_user()
    await to_location(h, user)
    await h.say(user, location=(0.40, 101.85), replies=2)
    await h.press(user, "name", replies=1)
    texts = await h.say(user, "/batal", replies=1)
    assert "dibatalkan" in texts[0] and await draft_of(h, user) is None
    assert await reports_of(h, user) == []


async def _go(h: Harness, user: int, _: int) -> None:
    await h.say(user, "/start")
    await h.press(user, "new")


async def test_language_switch_and_english_user(harness: Harness) -> None:
    h, user = harness, new_user()
    texts = await h.say(user, "/start", language_code="en-US")
    assert texts[0].startswith("Hello")
    await h.say(user, "/bahasa")
    texts = await h.press(user, "", data="lang:id")
    assert "Bahasa Indonesia" in texts[0]
    texts = await h.say(user, "/help")
    assert "Cara memakai" in texts[0]


async def test_commands_registered_in_both_languages(harness: Harness) -> None:
    calls = harness.fake.sent("setMyCommands")
    langs = {c.params.get("language_code") for c in calls}
    assert {"id", "en"} <= langs
    en = next(c for c in calls if c.params.get("language_code") == "en")
    assert any(cmd["command"] == "lapor" for cmd in en.params["commands"])


async def test_edit_from_summary_returns_to_summary(harness: Harness) -> None:
    h, user = harness, new_user()
    await to_summary(h, user)
    await h.press(user, "edit_menu")
    await h.press(user, "edit", "description")
    texts = await h.say(user, "Lubangnya makin besar dan sudah ada motor jatuh.", replies=1)
    assert "makin besar" in texts[-1] and "Kirim sekarang" in texts[-1]
