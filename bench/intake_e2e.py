"""End-to-end intake benchmark: N simulated people file reports through the real bot process.

Run:
    .venv/bin/python -m bench.intake_e2e --people 300
    .venv/bin/python -m bench.intake_e2e --people 300 --db both \
        --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/test --drafts 10000 --json out.json

The fake Telegram Bot API (tests/fakebotapi.py) runs in this process on 127.0.0.1. For each
database (SQLite in a temp file; PostgreSQL in a fresh `aduan_bench_<hex>` database when
--pg-url or ADUAN_TEST_POSTGRES_URL is given) the database is seeded with `aduan seed
deploy/seed.example.toml`, then the bot runs as its own process (`python -m bench.botproc`,
which counts SQL statements and reports CPU and RSS). All people start at once and each walks
the whole intake, waiting for the bot's answer before the next step: /start, new report, a
category that needs a photo, a description, a photo, done, a shared location, anonymous, send,
and then the ticket code. Then the same people and steps drive a bare aiogram echo bot
(`python -m bench.echobot`) as the baseline. Figures are printed with the targets beside them;
--json writes them all. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import io
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import tomllib
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image, ImageDraw
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.proc import PARENT_ENV  # bot processes die with the driver
from tests.fakebotapi import Call, FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent
SEED = Path("deploy") / "seed.example.toml"  # relative to the bot's source tree
LOCALES = Path("locales")
PG_ENV = "ADUAN_TEST_POSTGRES_URL"
STATS_ENV = "BENCH_STATS_FILE"

ADMIN_ID = 900001
TOKEN = "123456:BENCH"

MESSAGE_METHODS = frozenset({"sendMessage", "editMessageText"})
KEYBOARD_METHODS = frozenset({"sendMessage", "editMessageText", "editMessageReplyMarkup",
                              "editMessageCaption", "sendPhoto"})
DESCRIPTION = "Jalan berlubang besar di depan SD Negeri 3, sudah dua minggu belum diperbaiki."
DEFAULT_LOCATION = (0.40, 101.85)  # Pangkalan Kerinci, Pelalawan (the seed's regency)
BUTTON_GRACE = 1.0  # s to wait for a message after a callback answer that came alone
ERROR_GRACE = 5.0  # s a person still waits for the next button after an error answer
# s for seeding and for a bot process to start polling (more under valgrind)
# The bot's command line is prefixed with this (split on blanks), e.g. "valgrind
# --tool=callgrind --callgrind-out-file=/tmp/cg.%p": instruction counts, which a loaded
# machine does not blur, with BENCH_CALLGRIND=1 (bench/botproc.py).
WRAPPER_ENV = "BENCH_BOT_WRAPPER"
START_TIMEOUT = float(os.environ.get("BENCH_START_TIMEOUT", "120"))
STOP_TIMEOUT = 30.0  # s for a bot process to exit after SIGINT
PROGRESS_EVERY = 10.0
TARGET_RATE_RATIO = 0.5
TARGET_P99_RATIO = 3.0
TARGET_DRAFTS = 10_000
TARGET_DRAFTS_RSS_MB = 200.0

T = TypeVar("T")


@dataclass
class Options:
    """Everything the command line sets; defaults are the documented ones."""

    people: int = 300
    getfile_delay: float = 0.2
    db: str | None = None  # sqlite | postgres | both; None: SQLite, plus PostgreSQL if known
    pg_url: str | None = None
    skip_echo: bool = False
    drafts: int = 0
    drafts_concurrency: int = 200
    drafts_budget: float = 1800.0
    timeout: float = 120.0
    json_path: Path | None = None
    quiet: bool = False
    bot_src: Path | None = None  # run the bot from this source tree (default: this one)


class BenchError(Exception):
    """The benchmark cannot go on (a bot that does not start, a seed that fails...)."""


# ---- the fake Bot API, indexed per chat -------------------------------------------------


class BenchAPI(FakeBotAPI):
    """FakeBotAPI that also files every call under its chat and wakes that chat's waiters.

    FakeBotAPI.wait_for re-scans all calls for every waiter on every call, which is
    quadratic with hundreds of people waiting at once; this keeps the driver cheap.
    """

    def __init__(self) -> None:
        """An unstarted server with empty per-chat indexes."""
        super().__init__()
        self.by_chat: defaultdict[int, list[Call]] = defaultdict(list)
        self._callback_chat: dict[str, int] = {}
        self._events: dict[int, asyncio.Event] = {}
        self._pending: list[tuple[Call, int | None]] = []

    def expect_callback(self, callback_id: str, chat_id: int) -> None:
        """File the answerCallbackQuery of `callback_id` under `chat_id`."""
        self._callback_chat[callback_id] = chat_id

    def chat_event(self, chat_id: int) -> asyncio.Event:
        """An event set at the next call filed under `chat_id`."""
        ev = self._events.get(chat_id)
        if ev is None:
            ev = self._events[chat_id] = asyncio.Event()
        return ev

    def _chat_for(self, call: Call) -> int | None:
        """The private chat a call belongs to, if any."""
        if call.method == "answerCallbackQuery":
            return self._callback_chat.get(str(call.params.get("callback_query_id")))
        chat = call.params.get("chat_id")
        return chat if isinstance(chat, int) else None

    def _wake(self, chat_id: int) -> None:
        """Set and forget the chat's event."""
        ev = self._events.pop(chat_id, None)
        if ev is not None:
            ev.set()

    async def _record(self, call: Call) -> None:
        """Record like the parent, file the call under its chat, wake that chat."""
        self.calls.append(call)
        chat = self._chat_for(call)
        if chat is not None:
            self.by_chat[chat].append(call)
            self._wake(chat)
        if call.pending:
            self._pending.append((call, chat))
        await super()._notify_calls()

    async def _notify_calls(self) -> None:
        """A delayed call finished: wake its chat, then notify like the parent."""
        still: list[tuple[Call, int | None]] = []
        for call, chat in self._pending:
            if call.pending:
                still.append((call, chat))
            elif chat is not None:
                self._wake(chat)
        self._pending = still
        await super()._notify_calls()


# ---- texts the bot must never need to say ------------------------------------------------


def ftl_values(path: Path, keys: Sequence[str]) -> dict[str, str]:
    """Values of simple (one-line or indented continuation) Fluent messages in `path`."""
    found: dict[str, str] = {}
    current: str | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if current is not None and line.startswith((" ", "\t")) and line.strip():
            found[current] += "\n" + line.strip()
            continue
        current = None
        key, sep, value = line.partition("=")
        if sep and key.strip() in keys:
            current = key.strip()
            found[current] = value.strip()
    return found


