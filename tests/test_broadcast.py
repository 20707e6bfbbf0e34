"""Broadcasts (/siaran) to citizens of both channels: paced within the outbox's limits,
counted, cancellable half-way (nobody messaged after), resumed after a restart with no one
messaged twice, and citizens' own turns answered while one runs."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.outbox import BULK_SHARE
from models.domain import utcnow
from models.tables import Broadcast, BroadcastRecipient, Citizen, Outbox
from tests import fakegraph as fg
from tests.conftest import ADMIN_ID, Harness, make_settings, new_user, start_seeded
from tests.fakebotapi import FakeBotAPI
from tests.test_whatsapp import graph  # noqa: F401  (the fake Graph API fixture)

GLOBAL = 25  # OUTBOX_GLOBAL_PER_SECOND here: a broadcast may use BULK_SHARE of it
TEXT = "Jalan Lintas Timur ditutup besok pukul 08.00-12.00 untuk perbaikan."


@pytest.fixture
async def bh(db_url: str, fake_tg: FakeBotAPI, geocoder: Any, graph: fg.FakeGraphAPI,  # noqa: F811
             tmp_path: Path) -> AsyncIterator[Harness]:
    settings = make_settings(
        db_url, fake_tg, tmp_path / "media", geocoder.port,
        WHATSAPP_TOKEN=fg.TOKEN, WHATSAPP_PHONE_NUMBER_ID=fg.PHONE_ID,
        WHATSAPP_APP_SECRET=fg.APP_SECRET, WHATSAPP_VERIFY_TOKEN=fg.VERIFY_TOKEN,
        WHATSAPP_API_URL=graph.api_base("v22.0"), WEB_HOST="127.0.0.1", WEB_PORT=0,
        OUTBOX_GLOBAL_PER_SECOND=GLOBAL,
    )
    h = await start_seeded(fake_tg, settings)
    yield h
    await h.stop()


class People:
    """Citizens who talked to the bot: Telegram ids and WhatsApp numbers, and two who must
    not receive anything (banned, and one who blocked the bot)."""

    def __init__(self, tg: list[int], wa: list[str], excluded: list[str]) -> None:
        self.tg, self.wa, self.excluded = tg, wa, excluded

    @property
    def count(self) -> int:
        return len(self.tg) + len(self.wa)


async def people(h: Harness, n_tg: int = 60, n_wa: int = 40) -> People:
    tg = [new_user() for _ in range(n_tg)]
    wa = [f"62812{700000 + i:06d}" for i in range(n_wa)]
    now = utcnow()
    async with h.sessionmaker() as s:
        for i, user in enumerate(tg):
            s.add(Citizen(channel="telegram", external_id=str(user),
                          language="en" if i % 10 == 0 else "id"))
        for i, number in enumerate(wa):
            # Half wrote lately (free text), half more than 24 hours ago (a template).
            last = now - timedelta(hours=1 if i % 2 else 30)
            s.add(Citizen(channel="whatsapp", external_id=number, last_inbound_at=last))
        s.add(Citizen(channel="telegram", external_id="555001", banned_at=now))
        s.add(Citizen(channel="telegram", external_id="555002", blocked_since=now))
        await s.commit()
    return People(tg, wa, ["555001", "555002"])


def tg_sends(h: Harness, since: int = 0) -> list[Any]:
    return [c for c in h.fake.calls[since:] if c.ok and c.method == "sendMessage"
            and (TEXT in (c.text or ""))]


def wa_sends(g: fg.FakeGraphAPI, since: int = 0) -> list[fg.GraphCall]:
    return [c for c in g.calls[since:] if c.is_send and c.ok and TEXT in json_text(c)]


def json_text(call: fg.GraphCall) -> str:
    import json

    return json.dumps(call.json, ensure_ascii=False)


async def start_broadcast(h: Harness) -> tuple[Any, str]:
    """/siaran from the admin; returns the progress message and its cancel button's data."""
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_message(ADMIN_ID, ADMIN_ID, f"/siaran {TEXT}"))
    [progress] = await h.fake.wait_for(
        "sendMessage", lambda c: c.chat_id == ADMIN_ID and "Siaran #" in (c.text or ""),
        since=mark)
    [[button]] = progress.params["reply_markup"]["inline_keyboard"]
    return progress, button["callback_data"]


async def final_message(h: Harness, needle: str) -> Any:
    [final] = await h.fake.wait_for(
        "sendMessage", lambda c: c.chat_id == ADMIN_ID and needle in (c.text or ""),
        timeout=30)
    return final


