"""Photos answered at once, downloaded after (handlers/downloads.py): through the real
Dispatcher and Bot against the fake Bot API, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select

from models.tables import Attachment, Report
from tests.conftest import Harness, jpeg_bytes, new_user
from tests.test_intake_telegram import draft_of, reports_of, to_media
from tests.test_load import distinct_citizens, press, road_label, say, tr


async def attachments_of(h: Harness, report: Report) -> list[Attachment]:
    async with h.sessionmaker() as s:
        return list((await s.exec(select(Attachment).where(
            Attachment.report_id == report.id))).all())


async def finish(h: Harness, user: int) -> list[str]:
    """From the media step to Send: done, a location, anonymous, send; Send's answers."""
    await h.press(user, "done")
    await h.say(user, location=(0.40, 101.85), replies=2)
    await h.press(user, "anon", replies=1)
    nonce = h.buttons(user)[0].split(":", 2)[2]
    return await h.press(user, "send", nonce, replies=1)


def media_root_files(h: Harness) -> set[str]:
    root = h.settings.media_dir
    return {p.name for p in root.rglob("*") if p.is_file() and p != h.settings.key_file()}


async def test_photo_is_answered_before_its_download_and_send_waits_for_it(
        harness: Harness) -> None:
    h, user = harness, new_user()
    await to_media(h, user)
    fid = h.fake.add_file(jpeg_bytes("red"), file_path="photos/slow.jpg")
    h.fake.hang_next("getFile", 1.5)
    texts = await h.say(user, photo=fid)
    assert "(1/5)" in texts[0]
    # Answered while Telegram still holds getFile: the draft keeps the file's id.
    [entry] = (await draft_of(h, user)).data["media"]
    assert entry["pending"] == fid and entry["kind"] == "photo"
    assert [c for c in h.fake.calls if c.method == "getFile" and c.ok] == []
    texts = await finish(h, user)  # Send, perhaps before the download is done: it waits
    assert "diterima" in texts[0]
    [report] = await reports_of(h, user)
    [attachment] = await attachments_of(h, report)
    assert attachment.kind == "photo" and attachment.source_ref == fid
    assert (h.settings.media_dir / attachment.path).is_file()


async def test_a_restart_before_the_download_loses_no_photo(harness: Harness) -> None:
    """The id is in the draft: after a crash, Send downloads the file itself."""
    h, user = harness, new_user()
    await to_media(h, user)
    fid = h.fake.add_file(jpeg_bytes("green"), file_path="photos/crash.jpg")
    h.fake.hang_next("getFile", 30)
    await h.say(user, photo=fid)
    await h.restart()  # the download under way is cancelled with the process
    h.fake.clear_faults()
    assert (await draft_of(h, user)).data["media"][0]["pending"] == fid
    texts = await finish(h, user)
    assert "diterima" in texts[0]
    [report] = await reports_of(h, user)
    [attachment] = await attachments_of(h, report)
    assert attachment.source_ref == fid and (h.settings.media_dir / attachment.path).is_file()


async def test_a_file_refused_at_send_is_told_and_nothing_is_filed_without_it(
        harness: Harness) -> None:
    """After a restart the only photo cannot be downloaded any more: Send says so and goes
    back to the photo step (the category needs one); nothing is filed."""
    h, user = harness, new_user()
    await to_media(h, user)
    fid = h.fake.add_file(jpeg_bytes("blue"), file_path="photos/gone.jpg")
    h.fake.hang_next("getFile", 30)
    await h.say(user, photo=fid)
    await h.restart()
    h.fake.clear_faults()
    h.fake.fail_next("getFile", status=500, times=50)
    await h.press(user, "done")
    await h.say(user, location=(0.40, 101.85), replies=2)
    await h.press(user, "anon", replies=1)
    nonce = h.buttons(user)[0].split(":", 2)[2]
    texts = await h.press(user, "send", nonce, replies=1)
    assert "tidak tersimpan" in texts[0] and "gagal diunduh" in texts[0]
    assert "Langkah 3/5" in texts[-1]
    assert await reports_of(h, user) == []
    draft = await draft_of(h, user)
    assert draft.step == "media" and draft.data["media"] == []
    h.fake.clear_faults()
    good = h.fake.add_file(jpeg_bytes("yellow"), file_path="photos/again.jpg")
    assert "(1/5)" in (await h.say(user, photo=good))[0]
    texts = await finish(h, user)
    assert "diterima" in texts[0]
    [report] = await reports_of(h, user)
    assert [a.source_ref for a in await attachments_of(h, report)] == [good]