def error_snippets(src: Path) -> list[str]:
    """Leading parts of `error-generic` and `throttled` in every shipped language."""
    snippets = []
    for ftl in sorted((src / LOCALES).glob("*/aduan.ftl")):
        for value in ftl_values(ftl, ("error-generic", "throttled")).values():
            first = value.split("{", 1)[0].strip()
            if first:
                snippets.append(first[:40])
    if not snippets:
        raise BenchError(f"no error-generic/throttled texts found under {src / LOCALES}")
    return snippets


# ---- one person's chat ------------------------------------------------------------------


@dataclass
class Person:
    """What happened to one simulated person."""

    uid: int
    updates: int = 0
    latencies: list[tuple[str, float]] = field(default_factory=list)  # (step, seconds)
    ticket: str | None = None
    gave_up: str | None = None  # the step they gave up at
    reason: str = ""


class GaveUp(Exception):
    """A step got no (usable) answer in time."""

    def __init__(self, step: str, reason: str) -> None:
        """Remember where and why."""
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


@dataclass
class Flow:
    """Shared, read-only inputs of every person in a phase."""

    api: BenchAPI
    timeout: float
    echo: bool
    errors: list[str]
    ticket_re: re.Pattern[str]
    photo_categories: frozenset[str]
    location: tuple[float, float]
    photos: dict[int, str] = field(default_factory=dict)  # uid -> registered file id


def _message_id(call: Call) -> int | None:
    """Id of the message a send or edit call produced or changed."""
    if call.method.startswith("edit"):
        mid = call.params.get("message_id")
    else:
        mid = call.result.get("message_id") if isinstance(call.result, dict) else None
    return mid if isinstance(mid, int) else None


def _buttons(call: Call) -> list[dict[str, Any]] | None:
    """Inline buttons carried by a send/edit call (None when it carries none)."""
    markup = call.params.get("reply_markup")
    if not isinstance(markup, dict) or not markup.get("inline_keyboard"):
        return None
    return [b for row in markup["inline_keyboard"] for b in row if isinstance(b, dict)]


def _matches(data: str, prefix: str) -> bool:
    """Callback data `data` is the button `prefix` (e.g. 'in:cat' matches 'in:cat:5')."""
    return data == prefix or data.startswith(prefix + ":")


class ChatDriver:
    """Drives one private chat: push a step, wait for the bot's answer, find buttons."""

    def __init__(self, flow: Flow, person: Person) -> None:
        """Bind to a person; `mark` is where the last step's answers start in the chat."""
        self.flow = flow
        self.api = flow.api
        self.person = person
        self.uid = person.uid
        self.mark = 0

    @property
    def calls(self) -> list[Call]:
        """Every call filed under this chat, oldest first."""
        return self.api.by_chat[self.uid]

    def _first_message(self, since: int) -> Call | None:
        """The first successful sendMessage/editMessageText since index `since`."""
        for call in self.calls[since:]:
            if call.ok and call.method in MESSAGE_METHODS:
                return call
        return None

    def first_error(self, since: int) -> Call | None:
        """The first answer since `since` that is the generic error or the throttle notice."""
        for call in self.calls[since:]:
            body = call.text
            if call.ok and body and any(s in body for s in self.flow.errors):
                return call
        return None

    async def _until(self, find: Callable[[], T | None], deadline: float,
                     stop_on_error: bool = False) -> T | None:
        """Wait until find() returns something (returned) or the deadline (None).

        With stop_on_error, an error answer since `mark` shortens the wait to ERROR_GRACE.
        """
        while True:
            found = find()
            if found is not None:
                return found
            limit = deadline
            if stop_on_error:
                err = self.first_error(self.mark)
                if err is not None:
                    limit = min(limit, err.at + ERROR_GRACE)
            remaining = limit - time.monotonic()
            if remaining <= 0:
                return None
            event = self.api.chat_event(self.uid)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def say(self, step: str, **message: Any) -> None:
        """A text/photo/location message; waits for a sendMessage/editMessageText back."""
        mark = len(self.calls)
        update = self.api.make_message(self.uid, self.uid, **message)
        started = time.monotonic()
        self.api.push_update(update)
        self.person.updates += 1
        answer = await self._until(lambda: self._first_message(mark),
                                   started + self.flow.timeout)
        if answer is None:
            raise GaveUp(step, f"no answer in {self.flow.timeout:.0f} s")
        self.person.latencies.append((step, answer.at - started))
        self.mark = mark
        self._check_error(step)

    async def press(self, step: str, prefix: str,
                    pick: Callable[[list[dict[str, Any]]], dict[str, Any] | None] | None = None
                    ) -> None:
        """Press the button `prefix` from the newest keyboard (echo: on the newest message).

        Waits for the answerCallbackQuery and a sendMessage/editMessageText, or for the
        callback answer alone if no message follows within BUTTON_GRACE.
        """
        if self.flow.echo:
            data, mid = self._echo_button(prefix)
        else:
            data, mid = await self.find_button(step, prefix, pick)
        mark = len(self.calls)
        update = self.api.make_callback(self.uid, self.uid, data, mid)
        callback_id = str(update["callback_query"]["id"])
        self.api.expect_callback(callback_id, self.uid)
        started = time.monotonic()
        self.api.push_update(update)
        self.person.updates += 1

        def answered() -> Call | None:
            for call in self.calls[mark:]:
                if (call.method == "answerCallbackQuery" and not call.pending
                        and call.params.get("callback_query_id") == callback_id):
                    return call
            return None

        answer = await self._until(answered, started + self.flow.timeout)
        if answer is None:
            raise GaveUp(step, f"button not answered in {self.flow.timeout:.0f} s")
        message = self._first_message(mark)
        if message is None:
            grace = min(answer.at + BUTTON_GRACE, started + self.flow.timeout)
            message = await self._until(lambda: self._first_message(mark), grace)
        done = max(answer.at, message.at) if message is not None else answer.at
        self.person.latencies.append((step, done - started))
        self.mark = mark
        self._check_error(step)

    def _check_error(self, step: str) -> None:
        """A person whose step was answered with an error (or throttle notice) gives up."""
        if self.first_error(self.mark) is not None:
            raise GaveUp(step, "error answer")

    def _echo_button(self, prefix: str) -> tuple[str, int]:
        """Echo phase: the same data shape, pressed on the newest message in the chat."""
        for call in reversed(self.calls):
            mid = _message_id(call) if call.ok and call.method in KEYBOARD_METHODS else None
            if mid is not None:
                arg = {"in:cat": "1", "in:send": "0123456789abcdef"}.get(prefix, "")
                return f"{prefix}:{arg}", mid
        raise GaveUp(prefix, "no message to press a button on")

    def newest_keyboard(self) -> tuple[int, list[dict[str, Any]]] | None:
        """(message id, buttons) of the newest message in the chat still carrying buttons."""
        seen: set[int] = set()
        for call in reversed(self.calls):
            if not call.ok or call.method not in KEYBOARD_METHODS:
                continue
            mid = _message_id(call)
            if mid is None or mid in seen:
                continue
            seen.add(mid)
            buttons = _buttons(call)
            if buttons:
                return mid, buttons
        return None

    async def find_button(
        self, step: str, prefix: str,
        pick: Callable[[list[dict[str, Any]]], dict[str, Any] | None] | None = None,
    ) -> tuple[str, int]:
        """(callback data, message id) of button `prefix` in the newest keyboard, waiting for
        more of the bot's messages while it is not there yet."""

        def find() -> tuple[str, int] | None:
            newest = self.newest_keyboard()
            if newest is None:
                return None
            mid, buttons = newest
            wanted = [b for b in buttons if _matches(str(b.get("callback_data", "")), prefix)]
            if not wanted:
                return None
            chosen = (pick(wanted) if pick else None) or wanted[0]
            return str(chosen["callback_data"]), mid

        found = await self._until(find, time.monotonic() + self.flow.timeout,
                                  stop_on_error=True)
        if found is None:
            why = "after an error answer" if self.first_error(self.mark) else "in time"
            raise GaveUp(step, f"no '{prefix}' button {why}")
        return found

    async def ticket(self) -> str:
        """The ticket code from the bot's answer to the last step (waits for it)."""

        def find() -> str | None:
            for call in self.calls[self.mark:]:
                if call.ok and call.method in MESSAGE_METHODS and call.text:
                    hit = self.flow.ticket_re.search(call.text)
                    if hit:
                        return hit.group(0)
            return None

        code = await self._until(find, time.monotonic() + self.flow.timeout, stop_on_error=True)
        if code is None:
            raise GaveUp("ticket", "no ticket code")
        return code


