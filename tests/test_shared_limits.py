"""Pacing and flood control shared by several workers through Redis (REDIS_URL).

Needs ADUAN_TEST_REDIS_URL (redis://127.0.0.1:6379/0; .ci/run sets it); every test uses keys
of its own under a random prefix, so runs never collide. The two-worker tests need
PostgreSQL too (SQLite serves one process)."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, build_app
from bot.outbox import GROUP_WINDOW
from bot.settings import SettingsError
from handlers import lifecycle
from tests.conftest import FakeGeocoder, make_settings
from tests.fakebotapi import FakeBotAPI

REDIS_ENV = "ADUAN_TEST_REDIS_URL"
EPS = 0.05  # loopback jitter between a slot taken in Redis and the fake's arrival time


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"{REDIS_ENV} is not set: the Redis tests are skipped")
    return url


@pytest.fixture
def prefix() -> str:
    return f"aduan-test-{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def clients(redis_url: str, prefix: str) -> AsyncIterator[list[Any]]:
    """Two Redis clients (as two processes would have); the test's keys removed after."""
    from bot.shared_limits import connect

    pair = [await connect(redis_url), await connect(redis_url)]
    yield pair
    keys = [k async for k in pair[0].scan_iter(match=f"{prefix}*")]
    if keys:
        await pair[0].delete(*keys)
    for client in pair:
        await client.aclose()


# ---- the decisions, two clients on one Redis -------------------------------------------------


async def test_shared_pacer_holds_each_limit_across_two_clients(clients: list[Any],
                                                                prefix: str) -> None:
    from bot.shared_limits import RedisPacer

    a, b = (RedisPacer(c, chat_interval=1.0, group_per_minute=3, global_per_second=6,
                       prefix=prefix) for c in clients)
    assert await a.reserve("42", peek=True) == 0
    assert await a.reserve("42") == 0  # a look took nothing
    assert 0.9 < await b.reserve("42") <= 1.0  # one message per second per chat, both
    assert await b.reserve("43") == 0  # other chats are not held up
    a.chat_interval = b.chat_interval = 0.0
    assert [await p.reserve("-100") for p in (a, b, a)] == [0, 0, 0]
    assert 59 < await b.reserve("-100") <= GROUP_WINDOW  # 3 per minute to one group, both together
    assert await a.reserve("7") == 0  # a private chat is not counted as a group
    assert 0 < await a.reserve("44") <= 1.0  # 6 per second overall, both together
    await a.hold("7", 3)
    assert 2.9 < await b.held_for("7") <= 3.0
    assert 2.9 < await b.reserve("7") <= 3.0
    await b.hold("7", 1)  # a shorter pause does not shorten a longer one
    assert await a.held_for("7") > 2.5


async def test_shared_pacer_reserves_atomically_under_a_crowd(clients: list[Any],
                                                              prefix: str) -> None:
    """200 concurrent reservations from two clients for one group: exactly the limit wins."""
    from bot.shared_limits import RedisPacer

    pacers = [RedisPacer(c, chat_interval=0.0, group_per_minute=20, global_per_second=1000,
                         prefix=prefix) for c in clients]
    waits = await asyncio.gather(*(pacers[i % 2].reserve("-500") for i in range(200)))
    assert sum(1 for w in waits if w == 0) == 20
    assert all(55 < w <= GROUP_WINDOW for w in waits if w > 0), sorted(set(waits))


async def test_bulk_share_leaves_room_for_answers(clients: list[Any], prefix: str) -> None:
    from bot.shared_limits import RedisPacer

    pacer = RedisPacer(clients[0], chat_interval=0.0, global_per_second=10, prefix=prefix)
    results = [await pacer.reserve(str(chat), 0.8) for chat in range(10)]
    assert results.count(0) == 8  # a broadcast stops at 80 % of the overall rate
    assert await pacer.reserve("answer") == 0  # a citizen's own answer still goes


async def test_flood_control_shared_by_two_apps(clients: list[Any], prefix: str) -> None:
    """A citizen whose messages land on two workers gets one bucket, and one notice."""
    from bot.shared_limits import RedisBuckets
    from handlers.i18n import Translator
    from handlers.telegram.middlewares import Throttle

    one, two = (Throttle(Translator(), burst=3, per_second=0.5,
                         store=RedisBuckets(c, prefix=prefix)) for c in clients)
    results = [await (one if i % 2 else two).take(99) for i in range(6)]
    assert [r[0] for r in results] == [True, True, True, False, False, False]
    assert [r[1] for r in results] == [False, False, False, True, False, False]
    assert (await one.take("whatsapp:628")) == (True, False)  # its own bucket per key
    assert not one.buckets and not two.buckets  # nothing kept in either process


