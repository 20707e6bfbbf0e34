"""Playground rooms: each its own Bot API, Graph API, database, media folder and bot."""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
import logging
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from bot.app import App, build_app, register_commands
from bot.playground import graphapi as wa
from bot.playground.botapi import DOWNLOAD_LIMIT, FakeBotAPI
from bot.settings import Settings
from models.domain import ShiftedClock

log = logging.getLogger(__name__)

SEED = Path(__file__).resolve().parents[2] / "deploy" / "seed.example.toml"
BOT_TOKEN = "424242:PLAYGROUND"
CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
CODE_LENGTH = 8
#: Telegram's own limits for a photo a user sends to a bot that must download it.
PHOTO_LIMIT = DOWNLOAD_LIMIT
ALBUM_LIMIT = 10


@dataclass(frozen=True)
class Actor:
    """One person on the page: their user id, the chat they type in, and their name."""

    key: str
    user_id: int
    chat_id: int
    first_name: str
    group: bool = False


CITIZEN = Actor("citizen", 5001, 5001, "Budi")
PIC = Actor("pic", 5002, -1005000000001, "Andi", group=True)
ADMIN = Actor("admin", 5003, 5003, "Sari")
WA_CITIZEN = Actor("wa", 0, 0, "Siti")
WA_ID = "6281200000001"
ACTORS = {a.key: a for a in (CITIZEN, PIC, ADMIN, WA_CITIZEN)}
GROUP_TITLE = "Dinas PUPR"
CONTACT_PHONE = "+6281234567890"

#: Preset places in the example regency (Kabupaten Pelalawan, Riau): key, lat, lon, name.
PLACES: tuple[tuple[str, float, float, str], ...] = (
    ("kantor_bupati", 0.3960, 101.8620, "Kantor Bupati Pelalawan, Pangkalan Kerinci"),
    ("lintas_timur", 0.4185, 101.8433, "Jalan Lintas Timur, Pangkalan Kerinci"),
    ("pasar_kerinci", 0.4037, 101.8558, "Pasar Pangkalan Kerinci"),
    ("pangkalan_kuras", 0.2250, 102.0240, "Sorek Satu, Pangkalan Kuras"),
    ("langgam", 0.2600, 101.7200, "Langgam, Kecamatan Langgam"),
    ("teluk_meranti", 0.1960, 102.6020, "Teluk Meranti (Bono)"),
)