def _pick_photo_category(flow: Flow) -> Callable[[list[dict[str, Any]]], dict[str, Any] | None]:
    """A chooser for the first category button whose seed entry requires a photo."""

    def pick(buttons: list[dict[str, Any]]) -> dict[str, Any] | None:
        for button in buttons:
            if str(button.get("text", "")).strip() in flow.photo_categories:
                return button
        return None

    return pick


async def intake_person(flow: Flow, uid: int) -> Person:
    """One person's full intake (or the echo equivalent); never raises for a bad answer."""
    person = Person(uid)
    chat = ChatDriver(flow, person)
    try:
        await chat.say("start", text="/start")
        await chat.press("new", "in:new")
        await chat.press("category", "in:cat", _pick_photo_category(flow))
        await chat.say("description", text=DESCRIPTION)
        if not flow.echo:
            # Send the photo only once the photo prompt (with its done button) is shown, so
            # a late second message of this step is never taken for the photo's answer.
            await chat.find_button("description", "in:done")
        await chat.say("photo", photo=flow.photos[uid])
        await chat.press("done", "in:done")
        await chat.say("location", location=flow.location)
        await chat.press("anonymous", "in:anon")
        await chat.press("send", "in:send")
        if not flow.echo:
            person.ticket = await chat.ticket()
    except GaveUp as exc:
        person.gave_up, person.reason = exc.step, exc.reason
    return person


async def draft_person(flow: Flow, uid: int) -> Person:
    """/start and 'new report', leaving an open draft at the category step."""
    person = Person(uid)
    chat = ChatDriver(flow, person)
    try:
        await chat.say("start", text="/start")
        await chat.press("new", "in:new")
        await chat.find_button("category", "in:cat")
    except GaveUp as exc:
        person.gave_up, person.reason = exc.step, exc.reason
    return person


# ---- inputs -------------------------------------------------------------------------------


def seed_facts(seed: Path) -> tuple[frozenset[str], tuple[float, float]]:
    """(names of categories that require a photo, a location inside the service area)."""
    data = tomllib.loads(seed.read_text(encoding="utf-8"))
    names = set()
    for cat in data.get("category", []):
        if cat.get("requires_photo"):
            names.update(str(cat[k]).strip() for k in ("name_id", "name_en") if k in cat)
    area = data.get("service_area")
    location = DEFAULT_LOCATION
    if isinstance(area, list) and len(area) == 4:
        location = ((area[0] + area[2]) / 2, (area[1] + area[3]) / 2)
    return frozenset(names), location


def photo_bytes(n: int) -> bytes:
    """A distinct 1280x960 JPEG (a phone photo as Telegram compresses it)."""
    img = Image.new("RGB", (1280, 960), (90 + n % 120, 110, 130))
    draw = ImageDraw.Draw(img)
    for i in range(0, 1280, 40):
        draw.line([(i, 0), (1280 - i, 960)], fill=((n * 7 + i) % 255, i % 255, 200), width=3)
    draw.text((40, 40), f"lubang #{n}", fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=80)
    return out.getvalue()


def register_photos(api: BenchAPI, uids: Sequence[int]) -> dict[int, str]:
    """One registered photo file per person; returns uid -> file id."""
    return {uid: api.add_file(photo_bytes(uid), file_path=f"photos/file_{uid}.jpg",
                              mime_type="image/jpeg") for uid in uids}


def ticket_pattern() -> re.Pattern[str]:
    """Regex of a ticket code with the configured (default) TICKET_PREFIX."""
    from bot.settings import Settings

    prefix = Settings.model_fields["ticket_prefix"].default
    return re.compile(rf"\b{re.escape(prefix)}-[0-9A-Z]{{4,8}}\b")


def setting_names() -> set[str]:
    """Environment names of every Aduan setting (stripped from the bot's inherited env)."""
    from bot.settings import Settings

    return {f.alias or name.upper() for name, f in Settings.model_fields.items()}


# ---- processes ----------------------------------------------------------------------------


