"""The playground's web server: the page, its JSON API per room, samples and a tiny geocoder."""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import os
import signal
import sys
import tempfile
import webbrowser
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.playground.rooms import (
    ACTORS,
    ALBUM_LIMIT,
    PHOTO_LIMIT,
    PLACES,
    WA_CITIZEN,
    Room,
    RoomError,
    Rooms,
    nearest_place,
    sample_images,
    valid_code,
)
from bot.settings import Settings
from handlers.i18n import Translator

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
LANGS = ("id", "en")
#: Page strings handed to the script (keys in locales/*/playground.ftl).
PAGE_KEYS = (
    "pg-title", "pg-tagline", "pg-room", "pg-new-room", "pg-citizen", "pg-citizen-sub",
    "pg-group", "pg-group-sub", "pg-admin", "pg-admin-sub", "pg-type", "pg-send", "pg-photo",
    "pg-location", "pg-start", "pg-reply-to", "pg-cancel", "pg-edited", "pg-clock",
    "pg-clock-button", "pg-clock-done", "pg-places", "pg-coordinates", "pg-share", "pg-samples",
    "pg-upload", "pg-caption", "pg-contact", "pg-room-closed", "pg-connection", "pg-hint",
    "pg-photo-label", "pg-file-label", "pg-map", "pg-bot-name", "pg-error-too-big",
    "pg-error-not-image", "pg-error-album", "pg-reply", "pg-you", "pg-second-tab", "pg-language",
    "pg-open-map", "pg-hint-group", "pg-hint-admin", "pg-wa", "pg-wa-sub", "pg-channel",
    "pg-wa-template", "pg-wa-location", "pg-hint-wa",
)
DRAIN_LIMIT = 5 * PHOTO_LIMIT
CLIENT_LIMIT = 1024 * 1024  # JSON bodies; photos are streamed and capped (_read_capped)


def page_lang(request: web.Request) -> str:
    lang = request.query.get("lang", "")
    if lang in LANGS:
        return lang
    accept = request.headers.get("Accept-Language", "").lower()
    return "en" if accept.startswith("en") else "id"


