"""The fake Bot API of the multi-worker tests and the scale-out benchmark (bench/workers.py
WebhookAPI) runs on a thread and loop of its own: a driver whose loop is busy does not stamp
the calls late, and its waiters are still woken afterwards. No PostgreSQL needed: a real
aiogram Bot on another thread plays the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web

from bench import workers as w
from bench.intake_e2e import TOKEN

CHAT = 7001
SENDS = 4
GAP = 0.3  # s the sender waits between two sends (after the answer)


def send_spaced(url: str, out: list[tuple[float, float]]) -> None:
    """(Another thread) SENDS messages to CHAT, GAP apart; (sent, answered) of each."""

    async def main() -> None:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(url)))
        try:
            for i in range(SENDS):
                sent = time.monotonic()
                await bot.send_message(CHAT, f"Pesan {i}")
                out.append((sent, time.monotonic()))
                await asyncio.sleep(GAP)
        finally:
            await bot.session.close()

    asyncio.run(main())


def busy_until(done: Any, cap: float = 30.0) -> float:
    """Keep this thread busy (never yielding to the loop) until done() or `cap` s; when."""
    end = time.monotonic() + cap
    while not done() and time.monotonic() < end:
        sum(range(2000))
    return time.monotonic()


async def test_calls_are_stamped_on_arrival_while_the_driver_is_busy() -> None:
    """The driver's loop is held busy while a worker sends: each call is answered and
    stamped meanwhile, between its send and its answer; the chat's waiter wakes after."""
    api = w.WebhookAPI()
    await api.start()
    try:
        times: list[tuple[float, float]] = []
        woken = api.chat_event(CHAT)
        sender = threading.Thread(target=send_spaced, args=(api.url, times))
        sender.start()
        thawed = busy_until(lambda: len(times) == SENDS)
        await asyncio.to_thread(sender.join)
        assert len(times) == SENDS, "the fake did not answer while the driver was busy"
        calls = api.sent("sendMessage", chat_id=CHAT)
        assert [c.text for c in calls] == [f"Pesan {i}" for i in range(SENDS)]
        for call, (sent, answered) in zip(calls, times, strict=True):
            assert sent <= call.at <= answered < thawed, (sent, call.at, answered, thawed)
        assert [c.text for c in api.by_chat[CHAT]] == [c.text for c in calls]
        await asyncio.wait_for(woken.wait(), 10.0)
    finally:
        await api.stop()


@contextlib.asynccontextmanager
async def _fake_and_worker(webhook: Callable[[web.Request], Awaitable[web.Response]]
                           ) -> AsyncIterator[tuple[w.WebhookAPI, str]]:
    """The webhook fake started, and a stand-in worker serving `webhook` on loopback: (the
    fake, the worker's webhook URL)."""
    app = web.Application()
    app.router.add_post(w.WEBHOOK_PATH, webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    api = w.WebhookAPI()
    await api.start()
    try:
        yield api, f"http://127.0.0.1:{port}{w.WEBHOOK_PATH}"
    finally:
        await api.stop()
        await runner.cleanup()


async def test_updates_are_posted_from_the_fake_and_retried() -> None:
    """push_update from the driver: the fake's loop posts it to a worker, again after a
    non-2xx answer; settle() returns once it is accepted; faults and files set from the
    driver are met by the fake."""
    got: list[dict[str, Any]] = []
    answers = iter([503, 200, 200])

    async def webhook(request: web.Request) -> web.Response:
        assert request.headers[w.SECRET_HEADER] == w.SECRET
        got.append(await request.json())
        return web.Response(status=next(answers))

    async with _fake_and_worker(webhook) as (api, url):
        api.targets = [url]
        first = api.push_update(api.make_message(CHAT, CHAT, "halo"))
        second = api.push_update(api.make_message(CHAT, CHAT, "lagi"))
        await api.settle(30.0)
        assert len(got) == 3 and {u["update_id"] for u in got} == {first, second}
        assert set(api.delivered) == {first, second}
        assert api.posts == {503: 1, 200: 2}

        api.fail_next("sendMessage", status=429, retry_after=1, chat_id=CHAT)
        file_id = api.add_file(b"abc", file_path="photos/p.jpg")
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
        try:
            file = await bot.get_file(file_id)
            assert file.file_path is not None
            assert (await bot.download_file(file.file_path)).read() == b"abc"  # type: ignore
            await bot.send_message(CHAT + 1, "bukan yang itu")
            failed = [c for c in api.calls if c.method == "sendMessage" and c.failed]
            assert failed == []
            try:
                await bot.send_message(CHAT, "yang itu")
            except Exception as exc:  # noqa: BLE001
                assert "retry after" in str(exc).lower()
            else:
                raise AssertionError("the 429 set from the driver was not met")
        finally:
            await bot.session.close()


async def test_a_chats_updates_go_in_sequence_other_chats_meanwhile() -> None:
    """As Telegram: a chat's next update is posted only once its previous one was accepted;
    other chats' updates go meanwhile. Chat A's first update is held unanswered: ten other
    chats' updates arrive, A's second does not until the first is answered, then it does."""
    got: list[int] = []
    release = asyncio.Event()
    everyone = asyncio.Event()
    held_chat, others = 8001, [8100 + i for i in range(10)]

    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        chat = body["message"]["chat"]["id"]
        got.append(chat)
        if set(others) <= set(got):
            everyone.set()
        if chat == held_chat and got.count(held_chat) == 1:
            await release.wait()
        return web.Response(status=200)

    async with _fake_and_worker(webhook) as (api, url):
        try:
            api.targets = [url] * 2
            api.push_update(api.make_message(held_chat, held_chat, "satu"))
            api.push_update(api.make_message(held_chat, held_chat, "dua"))
            for chat in others:
                api.push_update(api.make_message(chat, chat, "halo"))
            await asyncio.wait_for(everyone.wait(), 30.0)
            assert got.count(held_chat) == 1, got
            release.set()
            await api.settle(30.0)
            assert got.count(held_chat) == 2
            assert w.update_chat(api.make_callback(held_chat, held_chat, "x", 1)) == str(held_chat)
        finally:
            release.set()  # a held handler must not outlive the test


async def test_the_fake_notes_its_own_loop_stalls() -> None:
    """watch_loop: a stall of the fake's own loop (here a blocking call put on it) is noted
    with its length; the benchmark reports the worst (its stamps' possible lag)."""
    api = w.WebhookAPI()
    await api.start()
    try:
        api.watch_loop(threshold=0.1)
        assert api._loop is not None
        assert await asyncio.to_thread(api.watching.wait, 10.0)
        blocked = threading.Event()

        def block() -> None:
            time.sleep(0.3)
            blocked.set()

        api._loop.call_soon_threadsafe(block)
        await asyncio.to_thread(blocked.wait, 10.0)
        deadline = time.monotonic() + 10.0
        while not api.loop_stalls and time.monotonic() < deadline:
            await asyncio.to_thread(time.sleep, 0.02)
        assert api.loop_stalls and max(lag for _, lag in api.loop_stalls) >= 0.25
    finally:
        await api.stop()