class Processes:
    """The child processes of one run; all killed at the end, even on Ctrl+C."""

    def __init__(self) -> None:
        """No children yet; an atexit hook kills any left behind."""
        self.live: list[asyncio.subprocess.Process] = []
        self.last_stop_s = 0.0  # how long the last stop() took
        atexit.register(self.kill_now)

    async def start(self, args: Sequence[str], env: dict[str, str], cwd: Path,
                    log: Path) -> asyncio.subprocess.Process:
        """Start a child in its own session, stdout+stderr to `log`."""
        with log.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                *args, env=env, cwd=cwd, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                stderr=out, start_new_session=True)
        self.live.append(proc)
        return proc

    async def stop(self, proc: asyncio.subprocess.Process, grace: float = STOP_TIMEOUT
                   ) -> int | None:
        """SIGINT, then SIGKILL after `grace` seconds; returns the exit code."""
        self.last_stop_s = 0.0
        if proc.returncode is None:
            began = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
            self.last_stop_s = time.monotonic() - began
        if proc in self.live:
            self.live.remove(proc)
        return proc.returncode

    async def stop_all(self) -> None:
        """Stop every child still running (quickly)."""
        for proc in list(self.live):
            await self.stop(proc, grace=5.0)
        atexit.unregister(self.kill_now)

    def kill_now(self) -> None:
        """Synchronous last resort: SIGKILL every child's process group."""
        for proc in self.live:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)


def proc_cpu_s(pid: int) -> float:
    """utime+stime of a process in seconds, from /proc/<pid>/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MB, from /proc/<pid>/status."""
    rss = peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1])
    return rss / 1024, peak / 1024


def _load_stats(path: Path) -> dict[str, Any] | None:
    """The stats file's JSON, or None while it is missing or half-written."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


_usr1_sent: Counter[str] = Counter()  # SIGUSR1s sent, per stats file


async def read_stats(proc: asyncio.subprocess.Process, path: Path, fresh: bool = True
                     ) -> dict[str, Any]:
    """botproc's stats; with `fresh`, SIGUSR1 first and wait for the snapshot it triggers."""
    deadline = time.monotonic() + 15.0
    if fresh:
        while _load_stats(path) is None:  # the file appears once the handler is installed
            if time.monotonic() > deadline or proc.returncode is not None:
                raise BenchError(f"no stats file from the bot at {path}")
            await asyncio.sleep(0.05)
        _usr1_sent[str(path)] += 1
        proc.send_signal(signal.SIGUSR1)
    while True:
        data = _load_stats(path)
        if data is not None and (not fresh or int(data["usr1"]) >= _usr1_sent[str(path)]):
            return data
        if time.monotonic() > deadline:
            raise BenchError(f"the bot did not refresh its stats file {path}")
        await asyncio.sleep(0.02)


async def wait_polling(api: BenchAPI, proc: asyncio.subprocess.Process, polls_before: int,
                       log: Path, name: str) -> None:
    """Wait until the process long-polls the fake server (or fail with its log tail)."""
    deadline = time.monotonic() + START_TIMEOUT
    while api.get_updates_count <= polls_before:
        if proc.returncode is not None or time.monotonic() > deadline:
            why = f"exited with {proc.returncode}" if proc.returncode is not None else (
                f"did not poll within {START_TIMEOUT:.0f} s")
            raise BenchError(f"{name} {why}; log tail:\n{_tail(log)}")
        await asyncio.sleep(0.05)


def _tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def log_summary(path: Path) -> dict[str, Any]:
    """ERROR lines and the commonest exception lines in a bot log."""
    try:
        content = path.read_text(errors="replace").splitlines()
    except OSError:
        return {"error_lines": 0, "exceptions": []}
    errors = sum(1 for line in content if " ERROR " in line)
    exc_re = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Timeout)\w*)(?::\s?(.*))?$")
    seen: Counter[str] = Counter()
    for line in content:
        hit = exc_re.match(line)
        if hit:
            seen[f"{hit.group(1)}: {(hit.group(2) or '')[:100]}".rstrip(": ")] += 1
    return {"error_lines": errors, "exceptions": seen.most_common(5)}


# ---- databases ----------------------------------------------------------------------------


async def _admin(url: str, statement: str) -> None:
    """Run one statement on an AUTOCOMMIT connection (CREATE/DROP DATABASE)."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def databases(opts: Options) -> list[tuple[str, str | None]]:
    """[(kind, admin URL)] to run, from --db and --pg-url / ADUAN_TEST_POSTGRES_URL."""
    pg = opts.pg_url or os.environ.get(PG_ENV) or None
    choice = opts.db or ("both" if pg else "sqlite")
    if choice not in ("sqlite", "postgres", "both"):
        raise BenchError(f"--db must be sqlite, postgres or both, not {choice!r}")
    if choice in ("postgres", "both") and not pg:
        raise BenchError(f"PostgreSQL needs --pg-url or {PG_ENV}")
    out: list[tuple[str, str | None]] = []
    if choice in ("sqlite", "both"):
        out.append(("sqlite", None))
    if choice in ("postgres", "both"):
        out.append(("postgres", pg))
    return out


# ---- measurement --------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None when empty)."""
    if not values:
        return None
    return values[max(0, math.ceil(p / 100 * len(values)) - 1)]


def latency_figures(people: Sequence[Person]) -> dict[str, Any]:
    """p50/p95/p99/max in ms over all steps, and per step."""
    by_step: defaultdict[str, list[float]] = defaultdict(list)
    for person in people:
        for step, seconds in person.latencies:
            by_step[step].append(seconds * 1000)
    every = sorted(ms for values in by_step.values() for ms in values)

    def figures(values: list[float]) -> dict[str, float | None]:
        values = sorted(values)
        return {"p50": percentile(values, 50), "p95": percentile(values, 95),
                "p99": percentile(values, 99), "max": values[-1] if values else None,
                "n": len(values)}

    return {**figures(every), "steps": {s: figures(v) for s, v in by_step.items()}}


def sql_delta(start: dict[str, Any], end: dict[str, Any]) -> dict[str, Any]:
    """Statements between two botproc snapshots, with 'data' and 'all' totals.

    'data' = statements other than transaction control; 'all' adds BEGIN/COMMIT/ROLLBACK/
    SAVEPOINT/RELEASE sent as SQL plus DBAPI begin (when not sent as SQL), commit, rollback.
    """
    a, b = start["sql"], end["sql"]

    def diff(key: str) -> dict[str, int]:
        keys = set(a[key]) | set(b[key])
        return {k: b[key].get(k, 0) - a[key].get(k, 0) for k in sorted(keys)
                if b[key].get(k, 0) - a[key].get(k, 0)}

    data, tx_sql = diff("data"), diff("tx_sql")
    counts = {k: b[k] - a[k] for k in ("outbox", "begin_events", "begin_via_sql",
                                         "commit_events", "rollback_events")}
    implicit_begins = counts["begin_events"] - counts["begin_via_sql"]
    total_data = sum(data.values())
    total_all = (total_data + sum(tx_sql.values()) + implicit_begins
                 + counts["commit_events"] + counts["rollback_events"])
    return {"data": data, "tx_sql": tx_sql, **counts, "implicit_begins": implicit_begins,
            "total_data": total_data, "total_all": total_all}