async def wait_sends(h: Harness, count: int) -> None:
    """Until `count` broadcast messages went out on Telegram (the fake signals each call)."""
    await h.fake.wait_for("sendMessage", lambda c: TEXT in (c.text or ""), count=count,
                          timeout=30)


def assert_paced(times: list[float], limit: int) -> None:
    """No window shorter than a second holds more than `limit` sends (a margin for the
    loopback's jitter between the pacer's clock and the fakes' arrival times)."""
    times = sorted(times)
    j = 0
    for i, start in enumerate(times):
        while j < len(times) and times[j] - start < 0.95:
            j += 1
        assert j - i <= limit, (j - i, limit)


async def broadcast_row(h: Harness) -> Broadcast:
    async with h.sessionmaker() as s:
        return (await s.exec(select(Broadcast).order_by(Broadcast.id.desc()))).first()  # type: ignore[union-attr]


def per_recipient(h: Harness, g: fg.FakeGraphAPI) -> Counter[str]:
    return Counter([str(c.chat_id) for c in tg_sends(h)] + [str(c.to) for c in wa_sends(g)])


async def test_broadcast_paced_counted_on_both_channels(
        bh: Harness, graph: fg.FakeGraphAPI) -> None:  # noqa: F811
    h = bh
    folks = await people(h)
    blocked_user = folks.tg[7]
    h.fake.fail_next("sendMessage", status=403, chat_id=blocked_user)
    progress, _ = await start_broadcast(h)
    assert f"dari {folks.count}" in progress.text
    final = await final_message(h, "selesai")
    assert f"terkirim {folks.count - 1}, memblokir bot 1, gagal 0" in final.text

    got = per_recipient(h, graph)
    assert set(got) == {str(u) for u in folks.tg if u != blocked_user} | set(folks.wa)
    assert max(got.values()) == 1
    assert not set(folks.excluded) & set(got)
    # In each citizen's language; WhatsApp as a template outside the 24-hour window.
    english = [c for c in tg_sends(h) if c.text.startswith("📣 Announcement")]
    assert len(english) == 6
    templates = [c for c in wa_sends(graph) if c.type == "template"]
    assert len(templates) == 20 and len(wa_sends(graph)) == 40
    # Paced, both channels together: never over the overall limit in any second (the bulk
    # share leaves the rest as margin for loopback jitter), and no faster than the share.
    times = sorted([c.at for c in tg_sends(h)] + [c.at for c in wa_sends(graph)])
    assert_paced(times, GLOBAL)
    assert times[-1] - times[0] >= len(times) / (GLOBAL * BULK_SHARE) - 1.0
    # The progress message was edited as it went, and finally shows no cancel button.
    edits = [c for c in h.fake.calls if c.method == "editMessageText" and c.ok
             and c.params.get("message_id") == progress.result["message_id"]]
    assert edits and f"dari {folks.count} warga" in edits[-1].text
    assert not edits[-1].params.get("reply_markup")
    bc = await broadcast_row(h)
    assert (bc.status, bc.delivered, bc.blocked, bc.failed) == ("done", 99, 1, 0)
    async with h.sessionmaker() as s:
        citizen = (await s.exec(select(Citizen).where(
            Citizen.external_id == str(blocked_user)))).one()
        assert citizen.blocked_since is not None
    # A second /siaran while none runs starts anew; malformed ones get the usage.
    assert "Format: /siaran" in (await h.say(ADMIN_ID, "/siaran"))[0]
    assert "Tidak ada siaran" in (await h.say(ADMIN_ID, "/siaran_batal"))[0]


async def test_cancel_half_way_then_nobody_is_messaged(
        bh: Harness, graph: fg.FakeGraphAPI) -> None:  # noqa: F811
    h = bh
    folks = await people(h)
    progress, cancel = await start_broadcast(h)
    assert "Siaran #" in (await h.say(ADMIN_ID, f"/siaran {TEXT}"))[0]  # one at a time
    await wait_sends(h, 20)
    mark = h.fake.mark()
    h.fake.push_update(h.fake.make_callback(ADMIN_ID, ADMIN_ID, cancel,
                                            progress.result["message_id"]))
    [answer] = await h.fake.wait_for("answerCallbackQuery", since=mark)
    assert "dibatalkan" in answer.params["text"]
    final = await final_message(h, "dibatalkan")
    bc = await broadcast_row(h)
    sent = len(tg_sends(h)) + len(wa_sends(graph))
    # The count is exact: what went out is what was counted; the rest was withdrawn.
    assert bc.status == "cancelled" and bc.delivered == sent < folks.count
    assert f"terkirim {sent}" in final.text
    async with h.sessionmaker() as s:
        rows = (await s.exec(select(Outbox).where(Outbox.chat_id != str(ADMIN_ID)))).all()
        assert not [r for r in rows if r.status == "pending"]
        recipients = (await s.exec(select(BroadcastRecipient))).all()
        assert Counter(r.status for r in recipients)["delivered"] == sent
    # The bot keeps working (a citizen is answered) and still nobody else got it.
    someone = folks.tg[-1]
    await h.say(someone, "/start")
    assert len(tg_sends(h)) + len(wa_sends(graph)) == sent
    assert max(per_recipient(h, graph).values()) == 1
    await h.fake.wait_for("editMessageText", lambda c: c.params.get("message_id") ==
                          progress.result["message_id"] and not c.params.get("reply_markup"))
    # The cancel command, now with nothing running.
    assert "Tidak ada siaran" in (await h.say(ADMIN_ID, "/broadcast_cancel"))[0]