async def test_a_redis_hiccup_waits_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    """Redis gone at run time: the pacer says wait (rows stay pending), flood control falls
    back to this process' buckets, each logged once."""
    from redis.asyncio import Redis

    from bot.shared_limits import RedisBuckets, RedisPacer
    from handlers.i18n import Translator
    from handlers.telegram.middlewares import Throttle

    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    pacer = RedisPacer(dead, prefix="x:")
    throttle = Throttle(Translator(), burst=2, per_second=1.0, store=RedisBuckets(dead))
    with caplog.at_level(logging.WARNING, logger="bot.shared_limits"):
        for _ in range(3):
            assert await pacer.reserve("42") >= RedisPacer.RETRY
        await pacer.hold("42", 5)
        assert 4 < await pacer.held_for("42") <= 5  # remembered here at least
        assert [(await throttle.take(1))[0] for _ in range(3)] == [True, True, False]
    lines = [r.getMessage() for r in caplog.records if "REDIS_URL" in r.getMessage()]
    assert len(lines) == 2, lines  # one for the pacer, one for flood control
    await dead.aclose()


async def test_unreachable_redis_at_start_is_one_line(tmp_path: Path, fake_tg: FakeBotAPI,
                                                      geocoder: FakeGeocoder) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", fake_tg,
                             tmp_path / "media", geocoder.port,
                             REDIS_URL="redis://127.0.0.1:1/0")
    with pytest.raises(SettingsError) as err:
        await build_app(settings)
    assert "REDIS_URL" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(SettingsError, match="REDIS_URL"):
        from bot.settings import load_settings

        load_settings(_env_file=None, REDIS_URL="http://nope")


async def test_one_app_with_redis_on_sqlite_delivers(db_url: str, fake_tg: FakeBotAPI,
                                                     geocoder: FakeGeocoder, tmp_path: Path,
                                                     redis_url: str, prefix: str) -> None:
    """One process with REDIS_URL (SQLite or PostgreSQL): paced by Redis, 1 per chat interval."""
    settings = make_settings(db_url, fake_tg, tmp_path / "media", geocoder.port,
                             REDIS_URL=redis_url, REDIS_PREFIX=prefix,
                             OUTBOX_CHAT_INTERVAL=0.2)
    app = await build_app(settings)
    try:
        await _enqueue(app, "555", 5)
        await app.start_background(scheduler=False)
        await fake_tg.wait_for("sendMessage", lambda c: c.chat_id == 555, count=5, timeout=20)
        _assert_spaced([c.at for c in fake_tg.sent("sendMessage", 555)], 0.2)
    finally:
        await _drop_keys(app, prefix)
        await app.close()


# ---- two workers, one PostgreSQL, one Redis --------------------------------------------------


async def _enqueue(app: App, chat: str, count: int) -> None:
    async with app.sessionmaker() as session:
        for i in range(count):
            lifecycle.enqueue(session, chat, "text", {"text": f"message {i} to {chat}"})
        await session.commit()