def count_errors(api: BenchAPI, uids: Sequence[int], snippets: Sequence[str]) -> int:
    """Bot answers to these chats that are the generic error or the throttle notice."""
    return sum(1 for uid in uids for call in api.by_chat.get(uid, [])
               if call.ok and call.text and any(s in call.text for s in snippets))


def _ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is zero."""
    return a / b if a is not None and b else None


# ---- phases -------------------------------------------------------------------------------


@dataclass
class Bench:
    """One run: options, the fake server, children, scratch space and a log function."""

    opts: Options
    api: BenchAPI
    procs: Processes
    tmp: Path
    say: Callable[[str], None]
    errors: list[str]
    ticket_re: re.Pattern[str]
    photo_categories: frozenset[str]
    location: tuple[float, float]
    src: Path = ROOT

    def flow(self, echo: bool) -> Flow:
        """The shared inputs of a phase."""
        return Flow(self.api, self.opts.timeout, echo, self.errors, self.ticket_re,
                    self.photo_categories, self.location)

    async def crowd(self, label: str, flow: Flow, uids: Sequence[int],
                    run: Callable[[Flow, int], Any]) -> list[Person]:
        """Everybody at once, with a progress line every PROGRESS_EVERY seconds."""
        done = 0

        async def one(uid: int) -> Person:
            nonlocal done
            person: Person = await run(flow, uid)
            done += 1
            return person

        async def progress() -> None:
            while True:
                await asyncio.sleep(PROGRESS_EVERY)
                self.say(f"{label}: {done}/{len(uids)} people done")

        ticker = asyncio.create_task(progress())
        try:
            return list(await asyncio.gather(*(one(uid) for uid in uids)))
        finally:
            ticker.cancel()

    async def start_bot(self, name: str, module: str, env: dict[str, str], work: Path
                        ) -> tuple[asyncio.subprocess.Process, Path]:
        """Start `python -m module` and wait until it long-polls.

        With another bot source tree (--bot-src) the module runs by its file path from this
        tree, so the bot's own packages come from PYTHONPATH = that tree.
        """
        self.api.updates.clear()  # nothing left over from an earlier phase
        log = work / f"{name.replace('/', '-')}.log"
        polls = self.api.get_updates_count
        if self.src == ROOT:
            args = [sys.executable, "-m", module]
        else:
            args = [sys.executable, str(ROOT / (module.replace(".", "/") + ".py"))]
        wrapper = os.environ.get(WRAPPER_ENV, "").split()
        if wrapper and module == "bench.botproc":  # e.g. valgrind --tool=callgrind
            args = wrapper + args
        proc = await self.procs.start(args, env, work, log)
        await wait_polling(self.api, proc, polls, log, name)
        return proc, log

    def bot_env(self, db_url: str, work: Path) -> dict[str, str]:
        """The bot's environment: inherited minus Aduan settings, plus the bench's."""
        names = setting_names()
        env = {k: v for k, v in os.environ.items() if k not in names}
        path = env.get("PYTHONPATH")
        env.update({
            "PYTHONPATH": f"{self.src}{os.pathsep}{path}" if path else str(self.src),
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": self.api.url,
            "DATABASE_URL": db_url,
            "MEDIA_DIR": str(work / "media"),
            "GEOCODER": "none",
            "ADMIN_IDS": str(ADMIN_ID),
            "RATE_LIMIT_BURST": "1000000",
            "RATE_LIMIT_PER_SECOND": "1000000",
            "LOG_LEVEL": "WARNING",
            # Every citizen files at one pin: no "already reported nearby?" step in this flow.
            "DUPLICATE_RADIUS_M": "0",
            "WEB_PORT": "0",  # health and metrics on a free port: benches may run side by side
            STATS_ENV: str(work / "stats.json"),
            PARENT_ENV: str(os.getpid()),
        })
        return env

    async def seed(self, env: dict[str, str], work: Path) -> None:
        """`aduan seed deploy/seed.example.toml` against the phase's database."""
        script = Path(sys.executable).with_name("aduan")
        args = [str(script)] if script.exists() else [sys.executable, "-m", "bot"]
        log = work / "seed.log"
        proc = await self.procs.start([*args, "seed", str(self.src / SEED)], env, work, log)
        try:
            code = await asyncio.wait_for(proc.wait(), START_TIMEOUT)
        except TimeoutError:
            code = None
        await self.procs.stop(proc, grace=1.0)
        if code != 0:
            raise BenchError(f"aduan seed failed ({code}); log tail:\n{_tail(log)}")

    async def aduan(self, kind: str, admin_url: str | None, base: int) -> dict[str, Any]:
        """Phase 'aduan' on one database: seed, start botproc, crowd, drafts, stop."""
        label = f"aduan/{kind}"
        work = self.tmp / label.replace("/", "-")
        work.mkdir(parents=True)
        db_name: str | None = None
        if admin_url is None:
            db_url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
        else:
            db_name = f"aduan_bench_{uuid.uuid4().hex[:12]}"
            await _admin(admin_url, f'CREATE DATABASE "{db_name}"')
            db_url = make_url(admin_url).set(database=db_name).render_as_string(
                hide_password=False)
        proc: asyncio.subprocess.Process | None = None
        try:
            env = self.bot_env(db_url, work)
            self.say(f"{label}: seeding")
            await self.seed(env, work)
            proc, log = await self.start_bot(label, "bench.botproc", env, work)
            self.say(f"{label}: bot polling; warm-up")
            stats_path = work / "stats.json"
            flow = self.flow(echo=False)
            boot = await read_stats(proc, stats_path)
            figures, _ = await self._aduan_measured(label, flow, base, proc, stats_path, boot)
            if self.opts.drafts:
                figures["drafts"] = await self.drafts(label, flow, base + 1_000_000, proc)
            code = await self.procs.stop(proc)
            self.say(f"{label}: bot stopped in {self.procs.last_stop_s:.1f} s (exit {code})")
            final = await read_stats(proc, stats_path, fresh=False)
            figures.update(
                phase="aduan", db=kind, label=label, exit_code=code,
                bot_final={k: final[k] for k in ("cpu_s", "rss_kb", "peak_rss_kb", "final")},
                log=log_summary(log),
            )
            return figures
        finally:
            if proc is not None:
                await self.procs.stop(proc, grace=5.0)
            if db_name is not None and admin_url is not None:
                await _admin(admin_url, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')

    async def _aduan_measured(self, label: str, flow: Flow, base: int,
                              proc: asyncio.subprocess.Process, stats_path: Path,
                              boot: dict[str, Any]) -> tuple[dict[str, Any], list[int]]:
        """Warm-up, SQL snapshot, crowd, SQL snapshot: the crowd's figures with SQL counts."""
        warm = base + 900_000
        flow.photos.update(register_photos(self.api, [warm]))
        warmed = await intake_person(flow, warm)
        if warmed.gave_up:
            self.say(f"{label}: warm-up person gave up at {warmed.gave_up} ({warmed.reason})")
        start = await read_stats(proc, stats_path)
        figures, uids = await self._measure_crowd(label, flow, base, proc,
                                                   self.opts.people)
        end = await read_stats(proc, stats_path)
        sql = sql_delta(start, end)
        tickets, updates = figures["tickets"], figures["updates"]
        figures["sql"] = sql
        figures["sql_per_filing"] = {
            "data": sql["total_data"] / tickets if tickets else None,
            "all": sql["total_all"] / tickets if tickets else None,
            "outbox": sql["outbox"] / tickets if tickets else None,
        }
        figures["sql_per_step"] = {
            "data": sql["total_data"] / updates if updates else None,
            "all": sql["total_all"] / updates if updates else None,
        }
        figures["bot_process_cpu_s"] = end["cpu_s"] - start["cpu_s"]
        figures["startup"] = {"cpu_s": boot["cpu_s"], "rss_kb": boot["rss_kb"]}
        return figures, uids

    async def _measure_crowd(self, label: str, flow: Flow, base: int,
                             proc: asyncio.subprocess.Process, n: int
                             ) -> tuple[dict[str, Any], list[int]]:
        """Register photos, run n people at once, collect the common figures."""
        uids = [base + i for i in range(n)]
        flow.photos.update(register_photos(self.api, uids))
        updates_before = self.api._next_update_id
        calls_before = len(self.api.calls)
        load0 = os.getloadavg()[0]  # the machine may be shared: show how busy it was
        cpu0, drv0, t0 = proc_cpu_s(proc.pid), time.process_time(), time.monotonic()
        self.say(f"{label}: {n} people start (load average {load0:.2f})")
        people = await self.crowd(label, flow, uids, intake_person)
        wall = time.monotonic() - t0
        cpu1, drv1 = proc_cpu_s(proc.pid), time.process_time()
        rss, peak = proc_rss_mb(proc.pid)
        updates = sum(p.updates for p in people)
        # What the bot asked of the Bot API (sends, edits, callback answers, getFile), polling
        # apart: each call costs the bot a request built and an answer parsed.
        api_calls = Counter(c.method for c in self.api.calls[calls_before:]
                            if c.method != "getUpdates")
        gave_up = Counter(f"{p.gave_up}: {p.reason}" for p in people if p.gave_up)
        figures: dict[str, Any] = {
            "people": n,
            "updates": updates,
            "updates_pushed": self.api._next_update_id - updates_before,
            "tickets": sum(1 for p in people if p.ticket),
            "gave_up": sum(1 for p in people if p.gave_up),
            "gave_up_at": dict(gave_up.most_common()),
            "error_answers": count_errors(self.api, uids, self.errors),
            "wall_s": wall,
            "updates_per_s": updates / wall if wall > 0 else None,
            "latency_ms": latency_figures(people),
            "bot_cpu_s": cpu1 - cpu0,
            "bot_cpu_ms_per_update": (cpu1 - cpu0) * 1000 / updates if updates else None,
            "api_calls": dict(api_calls.most_common()),
            "api_calls_per_update": sum(api_calls.values()) / updates if updates else None,
            "driver_cpu_pct": (drv1 - drv0) * 100 / wall if wall > 0 else None,
            "rss_mb": rss,
            "peak_rss_mb": peak,
            "loadavg_1m": {"before": load0, "after": os.getloadavg()[0]},
        }
        self.say(f"{label}: done in {wall:.1f} s, {figures['tickets']} tickets, "
                 f"{figures['gave_up']} gave up, {figures['error_answers']} error answers")
        return figures, uids

    async def drafts(self, label: str, flow: Flow, base: int,
                     proc: asyncio.subprocess.Process) -> dict[str, Any]:
        """K more people open a draft each (bounded concurrency and time); the bot's RSS."""
        k, budget = self.opts.drafts, self.opts.drafts_budget
        sem = asyncio.Semaphore(max(1, self.opts.drafts_concurrency))
        deadline = time.monotonic() + budget
        rss0, _ = proc_rss_mb(proc.pid)
        outcome: Counter[str] = Counter()

        async def one(uid: int) -> None:
            async with sem:
                if time.monotonic() > deadline:
                    outcome["skipped (time budget)"] += 1
                    return
                person = await draft_person(flow, uid)
                outcome["opened" if not person.gave_up else f"gave up at {person.gave_up}"] += 1

        async def progress() -> None:
            while True:
                await asyncio.sleep(PROGRESS_EVERY)
                self.say(f"{label}: drafts {sum(outcome.values())}/{k}")

        self.say(f"{label}: {k} people open drafts, {sem._value} at a time")
        ticker = asyncio.create_task(progress())
        t0 = time.monotonic()
        uids = [base + i for i in range(k)]
        try:
            await asyncio.gather(*(one(uid) for uid in uids))
        finally:
            ticker.cancel()
        rss, peak = proc_rss_mb(proc.pid)
        return {"requested": k, "opened": outcome.get("opened", 0), "outcome": dict(outcome),
                "wall_s": time.monotonic() - t0, "rss_mb_before": rss0, "rss_mb": rss,
                "peak_rss_mb": peak, "error_answers": count_errors(self.api, uids, self.errors)}

    async def echo(self, base: int) -> dict[str, Any]:
        """Phase 'echo': the same crowd and steps against a bare aiogram echo bot."""
        label = "echo"
        work = self.tmp / label
        work.mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if k not in setting_names()}
        path = env.get("PYTHONPATH")
        env.update(PYTHONPATH=f"{self.src}{os.pathsep}{path}" if path else str(self.src),
                   BOT_TOKEN=TOKEN, TELEGRAM_API_URL=self.api.url, LOG_LEVEL="WARNING",
                   **{PARENT_ENV: str(os.getpid())})
        proc, log = await self.start_bot(label, "bench.echobot", env, work)
        try:
            flow = self.flow(echo=True)
            warm = base + 900_000
            flow.photos.update(register_photos(self.api, [warm]))
            await intake_person(flow, warm)
            figures, _ = await self._measure_crowd(label, flow, base, proc, self.opts.people)
            code = await self.procs.stop(proc)
            self.say(f"{label}: bot stopped in {self.procs.last_stop_s:.1f} s (exit {code})")
            figures.update(phase="echo", db="-", label=label, exit_code=code,
                           log=log_summary(log))
            return figures
        finally:
            await self.procs.stop(proc, grace=5.0)


