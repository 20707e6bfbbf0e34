"""Several `python -m bot run --webhook` workers on one PostgreSQL and one Redis, driven through
the fake Bot API: shared by tests/test_workers.py and bench/scale_out.py.

`WebhookAPI` is the fake Bot API (bench.intake_e2e.BenchAPI, so the citizens' chat drivers
work unchanged) that, instead of queueing updates for getUpdates, POSTs each one to the
workers' webhook in turn, as Telegram does: with the secret header, and again (to the next
worker) after any non-2xx answer or a connection error. `Cluster` creates a private
PostgreSQL database, seeds it with a generated catalogue (one OPD and group per category, so
the 20/min group limit does not make a crowd take an hour), starts the workers on their own
loopback ports with a private Redis prefix, kills (SIGKILL) and restarts them. The analysis
helpers read the fake's call log against the outbox table: which calls were outbox
deliveries, each chat's order, and Telegram's limits as the pacer applies them.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import itertools
import os
import signal
import socket
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
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


class WebhookAPI(BenchAPI):
    """BenchAPI delivering pushed updates by POSTing them to the workers in turn."""

    def __init__(self, secret: str = SECRET, post_timeout: float = 10.0) -> None:
        """No workers yet; `targets[i]` is worker i's webhook URL (None while it is down)."""
        super().__init__()
        self.secret = secret
        self.post_timeout = post_timeout
        self.targets: list[str | None] = []
        self.posts: Counter[int] = Counter()  # HTTP status of every POST (0 = no answer)
        self.delivered: dict[int, tuple[int, float]] = {}  # update id -> (worker, when)
        self.pushed: dict[int, dict[str, Any]] = {}
        self._rr = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Start the server and the HTTP client that posts the webhooks."""
        await super().start()
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.post_timeout),
            connector=aiohttp.TCPConnector(limit=0))

    async def stop(self) -> None:
        """Cancel deliveries still retrying, close the client, stop the server."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
        if self._http is not None:
            await self._http.close()
        await super().stop()

    def push_update(self, update: dict[str, Any]) -> int:
        """Give the update an id and deliver it by webhook (retried until a 2xx)."""
        update = dict(update)
        update_id = update.get("update_id")
        if update_id is None:
            update_id = self._next_update_id
            update["update_id"] = update_id
        self._next_update_id = max(self._next_update_id, update_id + 1)
        self.pushed[update_id] = update
        task = asyncio.create_task(self._deliver(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._bump()
        return update_id

    async def _deliver(self, update: dict[str, Any]) -> None:
        """POST to the next live worker until one answers 2xx, backing off between tries."""
        assert self._http is not None
        backoff = 0.05
        while True:
            live = [i for i, url in enumerate(self.targets) if url]
            if live:
                index = live[next(self._rr) % len(live)]
                url = self.targets[index]
                assert url is not None
                try:
                    async with self._http.post(url, json=update,
                                               headers={SECRET_HEADER: self.secret}) as resp:
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError, OSError):
                    status = 0
                self.posts[status] += 1
                if 200 <= status < 300:
                    self.delivered[int(update["update_id"])] = (index, time.monotonic())
                    return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    async def _handle_api(self, request: Any) -> Any:
        """Note when the request arrived, before its body (an upload) is read and parsed."""
        ARRIVED.set(time.monotonic())
        return await super()._handle_api(request)

    async def _record(self, call: Call) -> None:
        """Record with the request's arrival time (as Telegram counts), not the parse's end:
        reading a photo upload on this busy process can take a while."""
        arrived = ARRIVED.get(None)
        if arrived is not None:
            call.at = arrived
        await super()._record(call)

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

    async def settle(self, within: float = 60.0) -> None:
        """Wait until every pushed update has been accepted by a worker."""
        deadline = time.monotonic() + within
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(list(self._tasks), timeout=deadline - time.monotonic())


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
    """Chats whose outbox rows (with a message) arrived out of row order."""
    by_chat: defaultdict[str, list[tuple[int, float]]] = defaultdict(list)
    for row in rows:
        calls = delivered.get(row.id)
        if calls:
            by_chat[row.chat_id].append((row.id, calls[0].at))
    out = []
    for chat, items in by_chat.items():
        items.sort()
        if any(b[1] < a[1] for a, b in itertools.pairwise(items)):
            out.append(chat)
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
