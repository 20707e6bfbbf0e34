"""Shared fixtures: a network guard, databases (SQLite always, PostgreSQL when configured),
a fake geocoder, and a harness running the real Dispatcher and Bot against FakeBotAPI."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from PIL import Image
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import App, build_app, register_commands
from bot.settings import Settings
from models.db import make_sessionmaker
from models.domain import ShiftedClock
from tests.fakebotapi import FakeBotAPI

PG_ENV = "ADUAN_TEST_POSTGRES_URL"
ADMIN_ID = 900001


# ---- no test reaches the internet ---------------------------------------------------------

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check(address: Any) -> None:
    if isinstance(address, tuple) and address:
        host = address[0]
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            if host != "localhost":
                raise ConnectionRefusedError(f"test tried to reach {host}: no network") from None
            return
        if not ip.is_loopback:
            raise ConnectionRefusedError(f"test tried to reach {host}: network is off")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check(address)
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


# ---- databases ----------------------------------------------------------------------------


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database: SQLite, or PostgreSQL when ADUAN_TEST_POSTGRES_URL is set.

    Each PostgreSQL test gets a database of its own, so concurrent runs never collide.
    """
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'aduan.db'}"
        return
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL variant skipped")
    name = f"aduan_t_{uuid.uuid4().hex[:16]}"
    base = make_url(url)
    await _admin(url, f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---- a fake Nominatim ---------------------------------------------------------------------


class FakeGeocoder:
    """Answers /reverse like Nominatim; `mode` = ok | error | hang."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict[str, str]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/reverse", self.reverse)
        self.runner = web.AppRunner(app, handler_cancellation=True)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    async def reverse(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(dict(request.query))
        if self.mode == "error":
            return web.Response(status=500, text="boom")
        if self.mode == "hang":
            await asyncio.Event().wait()
        lat, lon = request.query["lat"], request.query["lon"]
        return web.json_response({
            "lat": lat, "lon": lon, "place_id": 1,
            "display_name": "Jalan Lintas Timur, Pangkalan Kerinci, Pelalawan, Riau",
            "address": {"road": "Jalan Lintas Timur"},
        })


@pytest.fixture
async def migrated(db_url: str) -> AsyncIterator[Any]:
    """A sessionmaker on `db_url`'s fresh database, migrated to head; disposed after."""
    from models.db import make_engine, migrate

    engine = make_engine(db_url)
    await migrate(engine)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def geocoder() -> AsyncIterator[FakeGeocoder]:
    fake = FakeGeocoder()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def fake_tg() -> AsyncIterator[FakeBotAPI]:
    server = FakeBotAPI()
    await server.start()
    yield server
    await server.stop()


# ---- media helpers ------------------------------------------------------------------------


def jpeg_bytes(color: str = "red", *, gps: bool = False, size: tuple[int, int] = (64, 48)
               ) -> bytes:
    img = Image.new("RGB", size, color)
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    if gps:
        exif[0x8825] = {1: "S", 2: (0.0, 25.0, 0.0), 3: "E", 4: (101.0, 50.0, 0.0)}
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


# ---- the harness --------------------------------------------------------------------------


class Harness:
    """The real app (Dispatcher + Bot over HTTP) polling a FakeBotAPI; restartable."""

    def __init__(self, fake: FakeBotAPI, settings: Settings) -> None:
        self.fake = fake
        self.settings = settings
        self.app: App | None = None
        self.clock = ShiftedClock()  # kept across restarts; `advance` moves the bot's time

    async def start(self, worker: bool = True) -> None:
        """Build the app and poll; `worker=False` leaves the outbox undelivered (a 'crash').
        The scheduler does not run by itself here: tests call `tick()` after moving time."""
        self.app = await build_app(self.settings, clock=self.clock)
        await register_commands(self.app)
        self.app.start_polling(poll_timeout=1)
        await self.app.start_background(worker=worker, scheduler=False)

    async def tick(self) -> list[str]:
        """Run the scheduler's due jobs once at the harness clock's time; their names."""
        assert self.app is not None and self.app.scheduler is not None
        ran = await self.app.scheduler.run_due()
        self.app.worker.wake()
        return ran

    async def stop(self) -> None:
        if self.app is None:
            return
        await self.app.close()
        self.app = None

    async def restart(self, worker: bool = True) -> None:
        await self.stop()
        await self.start(worker=worker)

    @property
    def sessionmaker(self) -> Any:
        assert self.app is not None
        return self.app.sessionmaker

    # -- citizen actions, each waiting for the bot's answer ------------------------------

    async def say(self, user: int, text: str | None = None, *, replies: int = 1,
                  **kwargs: Any) -> list[str]:
        """A private message from `user`; waits for `replies` bot messages; returns their texts."""
        mark = self.fake.mark()
        self.fake.push_update(self.fake.make_message(user, user, text, **kwargs))
        if replies == 0:
            return []
        calls = await self.fake.wait_for(
            None, lambda c: c.method in ("sendMessage", "editMessageText")
            and c.chat_id == user, count=replies, since=mark)
        return [c.text or "" for c in calls]

    async def press(self, user: int, action: str, arg: str = "", *, replies: int = 1,
                    message_id: int | None = None, data: str | None = None) -> list[str]:
        """Press an intake button (or raw callback `data`); waits for the callback answer."""
        mark = self.fake.mark()
        mid = message_id or self.last_message_id(user)
        payload = data if data is not None else f"in:{action}:{arg}"
        self.fake.push_update(self.fake.make_callback(user, user, payload, mid))
        await self.fake.wait_for("answerCallbackQuery", since=mark)
        calls = [c for c in self.fake.calls[mark:]
                 if c.ok and c.method in ("sendMessage", "editMessageText") and c.chat_id == user]
        assert len(calls) >= replies, [c.short() for c in self.fake.calls[mark:]]
        return [c.text or "" for c in calls]

    def _last_shown(self, chat_id: int) -> Any:
        """The newest message the bot sent, or edited, in a chat (steps may edit in place)."""
        for call in reversed(self.fake.calls):
            if call.ok and call.chat_id == chat_id and call.method in (
                    "sendMessage", "editMessageText", "editMessageReplyMarkup"):
                return call
        raise AssertionError(f"no message sent to {chat_id}")

    def last_message_id(self, chat_id: int) -> int:
        call = self._last_shown(chat_id)
        if call.method == "sendMessage":
            return int(call.result["message_id"])
        return int(call.params["message_id"])

    def last_markup(self, chat_id: int) -> dict[str, Any]:
        return self._last_shown(chat_id).params.get("reply_markup") or {}

    def buttons(self, chat_id: int) -> list[str]:
        """callback_data of every inline button in the last message to chat_id."""
        markup = self.last_markup(chat_id)
        return [b.get("callback_data", "") for row in markup.get("inline_keyboard", [])
                for b in row]


def make_settings(db_url: str, fake: FakeBotAPI, media_dir: Path, geocoder_port: int,
                  **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "BOT_TOKEN": "123456:TEST-TOKEN",
        "TELEGRAM_API_URL": fake.url,
        "DATABASE_URL": db_url,
        "ADMIN_IDS": str(ADMIN_ID),
        "MEDIA_DIR": str(media_dir),
        "GEOCODER_DOMAIN": f"127.0.0.1:{geocoder_port}",
        "GEOCODER_SCHEME": "http",
        "GEOCODER_TIMEOUT": 1.0,
        "OUTBOX_CHAT_INTERVAL": 0.0,
        "OUTBOX_BACKOFF_BASE": 0.05,
        "OUTBOX_MAX_ATTEMPTS": 4,
        "GEOCODER_MIN_DELAY": 0.0,
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": 0,  # /healthz, /metrics (and the WhatsApp webhook) on a free port
        # Most flows file several reports at one pin; tests/test_geo.py turns the offer of
        # open reports nearby on (DUPLICATE_RADIUS_M=150, the deployment default).
        "DUPLICATE_RADIUS_M": 0,
    }
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


SEED = Path(__file__).resolve().parent.parent / "deploy" / "seed.example.toml"


async def start_seeded(fake: FakeBotAPI, settings: Settings) -> Harness:
    """A running harness on a database seeded with deploy/seed.example.toml."""
    from models.seed import load_seed

    h = Harness(fake, settings)
    await h.start()
    async with h.sessionmaker() as session:
        await load_seed(session, SEED)
    return h


@pytest.fixture
async def harness(db_url: str, fake_tg: FakeBotAPI, geocoder: FakeGeocoder, tmp_path: Path,
                  request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """A running bot on a seeded database; extra settings via @pytest.mark.settings(...)."""
    marker = request.node.get_closest_marker("settings")
    extra = dict(marker.kwargs) if marker else {}
    h = await start_seeded(fake_tg, make_settings(db_url, fake_tg, tmp_path / "media",
                                                  geocoder.port, **extra))
    yield h
    await h.stop()


async def seeded_database(db_url: str) -> tuple[Any, Any]:
    """(engine, sessionmaker) on `db_url`, migrated and seeded with deploy/seed.example.toml."""
    from models.db import make_engine, migrate
    from models.seed import load_seed

    engine = make_engine(db_url)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    async with sm() as s:
        await load_seed(s, SEED)
        await s.commit()
    return engine, sm


def new_user() -> int:
    return 100000 + uuid.uuid4().int % 800000


__all__ = ["Harness", "jpeg_bytes", "make_sessionmaker", "new_user", "ADMIN_ID"]