async def run_benchmark(opts: Options, say: Callable[[str], None] | None = None
                        ) -> dict[str, Any]:
    """Run every phase and return all figures (see format_report); cleans up after itself."""
    began = time.monotonic()

    def log(message: str) -> None:
        if say is not None:
            say(f"[{time.monotonic() - began:6.1f}s] {message}")
        elif not opts.quiet:
            print(f"[{time.monotonic() - began:6.1f}s] {message}", file=sys.stderr, flush=True)

    dbs = databases(opts)
    src = (opts.bot_src or ROOT).resolve()
    names, location = seed_facts(src / SEED)
    tmp = Path(tempfile.mkdtemp(prefix="aduan-e2e-"))
    api = BenchAPI()
    procs = Processes()
    bench = Bench(opts, api, procs, tmp, log, error_snippets(src), ticket_pattern(), names,
                  location, src)
    phases: list[dict[str, Any]] = []
    try:
        await api.start()
        if opts.getfile_delay > 0:
            api.hang_next("getFile", opts.getfile_delay, times=10**9)
        for n, (kind, admin_url) in enumerate(dbs, start=1):
            phases.append(await bench.aduan(kind, admin_url, base=n * 10_000_000))
        if not opts.skip_echo:
            phases.append(await bench.echo(base=90_000_000))
    finally:
        await procs.stop_all()
        await api.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return summarize(opts, phases)