class RoomError(Exception):
    """A refused action, with the locale key of the message the page shows."""

    def __init__(self, key: str, status: int = 400, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.status = status
        self.params = params


def new_code() -> str:
    """A room code: 8 characters without look-alikes."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def valid_code(code: str) -> bool:
    return len(code) == CODE_LENGTH and all(c in CODE_ALPHABET for c in code)


def nearest_place(lat: float, lon: float) -> str | None:
    """The preset place within ~2 km of a point, for the playground's reverse geocoder."""
    best = min(PLACES, key=lambda p: (p[1] - lat) ** 2 + (p[2] - lon) ** 2)
    return best[3] if (best[1] - lat) ** 2 + (best[2] - lon) ** 2 < 0.02**2 else None


def check_image(data: bytes) -> str:
    """The image's format (jpeg, png, webp), or RoomError for an empty, big or non-image file."""
    if not data:
        raise RoomError("pg-error-empty")
    if len(data) > PHOTO_LIMIT:
        raise RoomError("pg-error-too-big", 413, limit=PHOTO_LIMIT // (1024 * 1024))
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
            kind = (img.format or "").lower()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise RoomError("pg-error-not-image", 415) from None
    if kind not in ("jpeg", "png", "webp", "gif"):
        raise RoomError("pg-error-not-image", 415)
    return kind


class _SafeHtml(HTMLParser):
    """Telegram's HTML subset in, HTML safe for the page out (other tags escaped)."""

    TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre",
            "blockquote", "tg-spoiler", "span"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href") or ""
            if href.startswith(("http://", "https://", "tg://")):
                self.out.append(f'<a href="{html.escape(href)}" target="_blank" '
                                'rel="noopener noreferrer">')
            else:
                self.out.append("<a>")
        elif tag in self.TAGS:
            self.out.append(f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" or tag in self.TAGS:
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.out.append(html.escape(data))


def safe_html(text: str, parse_mode: str | None) -> str:
    """A message's text as page HTML: Telegram HTML sanitised, anything else escaped."""
    if (parse_mode or "").upper() != "HTML":
        return html.escape(text)
    parser = _SafeHtml()
    parser.feed(text)
    parser.close()
    return "".join(parser.out)


def sample_images() -> dict[str, bytes]:
    """Bundled sample photos (drawn here, so nothing is downloaded): name -> JPEG bytes."""
    from PIL import ImageDraw

    out: dict[str, bytes] = {}
    road = Image.new("RGB", (640, 480), (120, 170, 220))
    draw = ImageDraw.Draw(road)
    draw.rectangle((0, 200, 640, 480), fill=(95, 95, 100))
    draw.polygon([(300, 200), (340, 200), (420, 480), (220, 480)], fill=(110, 110, 115))
    for y in range(220, 480, 60):
        draw.rectangle((316, y, 324, y + 30), fill=(240, 240, 240))
    draw.ellipse((120, 330, 330, 420), fill=(55, 45, 40))
    draw.ellipse((150, 345, 300, 405), fill=(80, 110, 140))
    out["jalan_berlubang"] = _jpeg(road)
    trash = Image.new("RGB", (640, 480), (150, 200, 120))
    draw = ImageDraw.Draw(trash)
    for i, color in enumerate(((200, 60, 60), (60, 60, 200), (230, 230, 230), (90, 60, 30))):
        draw.ellipse((100 + i * 90, 220 + (i % 2) * 50, 260 + i * 90, 360 + (i % 2) * 50),
                     fill=color)
    out["sampah"] = _jpeg(trash)
    lamp = Image.new("RGB", (640, 480), (20, 25, 60))
    draw = ImageDraw.Draw(lamp)
    draw.rectangle((300, 120, 320, 480), fill=(90, 90, 90))
    draw.rectangle((300, 110, 420, 130), fill=(90, 90, 90))
    draw.ellipse((390, 120, 440, 160), fill=(60, 60, 60))
    out["lampu_mati"] = _jpeg(lamp)
    return out


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


@dataclass
class Room:
    """One visitor's world: a Bot API server, the real bot on its own database, a clock."""

    code: str
    folder: Path
    base: Settings
    geocoder_port: int = 0
    api: FakeBotAPI = field(default_factory=FakeBotAPI)
    graph: wa.FakeGraphAPI = field(default_factory=wa.FakeGraphAPI)
    wa_inbound: list[dict[str, Any]] = field(default_factory=list)  # what Siti sent
    clock: ShiftedClock = field(default_factory=ShiftedClock)
    app: App | None = None
    last_seen: float = field(default_factory=time.monotonic)
    closed: bool = False
    callbacks: dict[str, str] = field(default_factory=dict)  # callback id -> actor key
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    build_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # shared by Rooms

    def settings(self) -> Settings:
        """The room's settings: the base ones, pointed at its own API, database and media."""
        values: dict[str, Any] = {
            "BOT_TOKEN": BOT_TOKEN,
            "TELEGRAM_API_URL": self.api.url,
            "TELEGRAM_MODE": "polling",
            "DATABASE_URL": f"sqlite+aiosqlite:///{self.folder / 'aduan.db'}",
            "MEDIA_DIR": str(self.folder / "media"),
            "ADMIN_IDS": str(ADMIN.user_id),
            "ADMIN_CHAT_ID": None,
            "OUTBOX_CHAT_INTERVAL": 0.0,
            "OUTBOX_BACKOFF_BASE": 0.2,
            "GEOCODER_MIN_DELAY": 0.0,
            "WEB_HOST": "127.0.0.1",
            "WEB_PORT": 0,
            "WHATSAPP_TOKEN": wa.TOKEN,
            "WHATSAPP_PHONE_NUMBER_ID": wa.PHONE_ID,
            "WHATSAPP_APP_SECRET": wa.APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": wa.VERIFY_TOKEN,
            "WHATSAPP_API_URL": self.graph.api_base("v22.0"),
        }
        if self.geocoder_port:
            values.update(GEOCODER="nominatim", GEOCODER_SCHEME="http",
                          GEOCODER_DOMAIN=f"127.0.0.1:{self.geocoder_port}",
                          GEOCODER_TIMEOUT=2.0)
        else:
            values["GEOCODER"] = "none"
        data = self.base.model_dump(by_alias=True)
        data.update(values)
        return Settings(_env_file=None, **data)  # type: ignore[call-arg]

    async def start(self) -> None:
        """Start the API server and the bot, seed the example regency, set up the PUPR group."""
        from models.seed import load_seed

        self.folder.mkdir(parents=True, exist_ok=True)
        await self.api.start()
        await self.graph.start()
        async with self.build_lock:  # Alembic's migration context is process-global
            app = await build_app(self.settings(), clock=self.clock)
        self.app = app
        async with app.sessionmaker() as session:
            await load_seed(session, SEED)
        await register_commands(app)
        app.start_polling(poll_timeout=2)
        await app.start_background()
        await self._bind_group()

    async def _bind_group(self) -> None:
        """The admin binds PUPR to the group and adds the PIC, as a real pilot would."""
        mark = self.api.mark()
        self._push(ADMIN, "/opd_bind PUPR", chat=PIC.chat_id)
        await self.api.wait_for("sendMessage", lambda c: c.chat_id == PIC.chat_id, since=mark,
                                timeout=20)
        hello = self._push(PIC, "Halo, saya Andi dari Dinas PUPR.")
        mark = self.api.mark()
        self._push(ADMIN, "/pic_add PUPR", chat=PIC.chat_id, reply_to=hello)
        await self.api.wait_for("sendMessage", lambda c: c.chat_id == PIC.chat_id, since=mark,
                                timeout=20)

    async def close(self) -> None:
        """Stop the bot and the API server and delete the room's files."""
        if self.closed:
            return
        self.closed = True
        if self.app is not None:
            with contextlib.suppress(Exception):
                await self.app.close()
        with contextlib.suppress(Exception):
            await self.api.stop()
        with contextlib.suppress(Exception):
            await self.graph.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def touch(self) -> None:
        self.last_seen = time.monotonic()

    # -- what the people on the page do -------------------------------------------------------

    def _push(self, actor: Actor, text: str | None = None, *, chat: int | None = None,
              reply_to: int | None = None, lang: str = "id", **media: Any) -> int:
        """A message from `actor` (in their chat, or `chat`); returns its message id."""
        chat_id = actor.chat_id if chat is None else chat
        group = chat_id < 0
        update = self.api.make_message(
            chat_id, actor.user_id, text, first_name=actor.first_name, language_code=lang,
            chat_type="supergroup" if group else "private",
            title=GROUP_TITLE if group else None, reply_to_message_id=reply_to, **media)
        self.api.push_update(update)
        return int(update["message"]["message_id"])

    def _reply_target(self, actor: Actor, reply_to: Any) -> int | None:
        if reply_to in (None, ""):
            return None
        try:
            message_id = int(reply_to)
        except (TypeError, ValueError):
            raise RoomError("pg-error-bad-request") from None
        if self.api.message(actor.chat_id, message_id) is None:
            raise RoomError("pg-error-no-message")
        return message_id

    def send_text(self, actor: Actor, text: str, reply_to: Any = None, lang: str = "id") -> int:
        text = text.strip()
        if not text:
            raise RoomError("pg-error-empty-text")
        if len(text) > 4096:
            raise RoomError("pg-error-text-long")
        return self._push(actor, text, reply_to=self._reply_target(actor, reply_to), lang=lang)

    def send_photos(self, actor: Actor, photos: list[tuple[str, bytes]], caption: str = "",
                    reply_to: Any = None, lang: str = "id") -> list[int]:
        """One photo, or an album (2–10 sharing a media_group_id), with an optional caption."""
        if not photos:
            raise RoomError("pg-error-empty")
        if len(photos) > ALBUM_LIMIT:
            raise RoomError("pg-error-album", limit=ALBUM_LIMIT)
        if len(caption) > 1024:
            raise RoomError("pg-error-caption-long")
        kinds = [check_image(data) for _, data in photos]
        target = self._reply_target(actor, reply_to)
        group = str(10**17 + secrets.randbelow(10**17)) if len(photos) > 1 else None
        ids = []
        for i, ((_name, data), kind) in enumerate(zip(photos, kinds, strict=True)):
            ext = "jpg" if kind == "jpeg" else kind
            file_id = self.api.add_file(data, file_path=f"photos/{secrets.token_hex(6)}.{ext}",
                                        mime_type=f"image/{kind}")
            ids.append(self._push(actor, None, photo=self.api.photo_sizes(file_id),
                                  caption=(caption.strip() or None) if i == 0 else None,
                                  media_group_id=group, reply_to=target if i == 0 else None,
                                  lang=lang))
        return ids

    def send_location(self, actor: Actor, lat: Any, lon: Any, lang: str = "id") -> int:
        try:
            latitude, longitude = float(lat), float(lon)
        except (TypeError, ValueError):
            raise RoomError("pg-error-coordinates") from None
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise RoomError("pg-error-coordinates")
        return self._push(actor, None, location=(latitude, longitude), lang=lang)

    def send_contact(self, actor: Actor, lang: str = "id") -> int:
        contact = {"phone_number": CONTACT_PHONE, "first_name": actor.first_name,
                   "user_id": actor.user_id}
        return self._push(actor, None, contact=contact, lang=lang)

    def press(self, actor: Actor, message_id: Any, data: Any, lang: str = "id") -> None:
        """A press on an inline button of a message in the actor's chat."""
        try:
            mid = int(message_id)
        except (TypeError, ValueError):
            raise RoomError("pg-error-bad-request") from None
        message = self.api.message(actor.chat_id, mid)
        if message is None or not isinstance(data, str):
            raise RoomError("pg-error-no-message")
        buttons = [b.get("callback_data") for row in
                   (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
        if data not in buttons:
            raise RoomError("pg-error-old-button")
        update = self.api.make_callback(
            actor.chat_id, actor.user_id, data, mid, first_name=actor.first_name,
            language_code=lang, chat_type="supergroup" if actor.group else "private")
        self.callbacks[update["callback_query"]["id"]] = actor.key
        self.api.push_update(update)

    async def next_working_day(self) -> str:
        """Move the bot's clock one working day forward and run the scheduler's due jobs."""
        assert self.app is not None and self.app.deps is not None
        deps = self.app.deps
        async with self.lock:
            self.clock.advance(timedelta(days=1))
            while not deps.calendar.is_working_day(self.clock.now().astimezone(deps.tz).date()):
                self.clock.advance(timedelta(days=1))
            if self.app.scheduler is not None:
                await self.app.scheduler.run_due()
            self.app.worker.wake()
        return self.clock_text()

    def clock_text(self) -> str:
        assert self.app is not None and self.app.deps is not None
        return self.clock.now().astimezone(self.app.deps.tz).strftime("%Y-%m-%d %H:%M %Z")

    # -- the citizen on WhatsApp (signed webhooks in, the fake Graph API out) -----------------

    @property
    def version(self) -> int:
        """Grows with every Bot API change, Graph API call and WhatsApp message in."""
        return self.api.version + len(self.graph.calls) + len(self.wa_inbound)

    async def wait_changed(self, version: int, timeout: float) -> int:  # noqa: ASYNC109
        """Wait until the room's version passes `version` (or `timeout`); the version."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.version == version and not self.closed and loop.time() < deadline:
            await self.api.wait_changed(self.api.version, min(0.5, deadline - loop.time()))
        return self.version

    async def _wa_post(self, payload: dict[str, Any], view: dict[str, Any]) -> None:
        assert self.app is not None
        status, _ = await wa.post_webhook(f"http://127.0.0.1:{self.app.web_port}",
                                          self.base.whatsapp_webhook_path, payload)
        if status != 200:
            raise RoomError("pg-error-bad-request", 502)
        view.update(id=f"in-{len(self.wa_inbound)}", bot=False, user=0, name=WA_CITIZEN.first_name,
                    at=time.monotonic(), date=int(time.time()))
        self.wa_inbound.append(view)
        self.api._bump()  # noqa: SLF001 - wake the page's long poll

    async def wa_text(self, text: str) -> None:
        text = text.strip()
        if not text:
            raise RoomError("pg-error-empty-text")
        if len(text) > 4096:
            raise RoomError("pg-error-text-long")
        await self._wa_post(wa.text_message(WA_ID, text, name=WA_CITIZEN.first_name),
                            {"html": html.escape(text)})

    async def wa_choose(self, kind: str, choice_id: str, title: str) -> None:
        """A press on a reply button or a pick from a list the bot sent."""
        known = self._wa_choices()
        if (kind, choice_id) not in known:
            raise RoomError("pg-error-old-button")
        title = known[(kind, choice_id)]
        build = wa.button_reply if kind == "button" else wa.list_reply
        await self._wa_post(build(WA_ID, choice_id, title, name=WA_CITIZEN.first_name),
                            {"html": html.escape(title)})

    async def wa_location(self, lat: Any, lon: Any) -> None:
        try:
            latitude, longitude = float(lat), float(lon)
        except (TypeError, ValueError):
            raise RoomError("pg-error-coordinates") from None
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise RoomError("pg-error-coordinates")
        await self._wa_post(wa.location_message(WA_ID, latitude, longitude,
                                                profile_name=WA_CITIZEN.first_name),
                            {"html": "", "location": [latitude, longitude],
                             "place": nearest_place(latitude, longitude)})

    async def wa_photos(self, photos: list[tuple[str, bytes]], caption: str = "") -> None:
        """Photos from Siti: WhatsApp has no albums, so each is a message of its own."""
        if not photos:
            raise RoomError("pg-error-empty")
        if len(photos) > ALBUM_LIMIT:
            raise RoomError("pg-error-album", limit=ALBUM_LIMIT)
        if len(caption) > 1024:
            raise RoomError("pg-error-caption-long")
        kinds = [check_image(data) for _, data in photos]
        for i, ((_name, data), kind) in enumerate(zip(photos, kinds, strict=True)):
            media_id = self.graph.add_media(data, f"image/{kind}")
            text = (caption.strip() or None) if i == 0 else None
            await self._wa_post(wa.image_message(WA_ID, media_id, mime_type=f"image/{kind}",
                                                 caption=text, name=WA_CITIZEN.first_name),
                                {"html": html.escape(text or ""), "wa_media": media_id})

    def _wa_sent(self) -> list[Any]:
        return [c for c in self.graph.calls if c.is_send and c.ok and c.to == WA_ID]

    def _wa_choices(self) -> dict[tuple[str, str], str]:
        """(kind, id) -> title of the buttons and list rows of the newest interactive message."""
        for call in reversed(self._wa_sent()):
            inter = (call.json or {}).get("interactive") or {}
            action = inter.get("action") or {}
            if inter.get("type") == "button":
                return {("button", b["reply"]["id"]): b["reply"]["title"]
                        for b in action.get("buttons", [])}
            if inter.get("type") == "list":
                return {("row", r["id"]): r["title"] for sec in action.get("sections", [])
                        for r in sec.get("rows", [])}
        return {}

    def _wa_messages(self) -> list[dict[str, Any]]:
        """Siti's chat as WhatsApp shows it: her messages and the bot's, in order."""
        now_mono, now = time.monotonic(), time.time()
        out = list(self.wa_inbound)
        for n, call in enumerate(self._wa_sent()):
            body = call.json or {}
            kind = body.get("type") or "text"
            view: dict[str, Any] = {"id": f"out-{n}", "bot": True, "user": 0, "name": "",
                                    "at": call.at, "date": int(now - (now_mono - call.at)),
                                    "html": html.escape(call.text or "")}
            if kind == "interactive":
                inter = body.get("interactive") or {}
                action = inter.get("action") or {}
                if inter.get("type") == "button":
                    view["wa_buttons"] = [{"id": b["reply"]["id"], "title": b["reply"]["title"]}
                                          for b in action.get("buttons", [])]
                elif inter.get("type") == "list":
                    view["wa_list"] = {"button": action.get("button", ""), "rows": [
                        {"id": r["id"], "title": r["title"], "description": r.get("description")}
                        for sec in action.get("sections", []) for r in sec.get("rows", [])]}
                elif inter.get("type") == "location_request_message":
                    view["wa_location_request"] = True
            elif kind == "image":
                media = (body.get("image") or {}).get("id")
                if media:
                    view["wa_media"] = str(media)
            elif kind == "template":
                params = [p.get("text", "") for comp in
                          (body.get("template") or {}).get("components", [])
                          for p in comp.get("parameters", [])]
                view["html"] = html.escape(" · ".join(params))
                view["template"] = (body.get("template") or {}).get("name")
            out.append(view)
        out.sort(key=lambda v: v["at"])
        return [{k: v for k, v in m.items() if k != "at"} for m in out]

    # -- what the page shows ------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Every chat of the room as the page renders it, and the room's clock."""
        chats = {}
        for actor in (CITIZEN, PIC, ADMIN):
            chats[actor.key] = {
                "messages": [self._view(m) for (chat, _), m in self.api.messages.items()
                             if chat == actor.chat_id],
                "keyboard": self._keyboard(actor.chat_id),
                "toasts": self._toasts(actor.key),
            }
        days = self.clock.offset.days
        chats["wa"] = {"messages": self._wa_messages(), "keyboard": None, "toasts": []}
        return {"room": self.code, "version": self.version, "chats": chats,
                "clock": self.clock_text(), "days": days}

    def _view(self, m: dict[str, Any]) -> dict[str, Any]:
        key = (m["chat"]["id"], m["message_id"])
        sender = m.get("from") or {}
        text = m.get("text") or m.get("caption") or ""
        view: dict[str, Any] = {
            "id": m["message_id"],
            "bot": bool(sender.get("is_bot")),
            "user": sender.get("id"),
            "name": sender.get("first_name", ""),
            "html": safe_html(text, self.api.parse_modes.get(key)),
            "edited": "edit_date" in m,
            "album": m.get("media_group_id"),
            "date": m.get("date"),
        }
        if m.get("photo"):
            view["photo"] = m["photo"][-1]["file_id"]
        for kind in ("video", "document", "voice", "audio", "animation", "video_note"):
            if m.get(kind):
                view["file"] = kind
        location = m.get("location")
        if location:
            view["location"] = [location["latitude"], location["longitude"]]
            view["place"] = nearest_place(location["latitude"], location["longitude"])
        if m.get("contact"):
            view["contact"] = m["contact"].get("phone_number")
        reply = m.get("reply_to_message")
        if reply:
            snippet = reply.get("text") or reply.get("caption") or ""
            mode = self.api.parse_modes.get((m["chat"]["id"], reply.get("message_id", 0)))
            if (mode or "").upper() == "HTML":
                snippet = html.unescape(re.sub(r"<[^>]*>", "", snippet))
            view["reply"] = {"id": reply.get("message_id"), "text": snippet[:90],
                             "photo": bool(reply.get("photo"))}
        rows = (m.get("reply_markup") or {}).get("inline_keyboard") or []
        if rows:
            view["buttons"] = [[{"text": b.get("text", ""), "data": b.get("callback_data"),
                                 "url": b.get("url")} for b in row] for row in rows]
        return view

    def _keyboard(self, chat_id: int) -> list[list[dict[str, Any]]] | None:
        """The reply keyboard the bot last set in a chat (None once removed)."""
        for call in reversed(self.api.calls):
            if not call.ok or str(call.chat_id) != str(chat_id):
                continue
            markup = call.params.get("reply_markup")
            if not isinstance(markup, dict):
                continue
            if markup.get("remove_keyboard"):
                return None
            if "keyboard" in markup:
                return [[{"text": b.get("text", "") if isinstance(b, dict) else str(b),
                          "location": bool(isinstance(b, dict) and b.get("request_location")),
                          "contact": bool(isinstance(b, dict) and b.get("request_contact"))}
                         for b in row] for row in markup["keyboard"]]
        return None

    def _toasts(self, actor_key: str) -> list[dict[str, Any]]:
        """Answers to this actor's button presses that carry a text (the last few)."""
        out = []
        for n, call in enumerate(self.api.calls):
            if call.method != "answerCallbackQuery" or not call.ok:
                continue
            text = call.params.get("text")
            if text and self.callbacks.get(str(call.params.get("callback_query_id"))) == actor_key:
                out.append({"n": n, "text": str(text),
                            "alert": bool(call.params.get("show_alert"))})
        return out[-3:]


class Rooms:
    """The open rooms by code; idle ones expire, closed codes are remembered."""

    def __init__(self, base: Settings, root: Path, geocoder_port: int = 0) -> None:
        self.base = base
        self.root = root
        self.geocoder_port = geocoder_port
        self.ttl = base.playground_room_ttl_minutes * 60
        self.max_rooms = base.playground_max_rooms
        self.open: dict[str, Room] = {}
        self.closed: set[str] = set()
        self._starting: dict[str, asyncio.Task[Room]] = {}
        self._build_lock = asyncio.Lock()

    async def create(self) -> Room:
        """A new room, started and seeded; RoomError when the playground is full."""
        self.touch_expired()
        if len(self.open) + len(self._starting) >= self.max_rooms:
            raise RoomError("pg-error-full", 503)
        code = new_code()
        while code in self.open or code in self.closed:
            code = new_code()
        room = Room(code, self.root / code, self.base, self.geocoder_port,
                    build_lock=self._build_lock)
        task = asyncio.create_task(room.start())
        self._starting[code] = task  # type: ignore[assignment]
        try:
            await task
        except BaseException:
            await room.close()
            raise
        finally:
            self._starting.pop(code, None)
        self.open[code] = room
        log.info("playground room %s opened", code)
        return room

    def get(self, code: str, touch: bool = True) -> Room:
        """The open room with this code (touched: someone acted), or RoomError (closed or
        unknown)."""
        room = self.open.get(code)
        if room is None or room.closed:
            raise RoomError("pg-room-closed", 410)
        if touch:
            room.touch()
        return room

    def touch_expired(self) -> list[Room]:
        """Take idle rooms out of the open ones (their close is the caller's); the rooms."""
        now = time.monotonic()
        idle = [r for r in self.open.values() if now - r.last_seen > self.ttl]
        for room in idle:
            self.open.pop(room.code, None)
            self.closed.add(room.code)
        return idle

    async def expire(self) -> int:
        """Close idle rooms; how many."""
        idle = self.touch_expired()
        for room in idle:
            log.info("playground room %s expired", room.code)
            await room.close()
        return len(idle)

    async def close_room(self, code: str) -> None:
        room = self.open.pop(code, None)
        self.closed.add(code)
        if room is not None:
            await room.close()

    async def close_all(self) -> None:
        for code in list(self.open):
            await self.close_room(code)