class Playground:
    """The rooms and the aiohttp application serving them."""

    def __init__(self, settings: Settings, root: Path) -> None:
        self.settings = settings
        self.translator = Translator(default="id")
        self.rooms = Rooms(settings, root)
        self.samples = sample_images()
        self.app = web.Application(client_max_size=CLIENT_LIMIT)
        self.runner: web.AppRunner | None = None
        self.port = 0
        self._reaper: asyncio.Task[None] | None = None
        r = self.app.router
        r.add_get("/", self.index)
        r.add_get("/healthz", self.healthz)
        r.add_get("/reverse", self.reverse)
        r.add_get("/r/{code}", self.page)
        r.add_get("/static/{name}", self.static)
        r.add_get("/samples/{name}.jpg", self.sample)
        r.add_post("/api/rooms", self.api_new)
        r.add_get("/api/{code}/state", self.api_state)
        r.add_post("/api/{code}/send", self.api_send)
        r.add_post("/api/{code}/photo", self.api_photo)
        r.add_post("/api/{code}/location", self.api_location)
        r.add_post("/api/{code}/contact", self.api_contact)
        r.add_post("/api/{code}/press", self.api_press)
        r.add_post("/api/{code}/clock", self.api_clock)
        r.add_get("/api/{code}/file/{file_id}", self.api_file)
        r.add_post("/api/{code}/wa-choose", self.api_wa_choose)
        r.add_get("/api/{code}/wafile/{media_id}", self.api_wa_file)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> str:
        """Serve on host:port (0 = a free port); the page's URL."""
        self.runner = web.AppRunner(self.app, handle_signals=False, handler_cancellation=True,
                                    shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []  # noqa: SLF001
        self.port = sockets[0].getsockname()[1] if sockets else port
        self.rooms.geocoder_port = self.port
        self._reaper = asyncio.create_task(self._reap(), name="playground-reaper")
        return f"http://{host}:{self.port}/"

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        await self.rooms.close_all()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def _reap(self) -> None:
        """Close idle rooms every little while."""
        every = min(30.0, max(1.0, self.rooms.ttl / 4))
        while True:
            await asyncio.sleep(every)
            try:
                await self.rooms.expire()
            except Exception:  # noqa: BLE001 - one bad room must not stop the reaper
                log.exception("closing idle playground rooms failed")

    # -- helpers ------------------------------------------------------------------------------

    def t(self, lang: str, key: str, **params: Any) -> str:
        return self.translator(lang, key, **params)

    def error(self, request: web.Request, exc: RoomError) -> web.Response:
        lang = page_lang(request)
        return web.json_response({"error": self.t(lang, exc.key, **exc.params), "key": exc.key},
                                 status=exc.status)

    def room(self, request: web.Request, touch: bool = True) -> Room:
        code = request.match_info["code"]
        if not valid_code(code):
            raise RoomError("pg-room-closed", 410)
        return self.rooms.get(code, touch)

    @staticmethod
    async def body(request: web.Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            raise RoomError("pg-error-bad-request") from None
        if not isinstance(data, dict):
            raise RoomError("pg-error-bad-request")
        return data

    @staticmethod
    def actor(data: Any, telegram: bool = False) -> Any:
        """Who acts (`as`); `telegram`: only the Telegram people (presses, contacts)."""
        actor = ACTORS.get(str(data.get("as", "")))
        if actor is None or (telegram and actor is WA_CITIZEN):
            raise RoomError("pg-error-bad-request")
        return actor

    # -- pages --------------------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "rooms": len(self.rooms.open)})

    async def index(self, request: web.Request) -> web.StreamResponse:
        """A new room, then its page."""
        lang = page_lang(request)
        try:
            room = await self.rooms.create()
        except RoomError as exc:
            return web.Response(text=self.t(lang, exc.key), status=exc.status)
        raise web.HTTPFound(f"/r/{room.code}?lang={lang}")

    async def page(self, request: web.Request) -> web.Response:
        lang = page_lang(request)
        code = request.match_info["code"]
        config = {
            "room": code if valid_code(code) else "",
            "lang": lang,
            "t": {key: self.t(lang, key, clock="%clock%", limit="%limit%")
                  .replace("\u2068", "").replace("\u2069", "") for key in PAGE_KEYS},
            "places": [{"key": k, "lat": lat, "lon": lon, "name": name}
                       for k, lat, lon, name in PLACES],
            "samples": sorted(self.samples),
            "limit": PHOTO_LIMIT,
            "album": ALBUM_LIMIT,
            "actors": {k: {"name": a.first_name, "user": a.user_id} for k, a in ACTORS.items()},
        }
        template = (STATIC / "index.html").read_text(encoding="utf-8")
        blob = json.dumps(config, ensure_ascii=False).replace("</", "<\\/")
        body = (template.replace("{{lang}}", lang)
                .replace("{{title}}", html.escape(self.t(lang, "pg-title")))
                .replace("{{config}}", blob))
        return web.Response(text=body, content_type="text/html",
                            headers={"Cache-Control": "no-store"})

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in ("app.js", "app.css"):
            raise web.HTTPNotFound()
        ctype = "text/javascript" if name.endswith(".js") else "text/css"
        return web.Response(body=(STATIC / name).read_bytes(), content_type=ctype)

    async def sample(self, request: web.Request) -> web.StreamResponse:
        data = self.samples.get(request.match_info["name"])
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="image/jpeg")

    async def reverse(self, request: web.Request) -> web.Response:
        """Nominatim's /reverse for the rooms' bots: the preset place near the point."""
        try:
            lat, lon = float(request.query["lat"]), float(request.query["lon"])
        except (KeyError, ValueError):
            return web.json_response({"error": "Unable to geocode"})
        name = nearest_place(lat, lon) or "Kabupaten Pelalawan, Riau"
        if nearest_place(lat, lon):
            name = f"{name}, Kabupaten Pelalawan, Riau"
        return web.json_response({"lat": str(lat), "lon": str(lon), "place_id": 1,
                                  "display_name": name, "address": {"county": "Pelalawan"}})

    # -- the API ------------------------------------------------------------------------------

    async def api_new(self, request: web.Request) -> web.Response:
        try:
            room = await self.rooms.create()
        except RoomError as exc:
            return self.error(request, exc)
        return web.json_response({"room": room.code})

    async def api_state(self, request: web.Request) -> web.Response:
        """The room's chats; with ?v=N, waits (up to 20 s) for something newer than N."""
        try:
            room = self.room(request, touch=False)  # watching is not activity: rooms expire
            version = int(request.query.get("v", "-1"))
        except RoomError as exc:
            return self.error(request, exc)
        except ValueError:
            return self.error(request, RoomError("pg-error-bad-request"))
        if version == room.version:
            await room.wait_changed(version, 20.0)
            await asyncio.sleep(0.05)  # let a burst of calls land together
        if room.closed:
            return self.error(request, RoomError("pg-room-closed", 410))
        return web.json_response(room.state())

    async def _act(self, request: web.Request, action: Any) -> web.Response:
        try:
            room = self.room(request)
            result = await action(room)
        except RoomError as exc:
            return self.error(request, exc)
        return web.json_response({"ok": True, **(result or {})})

    async def api_send(self, request: web.Request) -> web.Response:
        async def act(room: Room) -> dict[str, Any]:
            data = await self.body(request)
            actor = self.actor(data)
            if actor is WA_CITIZEN:
                await room.wa_text(str(data.get("text") or ""))
                return {}
            mid = room.send_text(actor, str(data.get("text") or ""),
                                 data.get("reply_to"), page_lang(request))
            return {"id": mid}

        return await self._act(request, act)

    async def api_location(self, request: web.Request) -> web.Response:
        async def act(room: Room) -> dict[str, Any]:
            data = await self.body(request)
            actor = self.actor(data)
            if actor is WA_CITIZEN:
                await room.wa_location(data.get("lat"), data.get("lon"))
                return {}
            mid = room.send_location(actor, data.get("lat"), data.get("lon"),
                                     page_lang(request))
            return {"id": mid}

        return await self._act(request, act)

    async def api_contact(self, request: web.Request) -> web.Response:
        async def act(room: Room) -> dict[str, Any]:
            data = await self.body(request)
            return {"id": room.send_contact(self.actor(data, True), page_lang(request))}

        return await self._act(request, act)

    async def api_press(self, request: web.Request) -> web.Response:
        async def act(room: Room) -> None:
            data = await self.body(request)
            room.press(self.actor(data, True), data.get("message_id"), data.get("data"),
                       page_lang(request))

        return await self._act(request, act)

    async def api_wa_choose(self, request: web.Request) -> web.Response:
        """Siti presses a reply button or picks a list row."""

        async def act(room: Room) -> None:
            data = await self.body(request)
            kind = str(data.get("kind") or "")
            if kind not in ("button", "row"):
                raise RoomError("pg-error-bad-request")
            await room.wa_choose(kind, str(data.get("id") or ""), "")

        return await self._act(request, act)

    async def api_wa_file(self, request: web.Request) -> web.StreamResponse:
        try:
            room = self.room(request, touch=False)
        except RoomError as exc:
            return self.error(request, exc)
        media = room.graph.media.get(request.match_info["media_id"])
        if media is None:
            raise web.HTTPNotFound()
        return web.Response(body=media.content, content_type=media.mime_type or "image/jpeg",
                            headers={"Cache-Control": "private, max-age=3600"})

    async def api_clock(self, request: web.Request) -> web.Response:
        async def act(room: Room) -> dict[str, Any]:
            return {"clock": await room.next_working_day()}

        return await self._act(request, act)

    async def api_photo(self, request: web.Request) -> web.Response:
        """Multipart: as, caption, reply_to, and `file` parts or `sample` names."""

        async def act(room: Room) -> dict[str, Any]:
            fields: dict[str, str] = {}
            photos: list[tuple[str, bytes]] = []
            if not request.content_type.startswith("multipart/"):
                raise RoomError("pg-error-bad-request")
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, aiohttp.BodyPartReader):
                    continue
                if part.name == "file":
                    photos.append((part.filename or "photo", await _read_capped(part)))
                elif part.name == "sample":
                    name = (await part.text()).strip()
                    if name not in self.samples:
                        raise RoomError("pg-error-bad-request")
                    photos.append((f"{name}.jpg", self.samples[name]))
                elif part.name in ("as", "caption", "reply_to"):
                    fields[part.name] = (await part.text())[:2000]
            actor = self.actor(fields)
            if actor is WA_CITIZEN:
                await room.wa_photos(photos, fields.get("caption", ""))
                return {}
            ids = room.send_photos(actor, photos, fields.get("caption", ""),
                                   fields.get("reply_to"), page_lang(request))
            return {"ids": ids}

        return await self._act(request, act)

    async def api_file(self, request: web.Request) -> web.StreamResponse:
        try:
            room = self.room(request, touch=False)
        except RoomError as exc:
            return self.error(request, exc)
        stored = room.api.files.get(request.match_info["file_id"])
        if stored is None:
            raise web.HTTPNotFound()
        return web.Response(body=stored.content,
                            content_type=stored.mime_type or "application/octet-stream",
                            headers={"Cache-Control": "private, max-age=3600"})