def summarize(opts: Options, phases: list[dict[str, Any]]) -> dict[str, Any]:
    """Add ratios to echo and the targets' verdicts to the phases' figures."""
    echo = next((p for p in phases if p["phase"] == "echo"), None)
    for phase in phases:
        if phase["phase"] != "aduan":
            continue
        rate = _ratio(phase["updates_per_s"], echo["updates_per_s"]) if echo else None
        p99 = _ratio(phase["latency_ms"]["p99"], echo["latency_ms"]["p99"]) if echo else None
        phase["vs_echo"] = {"updates_per_s_ratio": rate, "p99_ratio": p99}
        drafts = phase.get("drafts")
        drafts_ok = None
        if drafts and drafts["requested"] >= TARGET_DRAFTS:
            drafts_ok = drafts["rss_mb"] <= TARGET_DRAFTS_RSS_MB
        phase["targets"] = {
            "all_tickets": phase["tickets"] == phase["people"],
            "zero_error_answers": phase["error_answers"] == 0,
            "updates_per_s_ratio_ge_0_5": None if rate is None else rate >= TARGET_RATE_RATIO,
            "p99_ratio_le_3": None if p99 is None else p99 <= TARGET_P99_RATIO,
            "rss_with_10000_drafts_le_200_mb": drafts_ok,
        }
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()}
    options["pg_url"] = "set" if (opts.pg_url or os.environ.get(PG_ENV)) else None
    return {"options": options, "phases": phases, "machine": {"cpus": os.cpu_count()}}


