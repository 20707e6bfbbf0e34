"""Review of 0746ed0 (photos answered at once, downloaded after): scenarios that break it.

Each test here failed on 0746ed0 when written; the docstring says what goes wrong and why."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import select

from bot.playground.botapi import _ApiError
from models import repo
from models.tables import Outbox
from tests import fakegraph as fg
from tests.conftest import Harness, jpeg_bytes, new_user
from tests.test_background_media import attachments_of, finish, media_root_files
from tests.test_intake_telegram import draft_of, reports_of, to_description, to_media
from tests.test_whatsapp import WA, graph, wah  # noqa: F401 - fixtures
from tests.test_whatsapp import to_media as wa_to_media

NOT_KEPT = "tidak tersimpan"


def told(h: Harness, user: int, since: int = 0) -> list[str]:
    return [c.text or "" for c in h.fake.calls[since:]
            if c.ok and c.chat_id == user and c.method in ("sendMessage", "editMessageText")
            and NOT_KEPT in (c.text or "")]


async def idle(h: Harness, within: float = 5.0) -> None:
    """Until no download runs (a real condition, bounded: downloads leave no trace to wait
    on once their last getFile is answered)."""
    assert h.app is not None and h.app.intake.downloads is not None
    async with asyncio.timeout(within):
        while h.app.intake.downloads.running:  # noqa: ASYNC110 - nothing to wait on
            await asyncio.sleep(0.02)


async def filed_with(h: Harness, user: int, fid: str) -> None:
    """Send, from the photo step: filed with no "not kept" word, the photo attached."""
    texts = await finish(h, user)
    assert NOT_KEPT not in texts[0], texts[0]
    [report] = await reports_of(h, user)
    assert [a.source_ref for a in await attachments_of(h, report)] == [fid]


async def test_voice_notes_past_the_three_kept_are_not_downloaded(harness: Harness) -> None:
    """The description step keeps three voice notes; `_on_description` calls `_prepared`
    (which queues the background download) before it looks at the count, so every further
    voice note is still downloaded and written to the media directory, then never used.
    Before 0746ed0 the citizen at least waited for each download; now a turn costs nothing,
    so one citizen can queue any number of downloads (20 MB each) and fill the disk."""
    h, user = harness, new_user()
    await to_description(h, user)
    mark = h.fake.mark()
    for i in range(6):
        fid = h.fake.add_file(b"OggS" + bytes([i]) * 400, file_path=f"voice/{i}.ogg",
                              mime_type="audio/ogg")
        texts = await h.say(user, voice=fid)
        assert texts  # answered at once
    await idle(h)
    assert len((await draft_of(h, user)).data["voice"]) == 3
    getfiles = [c for c in h.fake.calls[mark:] if c.method == "getFile"]
    assert len(getfiles) == 3, f"{len(getfiles)} voice notes downloaded, 3 kept"
    assert len(media_root_files(h)) == 3


async def test_second_citizen_sending_the_same_file_is_told_when_it_fails(
        harness: Harness) -> None:
    """Outcomes and `on_failed` are keyed by the file id alone. Citizen B sends the same
    file (a forwarded picture: Telegram gives the bot one file id for it) while A's download
    runs: `Downloads.start` sees it running and does nothing, so when it is refused only A's
    draft is cleaned and only A is told. B hears nothing and keeps a dead entry until Send."""
    h = harness
    a, b = new_user(), new_user()
    await to_media(h, a)
    await to_media(h, b)
    bad = h.fake.add_file(b"%PDF-1.4 not a photo" * 20, file_path="documents/shared.jpg",
                          mime_type="image/jpeg")
    h.fake.hang_next("getFile", 1.0)
    mark = h.fake.mark()
    assert "(1/5)" in (await h.say(a, document=bad))[0]
    assert "(1/5)" in (await h.say(b, document=bad))[0]  # while A's download runs
    await h.fake.wait_for(None, lambda c: c.chat_id in (a, b) and NOT_KEPT in (c.text or ""),
                          since=mark, count=2)
    await idle(h)
    assert len(told(h, a, mark)) == 1
    assert (await draft_of(h, b)).data["media"] == [], "B's draft keeps the refused file"
    assert len(told(h, b, mark)) == 1, "B was never told the file was not kept"


async def test_a_transient_failure_of_one_citizen_loses_anothers_good_photo(
        harness: Harness) -> None:
    """Same key: A's download of a good photo fails on a Telegram hiccup (three 500s, the
    fetcher's retries). B sent the same photo while it ran, so B's own download never
    happened; on 0746ed0, at Send, `Downloads.wait` returned A's cached refusal and B's report
    was filed without the photo, B never told. Now the one download is both citizens': both
    are told it failed, as it did for both; refusals are not remembered, so B's re-send is
    downloaded afresh and filed."""
    h = harness
    a, b = new_user(), new_user()
    await to_media(h, a)
    await to_media(h, b)
    fid = h.fake.add_file(jpeg_bytes("red"), file_path="photos/shared.jpg")

    def hiccup(call: object) -> None:
        raise _ApiError(500, "Internal Server Error")

    h.fake.hang_next("getFile", 1.0)  # then a 500, and 500s for the fetcher's retries
    h.fake.set_response("getFile", hiccup)
    mark = h.fake.mark()
    assert "(1/5)" in (await h.say(a, photo=fid))[0]
    assert "(1/5)" in (await h.say(b, photo=fid))[0]  # while A's download runs
    await h.fake.wait_for(None, lambda c: c.chat_id == a and NOT_KEPT in (c.text or ""),
                          since=mark)
    await h.fake.wait_for(None, lambda c: c.chat_id == b and NOT_KEPT in (c.text or ""),
                          since=mark)
    h.fake.set_response("getFile", None)  # Telegram is fine again
    await idle(h)
    assert (await draft_of(h, b)).data["media"] == []
    assert "(1/5)" in (await h.say(b, photo=fid))[0]  # sent again
    await filed_with(h, b, fid)


async def test_the_same_file_sent_twice_and_refused_at_send_is_told_once(
        harness: Harness) -> None:
    """A citizen sends one photo twice (a double tap). Refused in the background,
    `drop_file` takes out both entries with one notice; refused at Send (after a restart),
    `_settle(final=True)` says "a file was not kept" once per entry: twice for one file.
    (Send's `wait` also downloads it twice at once: `wait` does not share a download it
    starts itself.)"""
    h, user = harness, new_user()
    await to_media(h, user)
    fid = h.fake.add_file(jpeg_bytes("blue"), file_path="photos/twice.jpg")
    h.fake.hang_next("getFile", 30)
    await h.say(user, photo=fid)
    await h.say(user, photo=fid)
    await h.restart()
    h.fake.clear_faults()
    h.fake.fail_next("getFile", status=500, times=50)
    mark = h.fake.mark()
    await h.press(user, "done")
    await h.say(user, location=(0.40, 101.85), replies=2)
    await h.press(user, "anon", replies=1)
    nonce = h.buttons(user)[0].split(":", 2)[2]
    texts = await h.press(user, "send", nonce, replies=1)
    assert "Langkah 3/5" in texts[-1]
    assert sum(t.count(NOT_KEPT) for t in told(h, user, mark)) == 1, texts


async def test_a_refusal_cached_on_one_worker_does_not_drop_a_resend_taken_by_another(
        harness: Harness) -> None:
    """Several workers (webhook mode behind a load balancer): each has its own outcomes,
    and a chat's updates go to whichever worker takes the chat. Here a download failed on
    a Telegram hiccup on this worker (the citizen is told: "send it again"); the citizen
    sends it again and another worker takes that turn (emulated: the draft written with
    the pending entry, as that worker's turn writes it). Send comes back to this worker:
    `_settle(final=True)` trusts the refusal cached here from the first try, drops the
    re-sent photo and tells the citizen to send it again - a loop. A refusal that a retry
    can cure ("media-download-failed") should be fetched again by Send, not believed."""
    h, user = harness, new_user()
    await to_media(h, user)
    fid = h.fake.add_file(jpeg_bytes("red"), file_path="photos/hiccup.jpg")
    h.fake.fail_next("getFile", status=500, times=50)  # every attempt of this try
    texts = await h.say(user, photo=fid, replies=2)
    assert "(1/5)" in texts[0] and NOT_KEPT in texts[1]
    h.fake.clear_faults()
    draft = await draft_of(h, user)
    assert draft is not None and draft.data["media"] == []
    data = dict(draft.data)  # the re-send, taken by another worker
    data["media"] = [{"kind": "photo", "pending": fid, "as": "photo", "mime": None,
                      "size": None, "file_name": None, "group_id": None}]
    async with h.sessionmaker() as s:
        await repo.save_draft(s, "telegram", str(user), draft.step, data, draft.version)
        await s.commit()
    assert h.app is not None
    h.app.intake._drafts.clear()  # this worker's cache knows nothing of the other's turn
    await filed_with(h, user, fid)


async def test_send_does_not_wait_behind_other_citizens_slow_downloads(
        harness: Harness) -> None:
    """Every download, Send's own included (`Downloads.wait` -> `_fetch`), goes through one
    16-slot semaphore, first come first served, and Send waits for it with no time limit.
    Four citizens' albums on a slow Telegram file server (16 slow downloads) hold every
    slot; a fifth citizen's photo queues behind them, and their Send hangs until the others
    are done (minutes with the 120 s download timeout), holding their chat: /batal waits
    too. Before 0746ed0 each turn downloaded its own file, and no citizen waited for
    another's."""
    h = harness
    crowd = [new_user() for _ in range(4)]
    for user in crowd:
        await to_media(h, user)
    user = new_user()
    await to_media(h, user)
    h.fake.hang_next("getFile", 8.0, times=16)
    for i, other in enumerate(crowd):
        for j in range(4):
            fid = h.fake.add_file(jpeg_bytes("red", size=(40 + 4 * i + j, 30)),
                                  file_path=f"photos/slow{i}-{j}.jpg")
            await h.say(other, photo=fid, media_group_id=f"album{i}", replies=1 if j == 0 else 0)
    async with asyncio.timeout(5):  # until every slot is taken by a slow download
        while len([c for c in h.fake.calls if c.method == "getFile"]) < 16:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    fid = h.fake.add_file(jpeg_bytes("green"), file_path="photos/mine.jpg")
    assert "(1/5)" in (await h.say(user, photo=fid))[0]
    await h.press(user, "done")
    await h.say(user, location=(0.40, 101.85), replies=2)
    await h.press(user, "anon", replies=1)
    nonce = h.buttons(user)[0].split(":", 2)[2]
    mark = h.fake.mark()
    started = asyncio.get_running_loop().time()
    h.fake.push_update(h.fake.make_callback(user, user, f"in:send:{nonce}",
                                            h.last_message_id(user)))
    await h.fake.wait_for(None, lambda c: c.chat_id == user and "diterima" in (c.text or ""),
                          since=mark, timeout=15)
    waited = asyncio.get_running_loop().time() - started
    assert waited < 3.0, f"Send answered after {waited:.1f} s, behind others' downloads"


def _held_bytes(exc: BaseException | None, seen: set[int] | None = None) -> int:
    """Bytes objects reachable from an exception's traceback frames (and its causes)."""
    seen = set() if seen is None else seen
    total = 0
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            for value in tb.tb_frame.f_locals.values():
                if isinstance(value, (bytes, bytearray)) and id(value) not in seen:
                    seen.add(id(value))
                    total += len(value)
            tb = tb.tb_next
        if exc.__cause__ is not None:
            total += _held_bytes(exc.__cause__, seen)
        exc = exc.__context__
    return total


async def test_a_refused_outcome_kept_in_memory_does_not_hold_the_file(
        harness: Harness) -> None:
    """`Intake.download` returned the MediaRejected it caught, and `Downloads` (on 0746ed0)
    kept up to 4096 outcomes. The exception keeps its traceback, whose frames (`download`,
    with `raw`, and `_clean_image`, with `data`) keep the downloaded bytes alive: up to 20 MB
    per refused file - tens of GB. Refusals are no longer kept at all; the one handed to
    `on_failed` (and to a waiting Send) is a fresh `MediaRejected(key, **params)`."""
    h, user = harness, new_user()
    await to_media(h, user)
    big = b"%PDF-1.4 not a photo " + bytes(4_000_000)
    bad = h.fake.add_file(big, file_path="documents/big.jpg", mime_type="image/jpeg")
    assert h.app is not None and h.app.intake.downloads is not None
    downloads = h.app.intake.downloads
    seen: list[BaseException] = []
    told_citizen = downloads.on_failed
    assert told_citizen is not None

    async def on_failed(channel: str, user_: str, ref: str, rejected: Any) -> None:
        seen.append(rejected)
        await told_citizen(channel, user_, ref, rejected)

    downloads.on_failed = on_failed
    await h.say(user, document=bad, replies=2)  # answered, then told it was not kept
    [outcome] = seen
    held = _held_bytes(outcome)
    assert held < 100_000, f"the kept refusal holds {held} bytes of the file"


# -- Downloads on its own ---------------------------------------------------------------------


class _Media:
    def __init__(self, ref: str) -> None:
        self.ref = ref


async def test_no_download_starts_after_close() -> None:
    """`App.stop_background` closes the downloads before the WhatsApp inbound processor
    (and the Telegram webhook processor) stop, and `close()` leaves `start` working: a turn
    still finishing then starts a download nobody cancels, which meets the WhatsApp/Bot
    client closed under it, fails as "could not be downloaded", and `on_failed` takes the
    photo out of the draft and tells the citizen to send it again - for a restart. Closed
    downloads should start nothing (the draft keeps the id; Send fetches it), and the
    downloads should be closed after the processors that start them."""
    from handlers.downloads import Downloads

    calls: list[str] = []

    async def store(media: _Media, fetch: object) -> dict[str, object]:
        calls.append(media.ref)
        return {"path": media.ref}

    downloads = Downloads(store)
    await downloads.close()
    downloads.start("whatsapp", "62812", _Media("late"), None)
    await asyncio.sleep(0.05)
    assert calls == [] and downloads.running == 0


async def test_send_time_downloads_of_one_file_are_shared() -> None:
    """`Downloads.wait` downloads a file with no outcome and no task (after a restart, on
    another worker) without registering it: two waits for one file id (the same photo sent
    twice, two citizens' Sends) download and store it twice, each taking a slot."""
    from handlers.downloads import Downloads

    calls: list[str] = []

    async def store(media: _Media, fetch: object) -> dict[str, object]:
        calls.append(media.ref)
        await asyncio.sleep(0.05)
        return {"path": media.ref}

    downloads = Downloads(store)
    await asyncio.gather(downloads.wait(_Media("x"), None), downloads.wait(_Media("x"), None))
    assert calls == ["x"]


async def test_a_whatsapp_photo_taken_while_stopping_is_kept(
        wah: Harness, graph: fg.FakeGraphAPI) -> None:  # noqa: F811 - fixtures
    """The same at app level: a WhatsApp photo processed while the app stops (after
    `downloads.close()`, before `inbound.stop()`) starts a download nobody stops; the
    client is closed under it, the download "fails", and the photo is taken out of the
    draft with "not kept, send it again" queued for the citizen - all for a restart.
    (Test hooks: `close` lets one message in right after it ran, as the webhook does; the
    download is made to take 0.6 s.)"""
    h, wa = wah, WA(wah, graph, "6281234509999")
    await wa_to_media(h, wa)
    media_id = graph.add_media(jpeg_bytes("yellow"), "image/jpeg")
    assert h.app is not None and h.app.intake.downloads is not None
    downloads = h.app.intake.downloads
    real_store, real_close = downloads._store, downloads.close

    async def slow_store(media: Any, fetch: Any) -> Any:
        await asyncio.sleep(0.6)
        return await real_store(media, fetch)

    async def close_then_a_message() -> None:
        await real_close()
        assert (await wa.post(fg.image_message(wa.wa_id, media_id)))[0] == 200
        async with asyncio.timeout(5):
            while not await wa_media(h, wa.wa_id):  # noqa: ASYNC110 - processed while stopping
                await asyncio.sleep(0.02)

    downloads._store = slow_store  # type: ignore[method-assign]
    downloads.close = close_then_a_message  # type: ignore[method-assign]
    await h.stop()
    assert downloads.running == 0, "a download started after close"
    await h.start(worker=False)
    async with h.sessionmaker() as s:
        queued = [r.payload.get("text") or "" for r in (await s.exec(
            select(Outbox).where(Outbox.chat_id == wa.wa_id))).all()]
    assert not [t for t in queued if NOT_KEPT in t], queued[-1]
    assert [m.get("pending") for m in await wa_media(h, wa.wa_id)] == [media_id]


async def wa_media(h: Harness, wa_id: str) -> list[dict[str, Any]]:
    async with h.sessionmaker() as s:
        draft = await repo.load_draft(s, "whatsapp", wa_id)
    return list(draft.data.get("media") or []) if draft is not None else []


async def test_send_does_not_queue_behind_full_slots() -> None:
    """With every slot held by slow downloads, Send's wait for another file (queued in the
    background behind them) downloads it at once, and the queued job then uses Send's
    result instead of downloading it a second time."""
    from handlers.downloads import Downloads

    release = asyncio.Event()
    calls: list[str] = []

    async def store(media: _Media, fetch: object) -> dict[str, object]:
        calls.append(media.ref)
        if media.ref.startswith("slow"):
            await release.wait()
        return {"path": media.ref}

    downloads = Downloads(store, limit=2)
    for ref in ("slow1", "slow2", "mine"):
        downloads.start("telegram", "1", _Media(ref), None)
    async with asyncio.timeout(2):
        assert await downloads.wait(_Media("mine"), None) == {"path": "mine"}
    release.set()
    async with asyncio.timeout(2):
        while downloads.running:  # noqa: ASYNC110 - the queued job finishing
            await asyncio.sleep(0.01)
    assert sorted(calls) == ["mine", "slow1", "slow2"], "a file was downloaded twice"