def _has_gui() -> bool:
    """Whether a graphical browser can open (never a text browser taking over the terminal)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


async def _read_capped(part: Any) -> bytes:
    """A file part's bytes, refused (RoomError) as soon as it passes the photo limit."""
    chunks, total = [], 0
    while chunk := await part.read_chunk(256 * 1024):
        total += len(chunk)
        if total <= PHOTO_LIMIT:
            chunks.append(chunk)
        elif total > DRAIN_LIMIT:
            break  # read (and drop) the rest up to here, so the browser gets the answer
    if total > PHOTO_LIMIT:
        raise RoomError("pg-error-too-big", 413, limit=PHOTO_LIMIT // (1024 * 1024))
    return b"".join(chunks)


async def run_playground(settings: Settings, port: int | None = None,
                         open_browser: bool | None = None) -> None:
    """Serve the playground until SIGINT/SIGTERM; prints the page's address."""
    for noisy in ("aiohttp.access", "aiogram.event"):  # every fake API call, every update
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.root.level))
    root_dir = settings.playground_dir
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if root_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="aduan-playground-")
        root_dir = Path(tmp.name)
    root_dir.mkdir(parents=True, exist_ok=True)
    playground = Playground(settings, root_dir)
    url = await playground.start(settings.playground_host,
                                 settings.playground_port if port is None else port)
    print(f"Aduan playground: {url}  (Ctrl+C to stop)", flush=True)
    if (settings.playground_browser if open_browser is None else open_browser) and _has_gui():
        with contextlib.suppress(Exception):
            await asyncio.to_thread(webbrowser.open, url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await playground.stop()
        if tmp is not None:
            tmp.cleanup()
