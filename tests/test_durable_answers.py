"""Direct answers survive a crash between the commit of their step and their send.

A step's answers are written with its effects (the inbox row's flip); a process that dies
after that commit and before the send leaves them on the row, and the next start queues them
in the outbox. Many citizens at once, on SQLite and PostgreSQL; the process "dies" by having
every task cancelled mid-flight (nothing drained, flushed or closed in order) while the Bot
API holds the answers' sends.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from models.tables import Draft, Inbox, Outbox
from tests.conftest import ADMIN_ID, Harness, new_user
from tests.test_intake_telegram import category_id

DESCRIPTION = "Jalan berlubang besar di depan SD 003, sudah dua minggu."


async def crash(h: Harness) -> None:
    """The process dies: polling, every update in flight and every background loop are
    cancelled where they stand; connections are dropped, nothing is committed on the way."""
    app = h.app
    assert app is not None and app.poller is not None and app.polling is not None
    processor = app.poller.processor
    tasks: list[asyncio.Task[Any]] = [app.polling, *processor._tails.values(), *app.tasks]
    if processor._flushing is not None:
        tasks.append(processor._flushing)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if app.runner is not None:
        await app.runner.cleanup()
    await app.bot.session.close()
    await app.worker.bot.session.close()
    await app.geocoder.close()
    if app.redis is not None:
        await app.redis.aclose()
    await app.engine.dispose()
    if app.reader_engine is not None:
        await app.reader_engine.dispose()
    h.app = None


async def until(h: Harness, check: Any, timeout: float = 20.0) -> None:  # noqa: ASYNC109
    """Wait (bounded) for a condition on the fake Bot API's calls."""
    async with asyncio.timeout(timeout):
        while not check():
            await h.fake.wait_changed(h.fake.version, 1.0)


async def kept_answers(h: Harness) -> int:
    async with h.sessionmaker() as s:
        return int((await s.exec(select(func.count()).select_from(Inbox)
                                 .where(col(Inbox.answer).is_not(None)))).one())


async def test_answers_committed_before_a_crash_arrive_after_restart(harness: Harness) -> None:
    """Twelve citizens send their description at once; each step commits and its answer is
    on its way when the process dies. After the restart each citizen gets that answer once,
    and the step is not done twice."""
    h = harness
    users = [new_user() for _ in range(12)]
    cat = str(await category_id(h, "jalan"))

    async def to_description(user: int) -> None:
        await h.say(user, "/start")
        await h.press(user, "new")
        await h.press(user, "cat", cat, replies=1)

    for user in users:  # (the harness' press waits for any callback answer: one at a time)
        await to_description(user)
    mark = h.fake.mark()
    h.fake.hang_next("sendMessage", 120, times=len(users))
    for user in users:
        h.fake.push_update(h.fake.make_message(user, user, DESCRIPTION))

    def held() -> list[Any]:
        return [c for c in h.fake.calls[mark:] if c.pending and c.method == "sendMessage"]

    await until(h, lambda: len(held()) == len(users))
    expected = {int(c.chat_id): c.text for c in held()}
    assert set(expected) == set(users)
    await crash(h)
    h.fake.clear_faults()

    # The crashed process committed every step with its answer still to send.
    sm_probe = Harness(h.fake, h.settings)
    await sm_probe.start(worker=False)  # recovery queues the answers in the outbox...
    try:
        # (the poller recovers as it starts; once more here waits for it: each row once)
        await sm_probe.app.poller.processor.requeue_unsent()  # type: ignore[union-attr]
        assert await kept_answers(sm_probe) == 0
        async with sm_probe.sessionmaker() as s:
            queued = (await s.exec(select(Outbox).where(Outbox.kind == "text"))).all()
        # Exactly the held answers: the earlier steps' answers still kept (sent within the
        # last flush) are followed by later updates, so they are dropped, not sent again.
        assert sorted((int(r.chat_id), r.payload["text"]) for r in queued
                      if int(r.chat_id) in expected) == sorted(expected.items())
    finally:
        await sm_probe.stop()
    restart_mark = h.fake.mark()
    await h.start()  # ...and the worker delivers them

    def delivered() -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for c in h.fake.calls[restart_mark:]:
            if c.ok and c.method == "sendMessage" and int(c.chat_id) in expected:
                out.setdefault(int(c.chat_id), []).append(c.text or "")
        return out

    await until(h, lambda: len(delivered()) == len(users))
    await h.app.poller.processor.drain()  # type: ignore[union-attr]
    await h.app.worker.step()  # type: ignore[union-attr]
    assert delivered() == {u: [expected[u]] for u in users}
    async with h.sessionmaker() as s:
        drafts = (await s.exec(select(Draft).where(
            col(Draft.external_id).in_([str(u) for u in users])))).all()
        # One description each: the step was not processed again.
        assert sorted(d.step for d in drafts) == ["media"] * len(users)
        assert all(d.data.get("description") == DESCRIPTION for d in drafts)
        done = (await s.exec(select(func.count()).select_from(Inbox).where(
            Inbox.status != "done"))).one()
        assert done == 0


