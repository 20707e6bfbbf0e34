"""Bad input, each answered politely in the user's language, nothing half-stored, no crash."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select

from handlers.telegram import middlewares
from models.tables import Inbox, Report
from tests.conftest import Harness, jpeg_bytes, new_user
from tests.test_intake_telegram import (
    draft_of,
    reports_of,
    to_description,
    to_location,
    to_media,
    to_summary,
)


def media_files(h: Harness) -> list[str]:
    root = h.settings.media_dir
    # Stored files are named by their SHA-256; the generated personal-data key
    # (MEDIA_DIR/.aduan-pii.key) is not one of them.
    return [str(p) for p in root.rglob("*") if p.is_file() and p != h.settings.key_file()
            ] if root.exists() else []


async def test_ten_thousand_character_description(harness: Harness) -> None:
    h, user = harness, new_user()
    await to_description(h, user)
    before = await draft_of(h, user)
    texts = await h.say(user, "x" * 10_000)
    assert "terlalu panjang" in texts[0] and "10.000" in texts[0]
    after = await draft_of(h, user)
    assert after.step == "description" and after.data == before.data
    texts = await h.say(user, "pendek")
    assert "terlalu singkat" in texts[0]


async def test_english_user_gets_english_errors(harness: Harness) -> None:
    h, user = harness, new_user()
    await h.say(user, "/start", language_code="en")
    await h.press(user, "new")
    async with h.sessionmaker() as s:
        from models.tables import Category

        cat = (await s.exec(select(Category).where(Category.code == "jalan"))).one()
    await h.press(user, "cat", str(cat.id), replies=1)
    texts = await h.say(user, "y" * 10_000, language_code="en")
    assert "too long" in texts[0]


async def test_zero_byte_file(harness: Harness) -> None:
    h, user = harness, new_user()
    await to_media(h, user)
    fid = h.fake.add_file(b"", file_path="documents/empty.jpg", mime_type="image/jpeg")
    texts = await h.say(user, document=fid)
    assert "kosong" in texts[0]
    assert (await draft_of(h, user)).data.get("media", []) == []
    assert media_files(h) == []


async def test_video_over_download_limit(harness: Harness) -> None:
    h, user = harness, new_user()
    await to_media(h, user)
    fid = h.fake.add_file(b"\x00" * 1024, file_path="videos/big.mp4",
                          file_size=25 * 1024 * 1024, mime_type="video/mp4")
    mark = h.fake.mark()
    texts = await h.say(user, video=fid)
    assert "terlalu besar" in texts[0]
    assert not [c for c in h.fake.calls[mark:] if c.method == "getFile"]  # never downloaded
    assert media_files(h) == []


async def test_document_named_jpg_that_is_not_an_image(harness: Harness) -> None:
    h, user = harness, new_user()
    await to_media(h, user)
    fid = h.fake.add_file(b"%PDF-1.4 definitely not a jpeg" * 10, file_path="documents/x.jpg",
                          mime_type="image/jpeg")
    # Accepted by id at once; refused when checked, with a word to the citizen (sent through
    # the outbox, committed with the draft's change).
    texts = await h.say(user, document=fid, replies=2)
    assert "(1/5)" in texts[0]
    assert "tidak tersimpan" in texts[1] and "bukan gambar" in texts[1]
    assert (await draft_of(h, user)).data.get("media", []) == []
    assert media_files(h) == []


async def test_pdf_document_and_sticker_are_reprompted(harness: Harness) -> None:
    h, user = harness, new_user()
    await to_media(h, user)
    fid = h.fake.add_file(b"%PDF-1.4", file_path="documents/surat.pdf",
                          mime_type="application/pdf")
    texts = await h.say(user, document=fid)
    assert "bukan foto atau video" in texts[0]
    texts = await h.say(user, sticker="CAACAgIAAxkBAAEsticker", replies=1)
    # one message: the notice, then the step's question again
    assert "Mohon kirim foto atau video" in texts[0] and "\n\nLangkah 3/5" in texts[0]


async def test_text_in_location_step_reprompts(harness: Harness) -> None:
    h, user = harness, new_user()
    await to_location(h, user)
    texts = await h.say(user, "di depan pasar", replies=1)
    assert "Kirim lokasi saya" in texts[0] and "\n\nLangkah 4/5" in texts[0]
    assert (await draft_of(h, user)).step == "location"


@pytest.mark.settings(SERVICE_AREA="-0.95,101.25,0.55,103.15")
async def test_location_outside_service_area(harness: Harness) -> None:
    h, user = harness, new_user()
    await to_location(h, user)
    texts = await h.say(user, location=(-6.2, 106.8), replies=1)  # Jakarta
    assert "di luar wilayah layanan" in texts[0]
    assert (await draft_of(h, user)).step == "location"


async def asked_geocoder(geocoder, lat: float, lon: float) -> None:
    """The background lookup of (lat, lon) reached the geocoder (bounded poll: the fake
    Nominatim records requests but has nothing to wait on)."""
    async with asyncio.timeout(5):
        while True:
            if any((float(r["lat"]), float(r["lon"])) == (lat, lon) for r in geocoder.requests):
                return
            await asyncio.sleep(0.01)


async def submit_keeps_coordinates(h: Harness, user: int, lat: float, lon: float) -> None:
    texts = await h.press(user, "anon", replies=1)
    assert f"{lat:.5f}, {lon:.5f}" in texts[0]  # the summary
    await h.press(user, "send", h.buttons(user)[0].split(":", 2)[2], replies=1)
    [report] = await reports_of(h, user)
    assert (report.latitude, report.longitude, report.address) == (lat, lon, None)


async def test_geocoder_down_falls_back_to_coordinates(harness: Harness, geocoder) -> None:
    h, user = harness, new_user()
    geocoder.mode = "error"
    await to_location(h, user)
    texts = await h.say(user, location=(0.4, 101.85), replies=2)
    assert "0.40000, 101.85000" in texts[0]
    await asked_geocoder(geocoder, 0.4, 101.85)  # and it failed
    await submit_keeps_coordinates(h, user, 0.4, 101.85)


async def test_geocoder_timeout_falls_back_to_coordinates(harness: Harness, geocoder) -> None:
    h, user = harness, new_user()
    geocoder.mode = "hang"  # GEOCODER_TIMEOUT is 1 s in tests
    await to_location(h, user)
    texts = await h.say(user, location=(0.3, 101.7), replies=2)  # not held up by the lookup
    assert "0.30000, 101.70000" in texts[0]
    await asked_geocoder(geocoder, 0.3, 101.7)  # and it hangs
    await submit_keeps_coordinates(h, user, 0.3, 101.7)


async def test_forged_and_stale_callback_data(harness: Harness) -> None:
    h, user = harness, new_user()
    await to_description(h, user)
    before = await draft_of(h, user)
    for data in ("garbage", "in:cat", "in:cat:99999", "in:send:deadbeef", "lang:xx:yy", "x" * 64):
        mark = h.fake.mark()
        h.fake.push_update(h.fake.make_callback(user, user, data, h.last_message_id(user)))
        [answer] = await h.fake.wait_for("answerCallbackQuery", since=mark)
        assert answer.params.get("text"), data
    after = await draft_of(h, user)
    assert after.step == "description" and after.data == before.data
    assert await reports_of(h, user) == []


async def test_send_pressed_twice_makes_one_report(harness: Harness) -> None:
    h, user = harness, new_user()
    await to_summary(h, user)
    data = h.buttons(user)[0]
    mid = h.last_message_id(user)
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_callback(user, user, data, mid))
    h.fake.push_update(h.fake.make_callback(user, user, data, mid))
    await h.fake.wait_for("answerCallbackQuery", count=2, since=mark)
    texts = h.fake.texts(user)[-4:]
    assert len(await reports_of(h, user)) == 1
    assert any("sudah terkirim" in t for t in texts), texts


async def test_flood_is_slowed_down_politely(harness: Harness, monkeypatch) -> None:
    h, user = harness, new_user()
    await h.say(user, "/start")
    mark = h.fake.mark()
    for i in range(50):
        h.fake.push_update(h.fake.make_message(user, user, f"pesan {i}"))
    await h.fake.wait_for(
        "sendMessage", lambda c: c.chat_id == user and "pelan-pelan" in (c.text or ""),
        since=mark)
    # Updates are throttled as each chat's queue is processed (bot/inbox.py): let the rest
    # of the flood through the queue before the clock moves on.
    assert h.app is not None and h.app.poller is not None
    await asyncio.wait_for(h.app.poller.processor.drain(), 5)
    async with h.sessionmaker() as s:  # the whole flood came in one batch and is through
        statuses = (await s.exec(select(Inbox.status).where(Inbox.chat_key == str(user)))).all()
    assert len(statuses) == 51 and "new" not in statuses
    notices = [c for c in h.fake.calls[mark:] if c.method == "sendMessage"
               and c.chat_id == user and "pelan-pelan" in (c.text or "")]
    assert len(notices) == 1
    # A later message after the bucket refills is answered normally (clock moved, no sleep).
    real = middlewares.time.monotonic
    monkeypatch.setattr(middlewares.time, "monotonic", lambda: real() + 60)
    mark2 = h.fake.mark()
    h.fake.push_update(h.fake.make_message(user, user, "/laporanku"))
    await h.fake.wait_for("sendMessage", lambda c: c.chat_id == user
                          and "belum pernah" in (c.text or ""), since=mark2)
    answered = [c for c in h.fake.calls[mark:] if c.method == "sendMessage"
                and c.chat_id == user and "pelan-pelan" not in (c.text or "")]
    assert len(answered) < 50  # the flood was not answered message by message


async def test_photo_download_failure_is_told(harness: Harness) -> None:
    h, user = harness, new_user()
    await to_media(h, user)
    fid = h.fake.add_file(jpeg_bytes(), file_path="photos/ok.jpg")
    h.fake.fail_next("getFile", status=500, times=50)  # every attempt fails
    texts = await h.say(user, photo=fid, replies=2)
    assert "(1/5)" in texts[0] and "gagal diunduh" in texts[1]
    h.fake.clear_faults()
    assert (await draft_of(h, user)).data.get("media", []) == []
    h.fake.fail_next("getFile", status=500, times=2)  # transient: the third attempt works
    mark = h.fake.mark()
    texts = await h.say(user, photo=fid)
    assert "(1/5)" in texts[0]
    assert h.app is not None and h.app.intake.downloads is not None
    async with asyncio.timeout(5):  # the download, stored (a real condition, bounded)
        while h.app.intake.downloads.stored(fid) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert len([c for c in h.fake.calls[mark:] if c.method == "getFile"]) == 3
    texts = await h.press(user, "done")  # the next turn stores the file in the draft
    [entry] = (await draft_of(h, user)).data["media"]
    assert "pending" not in entry and entry["kind"] == "photo" and media_files(h)


async def test_handler_crash_is_answered_and_bot_survives(harness: Harness, monkeypatch) -> None:
    h, user = harness, new_user()
    from handlers import intake as core

    async def boom(*args, **kwargs):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(core.Intake, "_handle", boom)
    texts = await h.say(user, "halo")
    assert "terjadi gangguan" in texts[0]
    monkeypatch.undo()
    texts = await h.say(user, "/laporanku")
    assert "belum pernah" in texts[0]
    async with h.sessionmaker() as s:
        assert (await s.exec(select(Report))).all() == []