async def test_resumed_after_restart_nobody_twice(
        bh: Harness, graph: fg.FakeGraphAPI) -> None:  # noqa: F811
    h = bh
    folks = await people(h)
    await start_broadcast(h)
    await wait_sends(h, 20)
    await h.restart()
    mark, graph_mark = h.fake.mark(), graph.mark()
    final = await final_message(h, "selesai")
    # Half-way when it stopped: the rest went out after the restart, once each.
    assert len(tg_sends(h, mark)) + len(wa_sends(graph, graph_mark)) > 0
    got = per_recipient(h, graph)
    assert max(got.values()) == 1, [k for k, v in got.items() if v > 1]
    assert set(got) == {str(u) for u in folks.tg} | set(folks.wa)
    assert f"terkirim {folks.count}" in final.text


async def test_citizens_answered_while_a_broadcast_runs(
        bh: Harness, graph: fg.FakeGraphAPI) -> None:  # noqa: F811
    h = bh
    folks = await people(h, 80, 40)
    await start_broadcast(h)
    await wait_sends(h, 6)
    crowd = [new_user() for _ in range(40)]
    mark = h.fake.mark()
    for user in crowd:
        h.fake.push_update(h.fake.make_message(user, user, "/start"))
    answered = await h.fake.wait_for(
        "sendMessage", lambda c: c.chat_id in crowd and "Halo" in (c.text or ""),
        count=len(crowd), since=mark, timeout=30)
    assert {c.chat_id for c in answered} == set(crowd)
    final = await final_message(h, "selesai")
    assert f"terkirim {folks.count}" in final.text  # newcomers are not part of it
    assert max(per_recipient(h, graph).values()) == 1


class _WatchedLock(asyncio.Lock):
    """The gate's lock, telling when an update's handler (not the outbox worker or the
    broadcast runner) starts waiting for it."""

    def __init__(self) -> None:
        super().__init__()
        self.handler_waits = asyncio.Event()

    async def acquire(self) -> bool:
        task = asyncio.current_task()
        coro = task.get_coro() if task is not None else None
        if self.locked() and "InboxProcessor" in getattr(coro, "__qualname__", ""):
            self.handler_waits.set()
        return await super().acquire()


async def test_a_cancel_waiting_for_the_gate_is_not_yet_done(
        bh: Harness, graph: fg.FakeGraphAPI) -> None:  # noqa: F811
    """The cancel ends its read before it waits for the broadcast's gate; that commit must not
    mark the update done, or a crash while it waits would lose the cancellation (a re-delivery
    is then taken for a duplicate). Done once the cancellation itself commits."""
    from models.tables import Inbox

    h = bh
    await people(h, n_tg=10, n_wa=0)
    progress, cancel = await start_broadcast(h)
    assert h.app is not None and h.app.broadcasts is not None
    gate = h.app.broadcasts.gate
    async with gate.lock:  # wait for the runner and the worker to let go, then swap it
        pass
    gate.lock = watched = _WatchedLock()
    await watched.acquire()  # the gate's holder is busy (a batch being queued)
    try:
        mark = h.fake.mark()
        update_id = h.fake.push_update(h.fake.make_callback(
            ADMIN_ID, ADMIN_ID, cancel, progress.result["message_id"]))
        await asyncio.wait_for(watched.handler_waits.wait(), 10)
        async with h.sessionmaker() as s:
            row = (await s.exec(select(Inbox).where(Inbox.update_key == str(update_id)))).one()
        assert row.status == "new"
    finally:
        watched.release()
    [answer] = await h.fake.wait_for("answerCallbackQuery", since=mark)
    assert "dibatalkan" in answer.params["text"]
    async with h.sessionmaker() as s:
        row = (await s.exec(select(Inbox).where(Inbox.update_key == str(update_id)))).one()
    assert row.status == "done" and (await broadcast_row(h)).status == "cancelled"