async def _drop_keys(app: App, prefix: str) -> None:
    if app.redis is not None:
        keys = [k async for k in app.redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await app.redis.delete(*keys)


def _assert_spaced(times: list[float], interval: float) -> None:
    times = sorted(times)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(g >= interval - EPS for g in gaps), gaps


@pytest.fixture
async def two_workers(db_url: str, fake_tg: FakeBotAPI, geocoder: FakeGeocoder,
                      tmp_path: Path, redis_url: str, prefix: str,
                      request: pytest.FixtureRequest) -> AsyncIterator[list[App]]:
    if not db_url.startswith("postgresql"):
        pytest.skip("several workers need PostgreSQL (SQLite serves one process)")
    extra = getattr(request, "param", {})
    settings = make_settings(db_url, fake_tg, tmp_path / "media", geocoder.port,
                             REDIS_URL=redis_url, REDIS_PREFIX=prefix, **extra)
    apps = [await build_app(settings), await build_app(settings)]
    sent: list[list[int]] = [[], []]
    for i, app in enumerate(apps):
        deliver = app.worker.deliver

        async def counted(row_id: int, _deliver: Any = deliver, _i: int = i) -> None:
            sent[_i].append(row_id)
            await _deliver(row_id)

        app.worker.deliver = counted  # type: ignore[method-assign]
        app.worker.sent_rows = sent[i]  # type: ignore[attr-defined]
    try:
        yield apps
    finally:
        await _drop_keys(apps[0], prefix)
        for app in apps:
            await app.close()


@pytest.mark.parametrize("two_workers", [{"OUTBOX_CHAT_INTERVAL": 0.3,
                                          "OUTBOX_GROUP_PER_MINUTE": 4}], indirect=True)
async def test_two_workers_keep_chat_and_group_limits(two_workers: list[App],
                                                      fake_tg: FakeBotAPI) -> None:
    """Both workers deliver to one private chat and one group: the fake's recorded send
    times keep 1 per chat interval, and no more than the group's per-minute count."""
    group, chat = "-1009876", "4242"
    for app in two_workers:  # each worker's first call opens its HTTP session: not timed here
        await app.worker.bot.get_me()
    await _enqueue(two_workers[0], group, 8)
    await _enqueue(two_workers[0], chat, 12)
    for app in two_workers:
        await app.start_background(scheduler=False)
    await fake_tg.wait_for("sendMessage", lambda c: c.chat_id == int(chat), count=12,
                           timeout=30)
    _assert_spaced([c.at for c in fake_tg.sent("sendMessage", int(chat))], 0.3)
    to_group = fake_tg.sent("sendMessage", int(group))
    assert len(to_group) == 4  # the rest wait for the minute to pass
    _assert_spaced([c.at for c in to_group], 0.3)
    # Which worker takes a row is up to timing (each sends to several chats at once): the
    # limits above hold over what both sent, and both see the same window below.
    assert sum(len(app.worker.sent_rows) for app in two_workers) >= 16  # type: ignore[attr-defined]
    # Both workers see the group's window full for the rest of the minute.
    for app in two_workers:
        assert await app.worker.pacer.reserve(group) > 50


@pytest.mark.parametrize("two_workers", [{"OUTBOX_CHAT_INTERVAL": 0.0}], indirect=True)
async def test_a_429_seen_by_one_worker_pauses_the_other(two_workers: list[App],
                                                        fake_tg: FakeBotAPI) -> None:
    """Worker one's send to a chat meets a 429 (retry after 2 s): worker two's direct answer
    to that chat waits out the pause, and sends to other chats go on meanwhile."""
    one, two = two_workers
    chat = 31337
    fake_tg.fail_next("sendMessage", status=429, retry_after=2, chat_id=chat)
    await _enqueue(one, str(chat), 1)
    await one.start_background(scheduler=False)
    await fake_tg.wait_for("sendMessage", lambda c: c.chat_id == chat and c.status == 429,
                           timeout=10, include_failed=True)
    limited = next(c for c in fake_tg.calls
                   if c.method == "sendMessage" and c.chat_id == chat and c.status == 429)
    assert await two.worker.pacer.held_for(str(chat)) > 1.5
    await two.bot.send_message(777, "not held up")
    await two.bot.send_message(chat, "direct answer from the other worker")
    await fake_tg.wait_for("sendMessage", lambda c: c.chat_id == chat and c.ok, count=2,
                           timeout=10)
    other = fake_tg.sent("sendMessage", 777)
    assert other and other[0].at < limited.at + 1.0
    for call in fake_tg.sent("sendMessage", chat):
        assert call.at >= limited.at + 2 - EPS, (call.at - limited.at)


@pytest.mark.parametrize("two_workers", [{"RATE_LIMIT_BURST": 3, "RATE_LIMIT_PER_SECOND": 0.5}],
                         indirect=True)
async def test_two_apps_share_a_citizens_flood_bucket(two_workers: list[App]) -> None:
    """The flood control each app built from its settings: one bucket per citizen for both."""
    from handlers.telegram.middlewares import Throttle

    throttles = [next(m for m in app.dispatcher.update.outer_middleware
                      if isinstance(m, Throttle)) for app in two_workers]
    results = [await throttles[i % 2].take(1234) for i in range(5)]
    assert [r[0] for r in results] == [True, True, True, False, False]
    assert sum(r[1] for r in results) == 1  # one notice for the flood, whichever worker