async def test_crowd_with_bad_and_good_files_at_once(harness: Harness) -> None:
    """20 citizens at once each send a file that is not an image and, as soon as it is
    answered, a real photo: the refusal takes the bad one out of the draft while the
    citizen's turns write it too (compare-and-set, retried). Each is told once, and files
    a report with exactly the good photo."""
    h = harness
    users = distinct_citizens(20)
    h.fake.hang_next("getFile", 0.3, times=40)

    async def one(user: int, i: int) -> list[Attachment]:
        await say(h, user, "/start", what="start", label=tr("btn-new-report"))
        await press(h, user, tr("btn-new-report"), next_label=road_label())
        await press(h, user, road_label())
        await say(h, user, "Jalan berlubang besar di depan SD 003, sudah dua minggu.",
                  what="description", label=tr("btn-done"))
        bad = h.fake.add_file(b"%PDF-1.4 not a photo" * 20, file_path=f"documents/{i}.jpg",
                              mime_type="image/jpeg")
        await say(h, user, document=bad, what="bad file", match=lambda t: "(1/5)" in t)
        good = h.fake.add_file(jpeg_bytes("red", size=(40 + i, 30)),
                               file_path=f"photos/{i}.jpg")
        await say(h, user, photo=good, what="photo", label=tr("btn-done"))
        await press(h, user, tr("btn-done"))
        await say(h, user, location=(0.40, 101.85), what="location", label=tr("btn-anonymous"))
        await press(h, user, tr("btn-anonymous"), next_label=tr("btn-send"))
        await press(h, user, tr("btn-send"), match=lambda t: "diterima" in t)
        [report] = await reports_of(h, user)
        return await attachments_of(h, report)

    mark = h.fake.mark()
    results = await asyncio.gather(*(one(u, i) for i, u in enumerate(users)))
    for attachments in results:
        assert [a.kind for a in attachments] == ["photo"]
    # Told by the refusal's own notice (the outbox), or in Send's answer if Send found it
    # first: once either way.
    notices = await h.fake.wait_for(
        None, lambda c: c.method in ("sendMessage", "editMessageText")
        and "tidak tersimpan" in (c.text or ""), count=20, since=mark)
    assert sorted(c.chat_id for c in notices) == sorted(users), \
        "each citizen is told once about the bad file"
    assert len(media_root_files(h)) == 20


@pytest.mark.parametrize("cached", [True, False], ids=["draft-known", "draft-read"])
async def test_send_answers_while_a_slow_download_goes_on(harness: Harness,
                                                          cached: bool) -> None:
    """A download slower than Send's wait: Send answers "still receiving, press Send again"
    (nothing filed, the draft at the summary, the chat not held); the download goes on, and
    the next Send files the report with the photo. Whether Send waits before its transaction
    (the draft known here) or inside it (read from the database: NeedsFiles)."""
    h, user = harness, new_user()
    assert h.app is not None
    h.app.intake.send_wait = 0.3
    await to_media(h, user)
    fid = h.fake.add_file(jpeg_bytes("red"), file_path="photos/very-slow.jpg")
    h.fake.hang_next("getFile", 2.0)
    mark = h.fake.mark()
    await h.say(user, photo=fid)
    await h.press(user, "done")
    await h.say(user, location=(0.40, 101.85), replies=2)
    await h.press(user, "anon", replies=1)
    nonce = h.buttons(user)[0].split(":", 2)[2]
    if not cached:
        h.app.intake._drafts.clear()  # as on another worker, or after a restart
    texts = await h.press(user, "send", nonce, replies=1)
    assert "masih kami terima" in texts[0]
    assert await reports_of(h, user) == []
    assert (await draft_of(h, user)).step == "summary"
    assert not [c for c in h.fake.calls[mark:] if c.method == "getFile" and c.ok]
    await h.fake.wait_for("getFile", since=mark, timeout=5)  # the download went on
    h.app.intake.send_wait = 20.0
    texts = await h.press(user, "send", nonce, replies=1)
    assert "diterima" in texts[0]
    [report] = await reports_of(h, user)
    assert [a.source_ref for a in await attachments_of(h, report)] == [fid]
