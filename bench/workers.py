"""Several `python -m bot run --webhook` workers on one PostgreSQL and one Redis, driven through
the fake Bot API: shared by tests/test_workers.py and bench/scale_out.py.

`WebhookAPI` is the fake Bot API (bench.intake_e2e.BenchAPI, so the citizens' chat drivers
work unchanged) that, instead of queueing updates for getUpdates, POSTs each one to the
workers' webhook in turn, as Telegram does: with the secret header, and again (to the next
worker) after any non-2xx answer or a connection error; a chat's updates in sequence (the
next once the previous one was accepted), different chats' at once. It runs on a thread and
event loop of its own, so that a busy driver (the test or benchmark) does not stamp the
workers' calls late. `Cluster` creates a private PostgreSQL database, seeds it with a
generated catalogue (one OPD and group per category, so the 20/min group limit does not make
a crowd take an hour), starts the workers on their own loopback ports with a private Redis
prefix, kills (SIGKILL) and restarts them. The analysis helpers read the fake's call log
against the outbox table: which calls were outbox deliveries, each chat's order, and
Telegram's limits as the pacer applies them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import hashlib
import itertools
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bench.intake_e2e import (
    ADMIN_ID,
    TOKEN,
    BenchAPI,
    ChatDriver,
    Flow,
    GaveUp,
    Person,
    Processes,
    _admin,
    _tail,
    error_snippets,
    setting_names,
    ticket_pattern,
)
from bench.proc import PARENT_ENV
from bot.playground.botapi import _Fault
from tests.fakebotapi import Call

ROOT = Path(__file__).resolve().parent.parent
SECRET = "workers-Secret_42"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_PATH = "/telegram/webhook"
PG_ENV = "ADUAN_TEST_POSTGRES_URL"
REDIS_ENV = "ADUAN_TEST_REDIS_URL"
GROUP_BASE = -1002000000000  # category k's OPD group is GROUP_BASE - k
CATEGORY_PAGE = 8  # handlers/telegram/citizen.py PAGE_SIZE
START_TIMEOUT = 90.0
OUTBOX_WAIT = 300.0  # s: cards are paced at 20/min per group
SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendMediaGroup", "sendLocation",
                          "sendVenue", "sendVideo", "sendVoice", "copyMessage", "sendDocument"})
BASE_LOCATION = (0.40, 101.85)


# ---- the fake Telegram posting webhooks ---------------------------------------------------

ARRIVED: contextvars.ContextVar[float] = contextvars.ContextVar("arrived")


def update_chat(update: dict[str, Any]) -> str:
    """The chat an update belongs to (its message's, or its sender's), for ordering."""
    for kind, body in update.items():
        if kind == "update_id" or not isinstance(body, dict):
            continue
        chat = body.get("chat") or (body.get("message") or {}).get("chat")
        if isinstance(chat, dict) and "id" in chat:
            return str(chat["id"])
        user = body.get("from")
        if isinstance(user, dict) and "id" in user:
            return f"u{user['id']}"
    return "-"


class WebhookAPI(BenchAPI):
    """BenchAPI on a thread and event loop of its own, delivering pushed updates by POSTing
    them to the workers in turn.

    The driver's loop (building rows, hundreds of citizen coroutines) can be busy for a while;
    a server on that loop would read and stamp requests the workers sent on time late, and
    bunched, so the pacing checks would see gaps that were never there. On its own loop the
    fake reads, stamps and answers each request as it comes (late by a GIL switch interval at
    most). State shared with the driver (calls, messages, files, faults) changes under
    `_lock`; the driver's waiters (chat events, wait_for, wait_changed) are woken on the
    driver's loop.
    """

    # Thousands of calls: an access-log record each cost the driver's process CPU and
    # garbage, and its stamps with them.
    access_log = False

    def __init__(self, secret: str = SECRET, post_timeout: float = 10.0) -> None:
        """No workers yet; `targets[i]` is worker i's webhook URL (None while it is down)."""
        super().__init__()
        self.secret = secret
        self.post_timeout = post_timeout
        self.targets: list[str | None] = []
        self.posts: Counter[int] = Counter()  # HTTP status of every POST (0 = no answer)
        self.delivered: dict[int, tuple[int, float]] = {}  # update id -> (worker, when)
        self.pushed: dict[int, dict[str, Any]] = {}
        self.pushed_at: dict[int, float] = {}
        self._rr = itertools.count()
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None  # the fake's own
        self._thread: threading.Thread | None = None
        self._driver: asyncio.AbstractEventLoop | None = None  # the caller's
        self._deliveries: set[concurrent.futures.Future[None]] = set()  # pushed, not accepted
        self._tasks: set[asyncio.Task[Any]] = set()  # delivery tasks (the fake's loop)
        self._chat_tails: dict[str, asyncio.Task[Any]] = {}  # each chat's newest delivery
        self._http: aiohttp.ClientSession | None = None
        self._cond_waiters = 0  # FakeBotAPI.wait_for callers waiting
        self.loop_stalls: list[tuple[float, float]] = []  # see watch_loop
        self._watching = False
        self.watching = threading.Event()  # set once the watcher runs
        self._notifying: set[asyncio.Task[None]] = set()

    # -- the thread ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the fake's thread and loop, its server and the HTTP client posting webhooks."""
        self._driver = asyncio.get_running_loop()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="fake-bot-api", daemon=True)
        self._thread.start()
        try:
            await self._inside(self._start_inside())
        except BaseException:
            await self._end_thread()
            raise

    def _serve(self) -> None:
        """The fake's thread: run its loop until stopped, then finish what is left on it."""
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            rest = asyncio.all_tasks(loop)
            for task in rest:
                task.cancel()
            if rest:
                loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    async def _inside(self, coro: Any) -> Any:
        """Run `coro` on the fake's loop; its result, awaited from the driver's."""
        assert self._loop is not None
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def _start_inside(self) -> None:
        """(The fake's loop) the server and the client."""
        await super().start()
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.post_timeout),
            connector=aiohttp.TCPConnector(limit=0))

    async def stop(self) -> None:
        """Cancel deliveries still retrying, close the client, stop the server and the
        thread. Safe to call again."""
        if self._thread is None:
            return
        with self._lock:
            pending = list(self._deliveries)
        for future in pending:
            future.cancel()
        await self._inside(self._stop_inside())
        await self._end_thread()
        self._version_changed.set()  # watchers (wait_changed) answer at once

    async def _stop_inside(self) -> None:
        """(The fake's loop) end the deliveries, the client and the server."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        if self._http is not None:
            await self._http.close()
            self._http = None
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _end_thread(self) -> None:
        """Stop the fake's loop and wait for its thread."""
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        self._thread = None

    def watch_loop(self, threshold: float = 0.05) -> None:
        """From now on note, in `loop_stalls` as (monotonic time, s), every time the fake's own
        loop was held up longer than `threshold` (its stamps are late by as much)."""
        assert self._loop is not None
        self.loop_stalls = []
        if not self._watching:
            self._watching = True
            self._loop.call_soon_threadsafe(self._start_watch, threshold)

    def _start_watch(self, threshold: float) -> None:
        """(The fake's loop) the watcher task."""
        async def watch() -> None:
            self.watching.set()
            while True:
                t = time.monotonic()
                await asyncio.sleep(0.01)
                lag = time.monotonic() - t - 0.01
                if lag > threshold:
                    self.loop_stalls.append((t, lag))

        task = asyncio.get_running_loop().create_task(watch())
        self._tasks.add(task)

    # -- updates: pushed by the driver, posted from the fake's loop -------------------------

    def push_update(self, update: dict[str, Any]) -> int:
        """Give the update an id and deliver it by webhook (retried until a 2xx)."""
        assert self._loop is not None, "WebhookAPI is not started"
        update = dict(update)
        with self._lock:
            update_id = update.get("update_id")
            if update_id is None:
                update_id = self._next_update_id
                update["update_id"] = update_id
            self._next_update_id = max(self._next_update_id, update_id + 1)
            self.pushed[update_id] = update
            self.pushed_at[update_id] = time.monotonic()
            future = asyncio.run_coroutine_threadsafe(self._deliver(update), self._loop)
            self._deliveries.add(future)
        future.add_done_callback(self._forget)
        self._bump()
        return int(update_id)

    def _forget(self, future: concurrent.futures.Future[None]) -> None:
        """A delivery ended (accepted or cancelled)."""
        with self._lock:
            self._deliveries.discard(future)

    async def _deliver(self, update: dict[str, Any]) -> None:
        """(The fake's loop) POST to the next live worker until one answers 2xx, backing
        off between tries; a chat's update only once its previous one was accepted, as
        Telegram sends a chat's updates in sequence (different chats' at once)."""
        task = asyncio.current_task()
        assert task is not None and self._http is not None
        self._tasks.add(task)
        # Tasks start in the order they were pushed: each chains behind its chat's last.
        key = update_chat(update)
        previous = self._chat_tails.get(key)
        self._chat_tails[key] = task
        try:
            if previous is not None and not previous.done():
                await asyncio.wait([previous])
            backoff = 0.05
            while True:
                live = [i for i, url in enumerate(self.targets) if url]
                if live:
                    index = live[next(self._rr) % len(live)]
                    url = self.targets[index]
                    assert url is not None
                    try:
                        async with self._http.post(
                                url, json=update, headers={SECRET_HEADER: self.secret}) as resp:
                            status = resp.status
                    except (aiohttp.ClientError, TimeoutError, OSError):
                        status = 0
                    self.posts[status] += 1
                    if 200 <= status < 300:
                        self.delivered[int(update["update_id"])] = (index, time.monotonic())
                        return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
        finally:
            self._tasks.discard(task)
            if self._chat_tails.get(key) is task:
                del self._chat_tails[key]

    async def settle(self, within: float = 60.0) -> None:
        """Wait until every pushed update has been accepted by a worker."""
        deadline = time.monotonic() + within
        while True:
            with self._lock:
                pending = list(self._deliveries)
            left = deadline - time.monotonic()
            if not pending or left <= 0:
                return
            await asyncio.wait([asyncio.wrap_future(f) for f in pending], timeout=left)

    # -- requests: handled and stamped on the fake's loop -----------------------------------

    async def _handle_api(self, request: Any) -> Any:
        """Note when the request arrived, before its body (an upload) is read and parsed."""
        ARRIVED.set(time.monotonic())
        return await super()._handle_api(request)

    async def _handle_file(self, request: Any) -> Any:
        """A file download (the files are registered from the driver's thread too)."""
        path = request.match_info["file_path"]
        with self._lock:
            stored = next((f for f in self.files.values() if f.file_path == path), None)
        if stored is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.Response(body=stored.content,
                            content_type=stored.mime_type or "application/octet-stream")

    def _dispatch(self, key: str, call: Call) -> Any:
        """Answer under the lock (messages and files are shared with the driver)."""
        with self._lock:
            return super()._dispatch(key, call)

    async def _record(self, call: Call) -> None:
        """Record with the request's arrival time (as Telegram counts), not the parse's end
        (reading an upload takes a while); file it under its chat; wake the driver."""
        arrived = ARRIVED.get(None)
        if arrived is not None:
            call.at = arrived
        with self._lock:
            self.calls.append(call)
            chat = self._chat_for(call)
            if chat is not None:
                self.by_chat[chat].append(call)
            if call.pending:
                self._pending.append((call, chat))
        self._tell_driver([chat] if chat is not None else [])

    async def _notify_calls(self) -> None:
        """A delayed call was answered (or given up): wake its chat on the driver's loop."""
        with self._lock:
            done = [chat for call, chat in self._pending if not call.pending and chat is not None]
            self._pending = [(call, chat) for call, chat in self._pending if call.pending]
        self._tell_driver(done)

    def _tell_driver(self, chats: list[int]) -> None:
        """Wake the driver's waiters of these chats, and of any call, on the driver's loop."""
        if self._driver is not None:
            with contextlib.suppress(RuntimeError):  # the driver's loop has closed
                self._driver.call_soon_threadsafe(self._wake_driver, chats)

    def _wake_driver(self, chats: list[int]) -> None:
        """(The driver's loop) set the chats' events, count a change, notify wait_for."""
        for chat in chats:
            self._wake(chat)
        self._bump()
        if self._cond_waiters:
            self._driver_task(self._notify_cond())

    def _driver_task(self, coro: Any) -> None:
        """Run `coro` on the driver's loop, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self._notifying.add(task)
        task.add_done_callback(self._notifying.discard)

    async def _notify_cond(self) -> None:
        """Wake FakeBotAPI.wait_for's waiters."""
        async with self._calls_cond:
            self._calls_cond.notify_all()

    async def wait_for(self, *args: Any, **kwargs: Any) -> list[Call]:
        """FakeBotAPI.wait_for, counted so that calls recorded meanwhile notify it."""
        self._cond_waiters += 1
        try:
            return await super().wait_for(*args, **kwargs)
        finally:
            self._cond_waiters -= 1

    # -- what the driver changes --------------------------------------------------------------

    def make_message(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """FakeBotAPI.make_message under the lock."""
        with self._lock:
            return super().make_message(*args, **kwargs)

    def make_callback(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """FakeBotAPI.make_callback under the lock."""
        with self._lock:
            return super().make_callback(*args, **kwargs)

    def add_file(self, content: bytes, **kwargs: Any) -> str:
        """FakeBotAPI.add_file under the lock."""
        with self._lock:
            return super().add_file(content, **kwargs)

    def expect_callback(self, callback_id: str, chat_id: int) -> None:
        """BenchAPI.expect_callback under the lock."""
        with self._lock:
            super().expect_callback(callback_id, chat_id)

    def _add_fault(self, method: str, fault: _Fault) -> None:
        """Add a fault under the lock (the fake's loop takes them)."""
        with self._lock:
            super()._add_fault(method, fault)

    def _take_fault(self, method: str, chat_id: Any = None) -> _Fault | None:
        """Take a fault under the lock."""
        with self._lock:
            return super()._take_fault(method, chat_id)

    def clear_faults(self) -> None:
        """Drop every fault under the lock."""
        with self._lock:
            super().clear_faults()

    def set_response(self, method: str, result: Any) -> None:
        """FakeBotAPI.set_response under the lock."""
        with self._lock:
            super().set_response(method, result)

    def hang_chat(self, method: str, chat: int, seconds: float, times: int = 1) -> None:
        """Delay the next `times` calls of `method` to `chat` only by `seconds`."""
        self._add_fault(method, _Fault(kind="hang", remaining=times, seconds=seconds,
                                       chat_id=chat))

    def outage(self, methods: Sequence[str], status: int | None = None,
               hang: float | None = None) -> None:
        """From now on, every call of `methods` fails with `status` or hangs `hang` s (until
        clear_faults)."""
        for method in methods:
            if status is not None:
                self.fail_next(method, status=status, times=10**9)
            if hang is not None:
                self.hang_next(method, hang, times=10**9)


# ---- the catalogue --------------------------------------------------------------------------


@dataclass(frozen=True)
class Category:
    """One generated category, its OPD and the OPD's group."""

    index: int
    code: str
    name: str
    opd: str
    group: int


def categories(n: int) -> list[Category]:
    """n categories, each with an OPD of its own bound to its own group."""
    return [Category(k, f"uji{k:02d}", f"Kategori uji {k:02d}", f"OPD{k:02d}", GROUP_BASE - k)
            for k in range(1, n + 1)]


def write_seed(path: Path, cats: Sequence[Category]) -> None:
    """A seed file: the OPDs with their group chat ids, the categories (photo and location
    required, so every citizen walks the same steps)."""
    lines: list[str] = []
    for c in cats:
        lines += ["[[opd]]", f'code = "{c.opd}"', f'name_id = "Dinas Uji {c.index:02d}"',
                  f'name_en = "Test Agency {c.index:02d}"', f"chat_id = {c.group}", ""]
    for c in cats:
        lines += ["[[category]]", f'code = "{c.code}"', f'opd = "{c.opd}"',
                  f'name_id = "{c.name}"', f'name_en = "Test category {c.index:02d}"',
                  "requires_photo = true", "requires_location = true", 'followup = "5d"',
                  'resolve = "14d"', f"sort = {c.index}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


# ---- the workers ----------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Worker:
    """One `aduan run --webhook` process slot (same port across restarts)."""

    index: int
    port: int
    log: Path
    proc: asyncio.subprocess.Process | None = None
    starts: int = 0
    kills: int = 0


@dataclass
class Cluster:
    """N webhook workers on a private PostgreSQL database and Redis prefix."""

    api: WebhookAPI
    tmp: Path
    size: int = 3
    pg_url: str | None = None
    redis_url: str | None = None
    n_categories: int = 24
    env_extra: dict[str, str] = field(default_factory=dict)
    say: Callable[[str], None] = lambda _m: None

    def __post_init__(self) -> None:
        """Names only; nothing is created before start()."""
        self.pg_url = self.pg_url or os.environ.get(PG_ENV)
        self.redis_url = self.redis_url or os.environ.get(REDIS_ENV)
        if not self.pg_url or not self.redis_url:
            raise RuntimeError(f"{PG_ENV} and {REDIS_ENV} must be set")
        self.db_name = f"aduan_w_{uuid.uuid4().hex[:12]}"
        self.db_url = make_url(self.pg_url).set(database=self.db_name).render_as_string(
            hide_password=False)
        self.redis_prefix = f"aduan-w-{uuid.uuid4().hex[:8]}:"
        self.procs = Processes()
        self.workers: list[Worker] = []
        self.cats = categories(self.n_categories)
        self.engine: Any = None
        self.sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self._created = False
        self._stopped = False

    def env(self, worker: Worker) -> dict[str, str]:
        """A worker's environment: inherited minus Aduan's settings, plus the cluster's."""
        names = setting_names()
        env = {k: v for k, v in os.environ.items() if k not in names}
        path = env.get("PYTHONPATH")
        env.update({
            "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT),
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": self.api.url,
            "TELEGRAM_MODE": "webhook",
            "WEBHOOK_URL": f"http://127.0.0.1:{worker.port}{WEBHOOK_PATH}",
            "WEBHOOK_SECRET": SECRET,
            "WEBHOOK_PATH": WEBHOOK_PATH,
            "WEB_HOST": "127.0.0.1",
            "WEB_PORT": str(worker.port),
            "DATABASE_URL": self.db_url,
            "REDIS_URL": str(self.redis_url),
            "REDIS_PREFIX": self.redis_prefix,
            "MEDIA_DIR": str(self.tmp / "media"),  # shared, as on one volume
            "GEOCODER": "none",
            "ADMIN_IDS": str(ADMIN_ID),
            "RATE_LIMIT_BURST": "1000000",
            "RATE_LIMIT_PER_SECOND": "1000000",
            "HOLIDAYS_COUNTRY": "none",
            "LOG_LEVEL": "WARNING",
            PARENT_ENV: str(os.getpid()),
        })
        env.update(self.env_extra)
        return env

    async def start(self) -> None:
        """Create and seed the database, then start every worker and wait until each
        answers on its port."""
        assert self.pg_url is not None
        self.tmp.mkdir(parents=True, exist_ok=True)
        # Created here: workers starting together each check it (a race if none exists yet).
        (self.tmp / "media").mkdir(exist_ok=True)
        await _admin(self.pg_url, f'CREATE DATABASE "{self.db_name}"')
        self._created = True
        self.workers = [Worker(i, free_port(), self.tmp / f"worker{i}.log")
                        for i in range(self.size)]
        self.api.targets = [None] * self.size
        seed = self.tmp / "seed.toml"
        write_seed(seed, self.cats)
        log = self.tmp / "seed.log"
        proc = await self.procs.start([sys.executable, "-m", "bot", "seed", str(seed)],
                                      self.env(self.workers[0]), ROOT, log)
        code = await asyncio.wait_for(proc.wait(), START_TIMEOUT)
        await self.procs.stop(proc, grace=1.0)
        if code != 0:
            raise RuntimeError(f"aduan seed failed ({code}):\n{_tail(log)}")
        self.engine = create_async_engine(self.db_url, pool_size=5)
        self.sessionmaker = async_sessionmaker(self.engine, class_=AsyncSession,
                                               expire_on_commit=False)
        await asyncio.gather(*(self.start_worker(w.index) for w in self.workers))

    async def start_worker(self, index: int) -> None:
        """Start worker `index` and wait until its web server answers /healthz."""
        worker = self.workers[index]
        worker.proc = await self.procs.start(
            [sys.executable, "-m", "bot", "run", "--webhook"], self.env(worker), ROOT,
            worker.log)
        worker.starts += 1
        url = f"http://127.0.0.1:{worker.port}"
        deadline = time.monotonic() + START_TIMEOUT
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while True:
                if worker.proc.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker {index} did not start "
                                       f"({worker.proc.returncode}):\n{_tail(worker.log)}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
                    async with http.get(f"{url}/healthz") as resp:
                        await resp.read()
                        break
                await asyncio.sleep(0.1)
        self.api.targets[index] = f"{url}{WEBHOOK_PATH}"
        self.say(f"worker {index} up on port {worker.port} (start {worker.starts})")

    def kill(self, index: int) -> None:
        """SIGKILL worker `index` (its whole process group); Telegram finds it gone."""
        worker = self.workers[index]
        self.api.targets[index] = None
        if worker.proc is not None and worker.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.proc.pid, signal.SIGKILL)
            worker.kills += 1
        self.say(f"worker {index} killed")

    async def restart(self, index: int) -> None:
        """Reap a killed worker and start it again on the same port."""
        worker = self.workers[index]
        if worker.proc is not None:
            await worker.proc.wait()
            if worker.proc in self.procs.live:
                self.procs.live.remove(worker.proc)
        await self.start_worker(index)

    def pids(self) -> list[int]:
        """Process ids of the running workers."""
        return [w.proc.pid for w in self.workers if w.proc and w.proc.returncode is None]

    async def stop(self) -> list[int | None]:
        """SIGINT every worker (drain), drop the database and the Redis keys; exit codes.
        Safe to call again."""
        if self._stopped:
            return []
        self._stopped = True
        self.api.targets = [None] * len(self.workers)
        codes = list(await asyncio.gather(*(self.procs.stop(w.proc, grace=20.0)
                                            for w in self.workers if w.proc is not None)))
        await self.procs.stop_all()
        if self.engine is not None:
            await self.engine.dispose()
        if self._created and self.pg_url:
            await _admin(self.pg_url, f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        with contextlib.suppress(Exception):
            from redis.asyncio import Redis

            redis = Redis.from_url(str(self.redis_url))
            keys = [k async for k in redis.scan_iter(f"{self.redis_prefix}*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()
        return codes

    def errors_in_logs(self) -> list[str]:
        """Lines of the workers' logs that are ERROR or a traceback's last line."""
        out = []
        for worker in self.workers:
            with contextlib.suppress(OSError):
                for line in worker.log.read_text(errors="replace").splitlines():
                    if " ERROR " in line or line.startswith("Traceback"):
                        out.append(f"worker {worker.index}: {line}")
        return out


# ---- citizens -------------------------------------------------------------------------------


def make_flow(api: WebhookAPI, timeout: float) -> Flow:
    """The chat drivers' shared inputs (bench.intake_e2e)."""
    return Flow(api, timeout, False, error_snippets(ROOT), ticket_pattern(), frozenset(),
                BASE_LOCATION)


def citizen_location(uid: int) -> tuple[float, float]:
    """A distinct location per citizen (compared field by field afterwards)."""
    return (round(BASE_LOCATION[0] + (uid % 1000) * 1e-4, 6),
            round(BASE_LOCATION[1] + (uid % 997) * 1e-4, 6))


def citizen_text(uid: int) -> str:
    """A distinct description per citizen."""
    return f"Jalan berlubang di depan rumah nomor {uid}, sudah dua minggu belum diperbaiki."


class PatientDriver(ChatDriver):
    """A person who does a step again when the bot stays silent for `patience` seconds, as
    people do: a worker killed after committing a step but before its answer went out leaves
    the step done and unanswered (the answer is never sent twice, so it can be lost)."""

    patience = 30.0
    tries = 4

    def __init__(self, flow: Flow, person: Person) -> None:
        """Bind to a person; `retries` counts the steps done again."""
        super().__init__(flow, person)
        self.retries = 0

    async def say(self, step: str, **message: Any) -> None:
        """Send, and send again while no answer comes within `patience`."""
        for _ in range(self.tries):
            mark = len(self.calls)
            started = time.monotonic()
            self.api.push_update(self.api.make_message(self.uid, self.uid, **message))
            self.person.updates += 1
            answer = await self._until(lambda m=mark: self._first_message(m),
                                       started + self.patience)
            if answer is not None:
                self.person.latencies.append((step, answer.at - started))
                self.mark = mark
                self._check_error(step)
                return
            self.retries += 1
        raise GaveUp(step, f"no answer after {self.tries} tries")

    async def press(self, step: str, prefix: str,
                    pick: Callable[[list[dict[str, Any]]], dict[str, Any] | None] | None = None
                    ) -> None:
        """Press, and press the same button again while it stays unanswered."""
        data, mid = await self.find_button(step, prefix, pick)
        for _ in range(self.tries):
            mark = len(self.calls)
            update = self.api.make_callback(self.uid, self.uid, data, mid)
            qid = str(update["callback_query"]["id"])
            self.api.expect_callback(qid, self.uid)
            started = time.monotonic()
            self.api.push_update(update)
            self.person.updates += 1

            def answered(q: str = qid, m: int = mark) -> Call | None:
                return next((c for c in self.calls[m:] if c.method == "answerCallbackQuery"
                             and not c.pending
                             and c.params.get("callback_query_id") == q), None)

            answer = await self._until(answered, started + self.patience)
            if answer is None:
                self.retries += 1
                continue
            message = self._first_message(mark)
            if message is None:
                message = await self._until(lambda m=mark: self._first_message(m),
                                            answer.at + 1.0)
            self.person.latencies.append((step, (message or answer).at - started))
            self.mark = mark
            self._check_error(step)
            return
        raise GaveUp(step, f"button not answered after {self.tries} tries")


async def file_report(flow: Flow, uid: int, cat: Category,
                      driver: type[ChatDriver] = ChatDriver) -> Person:
    """One citizen's whole intake in category `cat` (paging to it); never raises."""
    person = Person(uid)
    chat = driver(flow, person)

    def pick(buttons: list[dict[str, Any]]) -> dict[str, Any] | None:
        return next((b for b in buttons if str(b.get("text", "")).strip() == cat.name), None)

    try:
        await chat.say("start", text="/start")
        await chat.press("new", "in:new")
        for page in range((cat.index - 1) // CATEGORY_PAGE):
            await chat.press(f"page{page + 1}", "in:page",
                             lambda bs, p=page: next((b for b in bs if str(
                                 b.get("callback_data", "")).endswith(f":{p + 1}")), None))
        await chat.press("category", "in:cat", pick)
        await chat.say("description", text=citizen_text(uid))
        await chat.find_button("description", "in:done")
        await chat.say("photo", photo=flow.photos[uid])
        await chat.press("done", "in:done")
        await chat.say("location", location=citizen_location(uid))
        await chat.press("anonymous", "in:anon")
        await chat.press("send", "in:send")
        person.ticket = await chat.ticket()
    except GaveUp as exc:
        person.gave_up, person.reason = exc.step, exc.reason
    return person


# ---- reading the call log -------------------------------------------------------------------


def message_id_of(call: Call) -> int | None:
    """The (first) message id a successful send produced."""
    result = call.result
    if isinstance(result, list) and result:
        result = result[0]
    if isinstance(result, dict) and isinstance(result.get("message_id"), int):
        return int(result["message_id"])
    return None


def content_key(call: Call) -> tuple[str, ...]:
    """What a send showed: chat, method, text or caption, location, the message it replied
    to, and a digest of the uploaded files (two sends with one key are one message twice)."""
    reply = call.params.get("reply_parameters")
    reply_to = reply.get("message_id") if isinstance(reply, dict) else None
    digest = hashlib.sha256()
    for name in sorted(call.files):
        digest.update(call.files[name][1])
    return (str(call.chat_id), call.method, call.text or "",
            f"{call.params.get('latitude')},{call.params.get('longitude')}", str(reply_to),
            digest.hexdigest()[:16] if call.files else str(call.params.get("photo", "")))


def outbox_calls(calls: Sequence[Call], rows: Sequence[Any]) -> dict[int, list[Call]]:
    """Outbox row id -> the successful calls that delivered it: sends matched by (chat,
    message id), card edits by (chat, message id edited) in time order."""
    sends: dict[tuple[str, int], int] = {}
    for row in rows:
        if row.sent_message_id is not None:
            sends[(row.chat_id, int(row.sent_message_id))] = row.id
    out: dict[int, list[Call]] = defaultdict(list)
    for call in calls:
        if not call.ok or call.method not in SEND_METHODS:
            continue
        mid = message_id_of(call)
        row_id = sends.get((str(call.chat_id), mid)) if mid is not None else None
        if row_id is not None:
            out[row_id].append(call)
    return out


def paced_calls(calls: Sequence[Call], rows: Sequence[Any]) -> list[Call]:
    """Every call the outbox made (the pacer's business), in time order: matched sends, plus
    every editMessageText in a group (handlers only edit a card's keyboard directly)."""
    matched = {id(c) for cs in outbox_calls(calls, rows).values() for c in cs}
    out = [c for c in calls if id(c) in matched
           or (c.ok and c.method == "editMessageText" and str(c.chat_id).startswith("-"))]
    return sorted(out, key=lambda c: c.at)


def max_in_window(times: Sequence[float], window: float) -> int:
    """Most events inside any half-open window of `window` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


@dataclass
class Pacing:
    """Telegram's limits measured on the outbox's calls (arrival times at the fake)."""

    calls: int
    chat_gaps_too_short: list[tuple[str, float]]  # (chat, gap) under interval - slack
    max_per_group_minute: dict[str, int]
    max_per_second: int
    slack: float

    def worst_group(self) -> int:
        """The busiest group's most messages in one minute."""
        return max(self.max_per_group_minute.values(), default=0)


def pacing(calls: Sequence[Call], chat_interval: float = 1.0, slack: float = 0.25) -> Pacing:
    """Per-chat gaps, per-group minutes and overall seconds of the paced calls. The windows
    are shortened by `slack` seconds: the pacer reserves a slot on Redis' clock and the call
    reaches the fake a little later, by a delay that varies with the load."""
    by_chat: defaultdict[str, list[float]] = defaultdict(list)
    for call in calls:
        by_chat[str(call.chat_id)].append(call.at)
    short: list[tuple[str, float]] = []
    groups: dict[str, int] = {}
    for chat, times in by_chat.items():
        times.sort()
        short += [(chat, b - a) for a, b in itertools.pairwise(times)
                  if b - a < chat_interval - slack]
        if chat.startswith("-"):
            groups[chat] = max_in_window(times, 60.0 - slack)
    return Pacing(len(calls), short, groups,
                  max_in_window([c.at for c in calls], 1.0 - slack), slack)


def order_breaks(rows: Sequence[Any], delivered: dict[int, list[Call]]) -> list[str]:
    """Chats where one report's outbox rows (with a message) arrived out of row order; rows
    of no report count as one report of their chat.

    Order is checked per report, not across a group's reports: on PostgreSQL an id comes from
    a sequence when the row is written, not when it commits, so two citizens' concurrent
    filings to one OPD group may commit in the other order than their ids, and the later id
    is rightly delivered first (neither happened before the other). A report's own rows are
    ordered by its row lock or by their one transaction, so their ids are their order."""
    by_chat: defaultdict[tuple[str, int | None], list[tuple[int, float]]] = defaultdict(list)
    for row in rows:
        calls = delivered.get(row.id)
        if calls:
            by_chat[(row.chat_id, row.report_id)].append((row.id, calls[0].at))
    out = []
    for (chat, report), items in by_chat.items():
        items.sort()
        if any(b[1] < a[1] for a, b in itertools.pairwise(items)):
            out.append(f"{chat} (report {report})")
    return out


async def outbox_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Any]:
    """Every outbox row, oldest first."""
    from models.tables import Outbox

    async with sessionmaker() as session:
        return list((await session.exec(select(Outbox).order_by(col(Outbox.id)))).all())


async def wait_outbox_empty(sessionmaker: async_sessionmaker[AsyncSession], within: float
                            ) -> int:
    """Wait until no outbox row is pending (or the timeout); how many still are."""
    from sqlmodel import func

    from models.tables import Outbox

    deadline = time.monotonic() + within
    while True:
        async with sessionmaker() as session:
            left = int((await session.exec(select(func.count()).select_from(Outbox).where(
                Outbox.status == "pending"))).one())
        if left == 0 or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.5)