async def test_answers_sent_are_not_kept(harness: Harness) -> None:
    """Answers that went are cleared from their rows (one statement per batch): a restart
    after a quiet stop re-sends nothing, and a crowd leaves no kept answers behind."""
    h = harness
    users = [new_user() for _ in range(20)]
    await asyncio.gather(*(h.say(u, "/start") for u in users))
    for user in users:
        await h.press(user, "new")
    await h.app.poller.processor.drain()  # type: ignore[union-attr]
    assert await kept_answers(h) == 0
    mark = h.fake.mark()
    await h.restart()
    await h.app.worker.step()  # type: ignore[union-attr]
    assert [c for c in h.fake.calls[mark:] if c.method == "sendMessage"] == []


async def test_admin_answer_after_a_crash(harness: Harness) -> None:
    """A group command's answer (a read-only handler: kept by the send itself) survives the
    crash too."""
    h = harness
    mark = h.fake.mark()
    h.fake.hang_next("sendMessage", 120)
    h.fake.push_update(h.fake.make_message(ADMIN_ID, ADMIN_ID, "/statistik"))

    def held() -> list[Any]:
        return [c for c in h.fake.calls[mark:] if c.pending and c.method == "sendMessage"]

    await until(h, lambda: len(held()) == 1)
    text = held()[0].text
    await crash(h)
    h.fake.clear_faults()
    mark = h.fake.mark()
    await h.start()
    await until(h, lambda: any(c.ok and c.text == text for c in h.fake.calls[mark:]))
    await h.app.poller.processor.drain()  # type: ignore[union-attr]
    assert [c.text for c in h.fake.calls[mark:] if c.ok and c.method == "sendMessage"
            and c.chat_id == ADMIN_ID] == [text]


def test_kept_answer_shows_what_was_sent() -> None:
    """A kept answer (plain data, built without aiogram's models) restores to the very
    keyboard `send_replies` sends: inline buttons, a location or contact request with a skip
    button, a removed keyboard, none; a long text in pieces with the keyboard on the last."""
    from handlers.replies import Choice, Reply
    from handlers.telegram.files import restore_markup
    from handlers.telegram.render import TEXT_LIMIT, answer_items, markup_for

    replies = [
        Reply("Pilih", choices=[[Choice("Jalan", "cat", "12"), Choice("Air", "cat", "3")],
                                [Choice("Batal", "cancel")]]),
        Reply("Lokasi", request="location", request_label="📍 Kirim lokasi",
              skip_label="Lewati"),
        Reply("Nomor", request="contact", request_label="📱 Kirim nomor"),
        Reply("Selesai", remove_keyboard=True),
        Reply("Teks biasa"),
        Reply("x" * (TEXT_LIMIT + 10), choices=[[Choice("OK", "send", "ab12")]]),
    ]
    items = answer_items(42, replies)
    assert [i["chat"] for i in items] == ["42"] * 7
    shown = [(i["payload"]["text"], restore_markup(i["payload"].get("markup"))) for i in items]
    expected = []
    for reply in replies:
        markup = markup_for(reply)
        if len(reply.text) > TEXT_LIMIT:
            expected += [(reply.text[:TEXT_LIMIT], None), (reply.text[TEXT_LIMIT:], markup)]
        else:
            expected.append((reply.text, markup))
    assert shown == expected