# ---- report -------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 1) -> str:
    """A figure for the table ('-' when missing)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _verdict(ok: bool | None) -> str:
    """'ok', 'MISS' or '' for a target."""
    return "" if ok is None else ("ok" if ok else "MISS")


def format_report(results: dict[str, Any]) -> str:
    """The figures as a table: one column per phase, targets on the right."""
    phases = results["phases"]
    cols = [p["label"] for p in phases]

    def get(p: dict[str, Any], *path: str) -> Any:
        value: Any = p
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def verdicts(key: str) -> str:
        marks = [_verdict(get(p, "targets", key)) for p in phases if p["phase"] == "aduan"]
        return " ".join(m for m in marks if m)

    drafts_k = results["options"]["drafts"]
    rows: list[tuple[str, list[str], str]] = [
        ("people", [_fmt(p["people"]) for p in phases], ""),
        ("updates sent", [_fmt(p["updates"]) for p in phases], ""),
        ("tickets", [_fmt(p["tickets"]) if p["phase"] == "aduan" else "-" for p in phases],
         f"= people {verdicts('all_tickets')}"),
        ("people who gave up", [_fmt(p["gave_up"]) for p in phases], "0"),
        ("error answers", [_fmt(p["error_answers"]) for p in phases],
         f"0 {verdicts('zero_error_answers')}"),
        ("wall time s", [_fmt(p["wall_s"]) for p in phases], ""),
        ("updates/s", [_fmt(p["updates_per_s"]) for p in phases], ""),
        ("step latency p50 ms", [_fmt(get(p, "latency_ms", "p50")) for p in phases], ""),
        ("step latency p95 ms", [_fmt(get(p, "latency_ms", "p95")) for p in phases], ""),
        ("step latency p99 ms", [_fmt(get(p, "latency_ms", "p99")) for p in phases], ""),
        ("step latency max ms", [_fmt(get(p, "latency_ms", "max")) for p in phases], ""),
        ("bot CPU ms/update", [_fmt(p["bot_cpu_ms_per_update"], 2) for p in phases], ""),
        ("Bot API calls/update", [_fmt(p.get("api_calls_per_update"), 2) for p in phases],
         ""),
        ("driver CPU %", [_fmt(p["driver_cpu_pct"], 0) for p in phases], ""),
        ("load average before/after", [f"{_fmt(get(p, 'loadavg_1m', 'before'))}/"
                                       f"{_fmt(get(p, 'loadavg_1m', 'after'))}"
                                       for p in phases], ""),
        ("SQL/filing, data only", [_fmt(get(p, "sql_per_filing", "data")) for p in phases], ""),
        ("SQL/filing, + tx control", [_fmt(get(p, "sql_per_filing", "all")) for p in phases],
         ""),
        ("SQL/step, data only", [_fmt(get(p, "sql_per_step", "data"), 2) for p in phases], ""),
        ("SQL/step, + tx control", [_fmt(get(p, "sql_per_step", "all"), 2) for p in phases],
         ""),
        ("bot RSS MB after run", [_fmt(p["rss_mb"]) for p in phases], ""),
        ("updates/s ÷ echo", [_fmt(get(p, "vs_echo", "updates_per_s_ratio"), 2)
                              for p in phases],
         f">= {TARGET_RATE_RATIO} {verdicts('updates_per_s_ratio_ge_0_5')}"),
        ("p99 ÷ echo", [_fmt(get(p, "vs_echo", "p99_ratio"), 2) for p in phases],
         f"<= {TARGET_P99_RATIO:g} {verdicts('p99_ratio_le_3')}"),
    ]
    if drafts_k:
        rows += [
            (f"drafts opened (of {drafts_k})", [_fmt(get(p, "drafts", "opened"))
                                                for p in phases], ""),
            ("bot RSS MB with drafts", [_fmt(get(p, "drafts", "rss_mb")) for p in phases],
             f"<= {TARGET_DRAFTS_RSS_MB:g} at {TARGET_DRAFTS} "
             f"{verdicts('rss_with_10000_drafts_le_200_mb')}"),
        ]
    else:
        rows.append(("bot RSS MB with drafts", ["-" for _ in phases],
                     f"<= {TARGET_DRAFTS_RSS_MB:g} at {TARGET_DRAFTS} (run --drafts "
                     f"{TARGET_DRAFTS})"))
    width = max(len(r[0]) for r in rows) + 2
    colw = max(14, *(len(c) + 2 for c in cols))
    lines = [f"{'':<{width}}" + "".join(f"{c:>{colw}}" for c in cols) + "   target"]
    for name, values, target in rows:
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{colw}}" for v in values)
                     + (f"   {target}" if target else ""))
    lines.append("")
    lines.append("Step latency is push -> first answer (a message, or the callback answer plus "
                 "a message); SQL 'data only' excludes BEGIN/COMMIT/ROLLBACK/SAVEPOINT/RELEASE, "
                 "'+ tx control' counts them and DBAPI begin/commit/rollback calls.")
    for p in phases:
        steps = get(p, "latency_ms", "steps") or {}
        if steps:
            parts = [f"{s} {_fmt(v['p50'], 0)}/{_fmt(v['p99'], 0)}" for s, v in steps.items()]
            lines.append(f"{p['label']} per step p50/p99 ms: " + ", ".join(parts))
        if p.get("gave_up_at"):
            lines.append(f"{p['label']} gave up: " + "; ".join(
                f"{n} x {why}" for why, n in list(p["gave_up_at"].items())[:4]))
        exc = get(p, "log", "exceptions")
        if exc:
            lines.append(f"{p['label']} bot log: {get(p, 'log', 'error_lines')} ERROR lines; "
                         + "; ".join(f"{n} x {e}" for e, n in exc[:3]))
        if p.get("api_calls"):
            lines.append(f"{p['label']} Bot API calls: " + ", ".join(
                f"{m} {n}" for m, n in p["api_calls"].items()))
        if p.get("sql"):
            sql = p["sql"]
            lines.append(f"{p['label']} SQL in the run: {sql['data']} tx {sql['tx_sql']} "
                         f"begin {sql['begin_events']} commit {sql['commit_events']} "
                         f"rollback {sql['rollback_events']} outbox {sql['outbox']}")
    return "\n".join(lines)


# ---- command line -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Options from the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.intake_e2e",
        description="End-to-end intake benchmark: N people at once file reports through the "
                    "real bot process (SQLite, PostgreSQL) against a fake Bot API, compared "
                    "with a bare aiogram echo bot. Prints figures and targets.",
        epilog=f"Full benchmark: --people 300 --db both --drafts {TARGET_DRAFTS} "
               f"(PostgreSQL URL from --pg-url or {PG_ENV}).")
    parser.add_argument("--people", type=int, default=300, help="simultaneous people (300)")
    parser.add_argument("--getfile-delay", type=float, default=0.2, metavar="S",
                        help="seconds the fake Bot API takes to answer getFile (0.2)")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"),
                        help="databases (default: SQLite, plus PostgreSQL when a URL is known)")
    parser.add_argument("--pg-url", help=f"PostgreSQL admin URL (default: ${PG_ENV}); a fresh "
                        "database aduan_bench_<hex> is created and dropped")
    parser.add_argument("--skip-echo", action="store_true", help="no echo-bot baseline")
    parser.add_argument("--drafts", type=int, default=0, metavar="K",
                        help=f"after the run, K more people each leave an open draft, then the "
                             f"bot's RSS is read (the full benchmark uses {TARGET_DRAFTS})")
    parser.add_argument("--drafts-concurrency", type=int, default=200, metavar="C",
                        help="people opening drafts at a time (200)")
    parser.add_argument("--drafts-budget", type=float, default=1800.0, metavar="S",
                        help="stop starting draft people after S seconds (1800)")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="S",
                        help="seconds a person waits for an answer before giving up (120)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write all figures as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--bot-src", type=Path, metavar="DIR",
                        help="run the bot (and seed, locales) from another source tree, e.g. "
                             "an export of an older commit (default: this repository)")
    args = parser.parse_args(argv)
    if args.people < 1:
        parser.error("--people must be at least 1")
    return Options(people=args.people, getfile_delay=args.getfile_delay, db=args.db,
                   pg_url=args.pg_url, skip_echo=args.skip_echo, drafts=max(0, args.drafts),
                   drafts_concurrency=args.drafts_concurrency, drafts_budget=args.drafts_budget,
                   timeout=args.timeout, json_path=args.json, quiet=args.quiet,
                   bot_src=args.bot_src)


async def _run_until_signal(opts: Options) -> dict[str, Any]:
    """run_benchmark, cancelled (so it cleans up) by SIGTERM as asyncio.run does for SIGINT."""
    task = asyncio.current_task()
    assert task is not None
    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await run_benchmark(opts)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table, write --json; exit 2 when it cannot run."""
    opts = parse_args(argv)
    try:
        results = asyncio.run(_run_until_signal(opts))
    except BenchError as exc:
        print(f"intake_e2e: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("intake_e2e: interrupted; bots stopped, temp files removed", file=sys.stderr)
        return 130
    print(format_report(results))
    if opts.json_path is not None:
        opts.json_path.write_text(json.dumps(results, indent=2, default=str))
        print(f"figures written to {opts.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
