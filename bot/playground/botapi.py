"""A Telegram Bot API–compatible server: the tests' fake and the playground's built-in API.

The server is a small aiohttp application listening on 127.0.0.1 on a random free port.  The
real aiogram ``Bot`` talks to it over HTTP::

    async with FakeBotAPI() as server:
        session = AiohttpSession(api=TelegramAPIServer.from_base(server.url))
        bot = Bot("42:TEST", session=session)
        await bot.send_message(1, "hi")
        (call,) = await server.wait_for("sendMessage")

What it does:

* ``POST|GET /bot{token}/{method}`` for API calls (any token is accepted) and
  ``GET /file/bot{token}/{file_path}`` for file downloads.
* Parameters are read from the query string, JSON bodies, urlencoded forms and multipart
  forms.  aiogram sends every value as a string (objects and arrays JSON-encoded, numbers and
  booleans JSON-encoded too), so values are decoded back: JSON objects/arrays always, and JSON
  numbers/booleans for every parameter that is not a known free-text parameter (``text``,
  ``caption``, ``data``, file ids, ...).  So ``params["chat_id"]`` is an ``int``.
* Every call except ``getUpdates`` is recorded as a :class:`Call` in ``server.calls``.
* ``getUpdates`` is a real long poll fed by :meth:`FakeBotAPI.push_update`.
* Results are shaped like Telegram's so that aiogram's pydantic types parse them.
* Faults (error answers, slow answers) can be injected per method.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import itertools
import json
import mimetypes
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final

from aiohttp import web

__all__ = [
    "AUTO",
    "BOT_USER",
    "Call",
    "FakeBotAPI",
    "StoredFile",
    "make_callback",
    "make_chat",
    "make_message",
    "make_user",
    "photo_sizes",
]

BOT_USER: Final[dict[str, Any]] = {
    "id": 42,
    "is_bot": True,
    "first_name": "Aduan",
    "username": "aduan_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}

#: Bot API refuses ``getFile`` for files bigger than this (the cloud API limit is 20 MB).
DOWNLOAD_LIMIT: Final[int] = 20 * 1024 * 1024

#: First message id handed out per chat.
FIRST_MESSAGE_ID: Final[int] = 1000

# Update types that Telegram does not deliver unless explicitly listed in allowed_updates.
_OPT_IN_UPDATES: Final[frozenset[str]] = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)

# Parameters that are free text / opaque ids and must never be JSON-decoded to numbers.
_STRING_PARAMS: Final[frozenset[str]] = frozenset(
    {
        "action",
        "address",
        "animation",
        "audio",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "currency",
        "custom_emoji_id",
        "custom_title",
        "data",
        "description",
        "document",
        "emoji",
        "explanation",
        "file_id",
        "first_name",
        "foursquare_id",
        "foursquare_type",
        "google_place_id",
        "google_place_type",
        "inline_message_id",
        "inline_query_id",
        "invite_link",
        "ip_address",
        "language_code",
        "last_name",
        "message_effect_id",
        "name",
        "next_offset",
        "parse_mode",
        "payload",
        "phone_number",
        "photo",
        "pre_checkout_query_id",
        "provider_token",
        "query",
        "question",
        "secret_token",
        "shipping_query_id",
        "short_description",
        "start_parameter",
        "sticker",
        "text",
        "thumbnail",
        "title",
        "url",
        "vcard",
        "video",
        "video_note",
        "voice",
        "web_app_query_id",
    }
)

# Default error descriptions, worded like Telegram's.
_ERROR_DESCRIPTIONS: Final[dict[int, str]] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: (
        "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running"
    ),
    413: "Request Entity Too Large",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

# Media kinds: (folder used for file_path, default file extension).
_MEDIA_KINDS: Final[dict[str, tuple[str, str]]] = {
    "photo": ("photos", ".jpg"),
    "video": ("videos", ".mp4"),
    "document": ("documents", ""),
    "audio": ("music", ".mp3"),
    "voice": ("voice", ".oga"),
    "animation": ("animations", ".mp4"),
    "video_note": ("video_notes", ".mp4"),
    "sticker": ("stickers", ".webp"),
}

# Methods whose text/caption counts as "sent to the chat" for FakeBotAPI.texts().
_SEND_METHODS: Final[frozenset[str]] = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendVideo",
        "sendDocument",
        "sendAudio",
        "sendVoice",
        "sendAnimation",
        "sendVideoNote",
        "sendSticker",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendDice",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
    }
)
_EDIT_METHODS: Final[frozenset[str]] = frozenset({"editMessageText", "editMessageCaption"})

# Methods that simply answer ``true``.
_TRUE_METHODS: Final[tuple[str, ...]] = (
    "answerCallbackQuery",
    "answerInlineQuery",
    "answerPreCheckoutQuery",
    "answerShippingQuery",
    "approveChatJoinRequest",
    "banChatMember",
    "close",
    "declineChatJoinRequest",
    "deleteMessages",
    "leaveChat",
    "logOut",
    "pinChatMessage",
    "restrictChatMember",
    "sendChatAction",
    "setChatDescription",
    "setChatMenuButton",
    "setChatTitle",
    "setMessageReaction",
    "setMyDefaultAdministratorRights",
    "setMyDescription",
    "setMyName",
    "setMyShortDescription",
    "unbanChatMember",
    "unpinAllChatMessages",
    "unpinChatMessage",
)


class _Auto:
    """Sentinel type: "compute this value automatically"."""

    _instance: _Auto | None = None

    def __new__(cls) -> _Auto:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "AUTO"


AUTO: Final = _Auto()

_message_ids = itertools.count(1)
_callback_ids = itertools.count(1)


def _now() -> int:
    return int(time.time())


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _unique_id(file_id: str) -> str:
    """Derive a stable, short ``file_unique_id`` from a ``file_id``."""
    return "AQAD" + hashlib.sha1(file_id.encode()).hexdigest()[:12]


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _decode_value(key: str, value: Any) -> Any:
    """Turn a form value (always a string) back into the JSON value it encodes."""
    if not isinstance(value, str) or key in _STRING_PARAMS:
        return value
    stripped = value.strip()
    if not stripped or stripped[0] not in "[{-0123456789tf":
        return value
    try:
        decoded = json.loads(stripped, parse_constant=_reject_constant)
    except ValueError:
        return value
    if isinstance(decoded, dict | list | bool | int | float):
        return decoded
    return value


def _same_chat(a: Any, b: Any) -> bool:
    return a is not None and b is not None and str(a) == str(b)


def _command_entities(text: str | None) -> list[dict[str, Any]] | None:
    """A ``bot_command`` entity over a leading ``/command`` (as Telegram adds it)."""
    if not text or not text.startswith("/") or len(text) < 2 or text[1].isspace():
        return None
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": _utf16_len(command)}]


# ---------------------------------------------------------------------------------------------
# Builders for update bodies
# ---------------------------------------------------------------------------------------------


def make_user(
    user_id: int,
    *,
    first_name: str = "Budi",
    username: str | None = None,
    language_code: str | None = "id",
    is_bot: bool = False,
) -> dict[str, Any]:
    """A ``User`` dict."""
    user: dict[str, Any] = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
    if username is not None:
        user["username"] = username
    if language_code is not None:
        user["language_code"] = language_code
    return user


def make_chat(
    chat_id: int | str,
    *,
    chat_type: str = "private",
    first_name: str = "Budi",
    username: str | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """A ``Chat`` dict.

    Non-private chats get a negative id (``-abs(chat_id)``) and are reported as
    ``"supergroup"`` (``chat_type="channel"`` stays a channel) with a title.
    A string chat id (``"@channel"``) becomes a channel with a derived negative id.
    """
    if isinstance(chat_id, str):
        if chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        else:
            name = chat_id.lstrip("@")
            digest = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)
            return {
                "id": -(1_000_000_000_000 + digest),
                "type": "channel",
                "title": title or name,
                "username": name,
            }
    if chat_type == "private":
        chat: dict[str, Any] = {"id": chat_id, "type": "private", "first_name": first_name}
        if username is not None:
            chat["username"] = username
        return chat
    kind = "channel" if chat_type == "channel" else "supergroup"
    return {"id": -abs(chat_id), "type": kind, "title": title or "Test Group"}


def photo_sizes(file_id: str, size: int | None = None) -> list[dict[str, Any]]:
    """A ``PhotoSize`` list like Telegram's: thumbnails first, full size (``file_id``) last."""
    shapes = ((90, 67, 0.02), (320, 240, 0.1), (800, 600, 0.4), (1280, 960, 1.0))
    result: list[dict[str, Any]] = []
    for width, height, share in shapes:
        fid = file_id if share == 1.0 else f"{file_id}-{width}"
        item: dict[str, Any] = {
            "file_id": fid,
            "file_unique_id": _unique_id(fid),
            "width": width,
            "height": height,
        }
        if size is not None:
            item["file_size"] = max(1, int(size * share))
        result.append(item)
    return result


def _media_dict(
    kind: str,
    file_id: str,
    *,
    file_size: int | None = None,
    file_name: str | None = None,
    mime_type: str | None = None,
) -> dict[str, Any]:
    """A Video/Document/Voice/... dict with every field aiogram requires."""
    obj: dict[str, Any] = {"file_id": file_id, "file_unique_id": _unique_id(file_id)}
    if kind in ("video", "animation"):
        obj.update(width=1280, height=720, duration=10)
    elif kind in ("voice", "audio"):
        obj["duration"] = 5
    elif kind == "video_note":
        obj.update(length=240, duration=5)
    elif kind == "sticker":
        obj.update(type="regular", width=512, height=512, is_animated=False, is_video=False)
    if file_name is not None and kind in ("video", "document", "audio", "animation"):
        obj["file_name"] = file_name
    if mime_type is not None and kind != "sticker":
        obj["mime_type"] = mime_type
    if file_size is not None:
        obj["file_size"] = file_size
    return obj


# Resolver: (kind, file_id) -> media value for a message (photo list or media dict).
_MediaResolver = Callable[[str, str], Any]


def _default_resolver(kind: str, file_id: str) -> Any:
    if kind == "photo":
        return photo_sizes(file_id)
    return _media_dict(kind, file_id)


def _build_message(
    chat_id: int | str,
    user_id: int,
    text: str | None,
    *,
    message_id: int,
    first_name: str,
    username: str | None,
    language_code: str | None,
    chat_type: str,
    title: str | None,
    reply_to_message: dict[str, Any] | None,
    message_thread_id: int | None,
    media: dict[str, Any],
    media_group_id: str | None,
    caption: str | None,
    entities: Any,
    caption_entities: Any,
    resolver: _MediaResolver,
) -> dict[str, Any]:
    chat = make_chat(
        chat_id, chat_type=chat_type, first_name=first_name, username=username, title=title
    )
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": _now(),
        "chat": chat,
        "from": make_user(
            user_id, first_name=first_name, username=username, language_code=language_code
        ),
    }
    if message_thread_id is not None:
        message["message_thread_id"] = message_thread_id
        message["is_topic_message"] = True
        if chat["type"] == "supergroup":
            chat["is_forum"] = True
    if reply_to_message is not None:
        message["reply_to_message"] = reply_to_message
    if media_group_id is not None:
        message["media_group_id"] = media_group_id
    if text is not None:
        message["text"] = text
        ents = _command_entities(text) if entities is AUTO else entities
        if ents:
            message["entities"] = ents
    if caption is not None:
        message["caption"] = caption
        ents = _command_entities(caption) if caption_entities is AUTO else caption_entities
        if ents:
            message["caption_entities"] = ents

    for kind in ("photo", "video", "document", "voice", "sticker"):
        value = media.get(kind)
        if value is None:
            continue
        message[kind] = resolver(kind, value) if isinstance(value, str) else value
    location = media.get("location")
    if location is not None:
        if isinstance(location, dict):
            message["location"] = location
        else:
            lat, lon = location
            message["location"] = {"latitude": lat, "longitude": lon}
    venue = media.get("venue")
    if venue is not None:
        message["venue"] = venue
        if "location" not in message and isinstance(venue.get("location"), dict):
            message["location"] = venue["location"]
    contact = media.get("contact")
    if contact is not None:
        if isinstance(contact, str):
            contact = {"phone_number": contact, "first_name": first_name, "user_id": user_id}
        message["contact"] = contact
    return message


def make_message(
    chat_id: int | str,
    user_id: int,
    text: str | None = None,
    *,
    first_name: str = "Budi",
    username: str | None = None,
    language_code: str | None = "id",
    chat_type: str = "private",
    title: str | None = None,
    message_id: int | None = None,
    reply_to_message_id: int | None = None,
    message_thread_id: int | None = None,
    photo: str | list[dict[str, Any]] | None = None,
    video: str | dict[str, Any] | None = None,
    document: str | dict[str, Any] | None = None,
    voice: str | dict[str, Any] | None = None,
    location: dict[str, Any] | tuple[float, float] | None = None,
    venue: dict[str, Any] | None = None,
    contact: str | dict[str, Any] | None = None,
    sticker: str | dict[str, Any] | None = None,
    media_group_id: str | None = None,
    caption: str | None = None,
    entities: list[dict[str, Any]] | None | _Auto = AUTO,
    caption_entities: list[dict[str, Any]] | None | _Auto = AUTO,
) -> dict[str, Any]:
    """A ``{"message": {...}}`` update body (without ``update_id``) from a user.

    Media arguments accept either a file id (expanded into a plausible object: a PhotoSize
    list for ``photo``) or the ready-made Telegram object.  ``location`` accepts
    ``(latitude, longitude)``; ``contact`` accepts a phone number (shared own contact).
    ``entities=AUTO`` adds a ``bot_command`` entity when the text starts with ``/``.

    :meth:`FakeBotAPI.make_message` is the same but draws message ids from the server's per-chat
    counter and fills file sizes/names of files registered with :meth:`FakeBotAPI.add_file`.
    """
    chat = make_chat(chat_id, chat_type=chat_type, title=title)
    reply = None
    if reply_to_message_id is not None:
        reply = {"message_id": reply_to_message_id, "date": _now(), "chat": chat}
    message = _build_message(
        chat_id,
        user_id,
        text,
        message_id=message_id if message_id is not None else next(_message_ids),
        first_name=first_name,
        username=username,
        language_code=language_code,
        chat_type=chat_type,
        title=title,
        reply_to_message=reply,
        message_thread_id=message_thread_id,
        media={
            "photo": photo,
            "video": video,
            "document": document,
            "voice": voice,
            "location": location,
            "venue": venue,
            "contact": contact,
            "sticker": sticker,
        },
        media_group_id=media_group_id,
        caption=caption,
        entities=entities,
        caption_entities=caption_entities,
        resolver=_default_resolver,
    )
    return {"message": message}


def make_callback(
    chat_id: int | str,
    user_id: int,
    data: str,
    message_id: int,
    *,
    first_name: str = "Budi",
    username: str | None = None,
    language_code: str | None = "id",
    chat_type: str = "private",
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``{"callback_query": {...}}`` update body (without ``update_id``).

    ``message`` is the message carrying the pressed button; by default a minimal message sent
    by the bot with ``message_id`` in that chat.  :meth:`FakeBotAPI.make_callback` uses the
    message the bot really sent (text and reply_markup included) when it knows it.
    """
    chat = make_chat(chat_id, chat_type=chat_type)
    if message is None:
        message = {
            "message_id": message_id,
            "date": _now(),
            "chat": chat,
            "from": dict(BOT_USER),
        }
    query_id = f"{4_000_000_000_000_000 + next(_callback_ids) * 7919}"
    return {
        "callback_query": {
            "id": query_id,
            "from": make_user(
                user_id, first_name=first_name, username=username, language_code=language_code
            ),
            "message": message,
            "chat_instance": str(int(hashlib.sha1(str(chat["id"]).encode()).hexdigest()[:15], 16)),
            "data": data,
        }
    }


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


@dataclass
class Call:
    """One recorded API call.

    ``failed`` is true for injected faults, API errors (unknown method, bad file id, ...) and
    delayed calls whose client went away.  ``pending`` is true while a delayed (``hang_next``)
    call has not been answered yet.  ``ok`` means: answered successfully.
    """

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)
    token: str = ""
    failed: bool = False
    status: int = 200
    error: str | None = None
    result: Any = None
    delayed: float = 0.0
    pending: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.pending

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")

    @property
    def text(self) -> str | None:
        """``text`` or ``caption`` of the call, if any."""
        value = self.params.get("text", self.params.get("caption"))
        return value if isinstance(value, str) else None

    def upload(self, name: str) -> tuple[str, bytes] | None:
        """The uploaded ``(filename, bytes)`` for parameter ``name`` (``attach://`` resolved)."""
        value = self.params.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            return self.files.get(value.removeprefix("attach://"))
        return self.files.get(name)

    def short(self) -> str:
        """One-line description for assertion messages."""
        shown = {k: v for k, v in self.params.items() if k != "reply_markup"}
        text = json.dumps(shown, ensure_ascii=False, default=str)
        if len(text) > 160:
            text = text[:157] + "..."
        state = "pending" if self.pending else ""
        if self.failed:
            state = f"FAILED {self.status}: {self.error}"
        extra = f" files={list(self.files)}" if self.files else ""
        return f"{self.method} {text}{extra} {state}".rstrip()


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    content: bytes
    file_path: str
    file_size: int
    mime_type: str | None = None

    @property
    def file_name(self) -> str:
        return self.file_path.rsplit("/", 1)[-1]


@dataclass
class _Fault:
    kind: str  # "fail" or "hang"
    remaining: int
    status: int = 429
    description: str = ""
    parameters: dict[str, Any] | None = None
    seconds: float = 0.0
    chat_id: int | None = None  # only calls to this chat, when set


class _ApiError(Exception):
    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


_Handler = Callable[["Call"], Any]


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


class FakeBotAPI:
    """Fake Telegram Bot API server (see the module docstring)."""

    access_log = True  # aiohttp's access log of every call (off where calls are many)

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        download_limit: int = DOWNLOAD_LIMIT,
        strict_edits: bool = False,
    ) -> None:
        """
        :param host: interface to bind (a random free port is used)
        :param download_limit: ``getFile`` answers "file is too big" above this size
        :param strict_edits: answer edits like Telegram does for unknown messages
            ("message to edit not found") and no-op edits ("message is not modified")
        """
        self.host = host
        self.download_limit = download_limit
        self.strict_edits = strict_edits
        self.bot_user: dict[str, Any] = dict(BOT_USER)
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []  # queued, not yet confirmed
        self.files: dict[str, StoredFile] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # (chat id, message id)
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.webhook_url = ""
        self.allowed_updates: list[str] | None = None
        self.get_updates_count = 0
        self.parse_modes: dict[tuple[int, int], str] = {}  # (chat id, message id) -> mode
        self.version = 0  # grows on every recorded call and pushed update (see wait_changed)

        self._port = 0
        self._runner: web.AppRunner | None = None
        self._next_update_id = 1
        self._file_counter = itertools.count(1)
        self._message_counters: dict[int, itertools.count[int]] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._overrides: dict[str, Any] = {}
        self._calls_cond = asyncio.Condition()
        self._updates_changed = asyncio.Event()
        self._version_changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._handlers: dict[str, tuple[str, _Handler]] = {}
        self._register_handlers()

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT`` (for ``TelegramAPIServer.from_base``)."""
        if not self._port:
            raise RuntimeError("FakeBotAPI is not started")
        return f"http://{self.host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{file_path:.+}", self._handle_file)
        # handler_cancellation: a client that gives up (timeout, polling stopped) cancels
        # its long poll / delayed answer instead of leaving it running until shutdown.
        self._runner = web.AppRunner(
            app, handle_signals=False, handler_cancellation=True, shutdown_timeout=1.0,
            **({} if self.access_log else {"access_log": None}),
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self._port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()

    async def stop(self) -> None:
        self._closing.set()
        self._wake_pollers()
        self._version_changed.set()  # watchers (wait_changed) answer at once
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- updates --------------------------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for ``getUpdates`` and wake pending long polls; return its id."""
        update = dict(update)
        update_id = update.get("update_id")
        if update_id is None:
            update_id = self._next_update_id
            update["update_id"] = update_id
        self._next_update_id = max(self._next_update_id, update_id + 1)
        self.updates.append(update)
        self._wake_pollers()
        self._bump()
        return update_id

    def _bump(self) -> None:
        """Count a change and wake the watchers of :meth:`wait_changed`."""
        self.version += 1
        self._version_changed.set()
        self._version_changed = asyncio.Event()

    async def wait_changed(self, version: int, timeout: float) -> int:  # noqa: ASYNC109
        """Wait until ``self.version`` passes ``version`` (or ``timeout``); the version."""
        if self.version == version:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._version_changed.wait(), timeout)
        return self.version

    def make_message(
        self,
        chat_id: int | str,
        user_id: int,
        text: str | None = None,
        *,
        first_name: str = "Budi",
        username: str | None = None,
        language_code: str | None = "id",
        chat_type: str = "private",
        title: str | None = None,
        message_id: int | None = None,
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        photo: str | list[dict[str, Any]] | None = None,
        video: str | dict[str, Any] | None = None,
        document: str | dict[str, Any] | None = None,
        voice: str | dict[str, Any] | None = None,
        location: dict[str, Any] | tuple[float, float] | None = None,
        venue: dict[str, Any] | None = None,
        contact: str | dict[str, Any] | None = None,
        sticker: str | dict[str, Any] | None = None,
        media_group_id: str | None = None,
        caption: str | None = None,
        entities: list[dict[str, Any]] | None | _Auto = AUTO,
        caption_entities: list[dict[str, Any]] | None | _Auto = AUTO,
    ) -> dict[str, Any]:
        """Like module-level :func:`make_message`, but server-aware.

        Message ids come from the same per-chat counter as the bot's messages; media given
        as a file id of a registered file get its real size/name; ``reply_to_message`` is the
        stored message (e.g. the bot's prompt, with ``from`` = the bot) when known.
        """
        chat = make_chat(chat_id, chat_type=chat_type, title=title)
        reply = None
        if reply_to_message_id is not None:
            known = self.messages.get((chat["id"], reply_to_message_id))
            if known is not None:
                reply = {k: v for k, v in known.items() if k != "reply_to_message"}
            else:
                reply = {"message_id": reply_to_message_id, "date": _now(), "chat": chat}
        message = _build_message(
            chat_id,
            user_id,
            text,
            message_id=message_id if message_id is not None else self._next_message_id(chat),
            first_name=first_name,
            username=username,
            language_code=language_code,
            chat_type=chat_type,
            title=title,
            reply_to_message=reply,
            message_thread_id=message_thread_id,
            media={
                "photo": photo,
                "video": video,
                "document": document,
                "voice": voice,
                "location": location,
                "venue": venue,
                "contact": contact,
                "sticker": sticker,
            },
            media_group_id=media_group_id,
            caption=caption,
            entities=entities,
            caption_entities=caption_entities,
            resolver=self._resolve_media,
        )
        self.messages[(message["chat"]["id"], message["message_id"])] = message
        return {"message": message}

    def make_callback(
        self,
        chat_id: int | str,
        user_id: int,
        data: str,
        message_id: int,
        *,
        first_name: str = "Budi",
        username: str | None = None,
        language_code: str | None = "id",
        chat_type: str = "private",
    ) -> dict[str, Any]:
        """Like module-level :func:`make_callback`, using the stored message when known."""
        chat = make_chat(chat_id, chat_type=chat_type)
        known = self.messages.get((chat["id"], message_id))
        return make_callback(
            chat_id,
            user_id,
            data,
            message_id,
            first_name=first_name,
            username=username,
            language_code=language_code,
            chat_type=chat_type,
            message=copy.deepcopy(known) if known is not None else None,
        )

    async def send_text(
        self, chat_id: int | str, text: str, *, user_id: int | None = None, **kwargs: Any
    ) -> int:
        """Push a text message from a user (default: ``user_id = chat_id``); return update_id."""
        if user_id is None:
            user_id = abs(int(chat_id))
        return self.push_update(self.make_message(chat_id, user_id, text, **kwargs))

    async def press(
        self,
        chat_id: int | str,
        data: str,
        message_id: int,
        *,
        user_id: int | None = None,
        **kwargs: Any,
    ) -> int:
        """Push a callback query (button press) from a user; return update_id."""
        if user_id is None:
            user_id = abs(int(chat_id))
        return self.push_update(self.make_callback(chat_id, user_id, data, message_id, **kwargs))

    # -- files ----------------------------------------------------------------------------------

    def add_file(
        self,
        content: bytes,
        *,
        file_path: str | None = None,
        file_size: int | None = None,
        mime_type: str | None = None,
    ) -> str:
        """Register a downloadable file; return its ``file_id``.

        ``file_size`` overrides the reported size (e.g. claim 25 MB without storing 25 MB).
        """
        n = next(self._file_counter)
        file_id = f"BQACAgUAAxkBAAI{n:06d}{secrets.token_hex(6)}"
        if file_path is None:
            file_path = f"documents/file_{n}"
        if mime_type is None:
            mime_type = mimetypes.guess_type(file_path)[0]
        self.files[file_id] = StoredFile(
            file_id=file_id,
            file_unique_id=_unique_id(file_id),
            content=content,
            file_path=file_path,
            file_size=len(content) if file_size is None else file_size,
            mime_type=mime_type,
        )
        return file_id

    def photo_sizes(self, file_id: str) -> list[dict[str, Any]]:
        """PhotoSize list for a registered (or unknown) file id."""
        stored = self.files.get(file_id)
        return photo_sizes(file_id, stored.file_size if stored else None)

    # -- fault injection ------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = None,
        description: str | None = None,
        times: int = 1,
        parameters: dict[str, Any] | None = None,
        chat_id: int | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with a Telegram-style error.

        With ``chat_id``, only calls to that chat meet the fault.

        429 gets ``parameters.retry_after`` (default 1 s); 403 defaults to "bot was blocked";
        ``parameters`` adds e.g. ``{"migrate_to_chat_id": ...}``.
        """
        params = dict(parameters or {})
        if status == HTTPStatus.TOO_MANY_REQUESTS and retry_after is None:
            retry_after = 1
        if retry_after is not None:
            params["retry_after"] = retry_after
        if description is None:
            template = _ERROR_DESCRIPTIONS.get(status) or HTTPStatus(status).phrase
            description = template.format(retry_after=retry_after)
        self._add_fault(
            method,
            _Fault(
                kind="fail",
                remaining=times,
                status=status,
                description=description,
                parameters=params or None,
                chat_id=chat_id,
            ),
        )

    def hang_next(self, method: str, seconds: float, times: int = 1,
                  chat_id: int | None = None) -> None:
        """Delay the answer of the next ``times`` calls of ``method`` by ``seconds``.

        The call is recorded (``pending``) when it arrives; after the delay it is processed
        normally.  If the client gives up first, the call is marked failed.  With ``chat_id``,
        only calls to that chat are delayed.
        """
        self._add_fault(method, _Fault(kind="hang", remaining=times, seconds=seconds,
                                       chat_id=chat_id))

    def clear_faults(self) -> None:
        self._faults.clear()

    def set_response(self, method: str, result: Any) -> None:
        """Override the result of ``method``: a value, or ``callable(call) -> value``.

        Pass ``None`` to restore the built-in behaviour.
        """
        key = method.lower()
        if result is None:
            self._overrides.pop(key, None)
        else:
            self._overrides[key] = result

    # -- inspection -----------------------------------------------------------------------------

    def mark(self) -> int:
        """Current number of recorded calls, to use as ``since`` later."""
        return len(self.calls)

    def sent(self, method: str | None = None, chat_id: int | str | None = None) -> list[Call]:
        """Successful calls, optionally filtered by method and ``chat_id``."""
        name = self._canonical(method) if method else None
        return [
            c
            for c in self.calls
            if c.ok
            and (name is None or c.method == name)
            and (chat_id is None or _same_chat(c.chat_id, chat_id))
        ]

    def texts(self, chat_id: int | str, *, include_edits: bool = False) -> list[str]:
        """Texts and captions successfully sent to ``chat_id``, in order."""
        methods = _SEND_METHODS | _EDIT_METHODS if include_edits else _SEND_METHODS
        out: list[str] = []
        for c in self.sent(chat_id=chat_id):
            if c.method not in methods:
                continue
            if c.method == "sendMediaGroup":
                for item in c.params.get("media") or []:
                    if isinstance(item, dict) and isinstance(item.get("caption"), str):
                        out.append(item["caption"])
            elif c.text is not None:
                out.append(c.text)
        return out

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """The current state of a message the bot sent (or a pushed user message)."""
        return self.messages.get((chat_id, message_id))

    async def wait_for(
        self,
        method: str | None = None,
        predicate: Callable[[Call], bool] | None = None,
        *,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
        since: int = 0,
        include_failed: bool = False,
    ) -> list[Call]:
        """Wait until ``count`` successful calls match among ``calls[since:]``; return all matches.

        ``include_failed=True`` also counts answered calls that failed (still not pending
        ones), e.g. ``wait_for("sendMessage", lambda c: c.failed, include_failed=True)``.
        A predicate that raises counts as "no match".  On timeout raise ``AssertionError``
        listing every recorded call since ``since``.
        """
        name = self._canonical(method) if method else None

        def matches() -> list[Call]:
            found = []
            for c in self.calls[since:]:
                if c.pending or (c.failed and not include_failed):
                    continue
                if name is not None and c.method != name:
                    continue
                try:
                    if predicate is not None and not predicate(c):
                        continue
                except Exception:  # noqa: BLE001
                    continue
                found.append(c)
            return found

        async with self._calls_cond:
            try:
                await asyncio.wait_for(
                    self._calls_cond.wait_for(lambda: len(matches()) >= count), timeout
                )
            except TimeoutError:
                lines = [f"  [{i}] {c.short()}" for i, c in enumerate(self.calls) if i >= since]
                listing = "\n".join(lines) or "  (none)"
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {count} x {name or 'any method'}"
                    f"{' matching predicate' if predicate else ''}; "
                    f"got {len(matches())}. Calls since {since}:\n{listing}"
                ) from None
        return matches()

    # -- internals: HTTP ------------------------------------------------------------------------

    def _canonical(self, method: str) -> str:
        entry = self._handlers.get(method.lower())
        return entry[0] if entry else method

    def _add_fault(self, method: str, fault: _Fault) -> None:
        if fault.remaining > 0:
            self._faults.setdefault(method.lower(), []).append(fault)

    def _take_fault(self, method: str, chat_id: Any = None) -> _Fault | None:
        queue = self._faults.get(method.lower())
        if not queue:
            return None
        for fault in queue:
            if fault.chat_id is None or str(fault.chat_id) == str(chat_id):
                break
        else:
            return None
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.remove(fault)
        return fault

    async def _notify_calls(self) -> None:
        self._bump()
        async with self._calls_cond:
            self._calls_cond.notify_all()

    async def _record(self, call: Call) -> None:
        self.calls.append(call)
        await self._notify_calls()

    def _wake_pollers(self) -> None:
        self._updates_changed.set()
        self._updates_changed = asyncio.Event()

    @staticmethod
    async def _parse(request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, tuple[str, bytes]] = {}
        if request.body_exists:
            ctype = request.content_type
            if ctype == "application/json":
                body = await request.read()
                if body.strip():
                    data = json.loads(body)
                    if isinstance(data, dict):
                        raw.update(data)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        with contextlib.closing(value.file):
                            files[key] = (value.filename, value.file.read())
                    elif isinstance(value, bytes | bytearray):
                        raw[key] = bytes(value).decode("utf-8", "replace")
                    else:
                        raw[key] = value
        return {k: _decode_value(k, v) for k, v in raw.items()}, files

    async def _handle_api(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        sent_name = request.match_info["method"]
        key = sent_name.lower()
        try:
            params, files = await self._parse(request)
        except ValueError as e:
            return web.json_response(
                {"ok": False, "error_code": 400, "description": f"Bad Request: {e}"},
                status=400,
            )
        fault = self._take_fault(key, params.get("chat_id"))

        if key == "getupdates":
            return await self._handle_get_updates(params, fault)

        call = Call(method=self._canonical(sent_name), params=params, files=files, token=token)
        if fault is not None and fault.kind == "fail":
            error = _ApiError(fault.status, fault.description, fault.parameters)
            return await self._answer_error(call, error)
        if fault is not None and fault.kind == "hang":
            call.pending = True
            call.delayed = fault.seconds
            await self._record(call)
            try:
                await self._sleep(fault.seconds)
            except asyncio.CancelledError:
                call.pending = False
                call.failed = True
                call.status = 499
                call.error = "client disconnected before the delayed answer"
                await self._notify_calls()
                raise
            call.pending = False

        try:
            result = self._dispatch(key, call)
        except _ApiError as error:
            return await self._answer_error(call, error, recorded=fault is not None)
        call.result = result
        if fault is None:
            await self._record(call)
        else:
            await self._notify_calls()
        return web.json_response({"ok": True, "result": result})

    async def _answer_error(
        self, call: Call, error: _ApiError, *, recorded: bool = False
    ) -> web.Response:
        call.pending = False
        call.failed = True
        call.status = error.status
        call.error = error.description
        if recorded:
            await self._notify_calls()
        else:
            await self._record(call)
        return web.json_response(error.body(), status=error.status)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up early when the server is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    def _dispatch(self, key: str, call: Call) -> Any:
        override = self._overrides.get(key)
        if override is not None:
            return override(call) if callable(override) else copy.deepcopy(override)
        entry = self._handlers.get(key)
        if entry is None:
            raise _ApiError(404, "Not Found: method not found")
        return entry[1](call)

    async def _handle_get_updates(
        self, params: dict[str, Any], fault: _Fault | None
    ) -> web.Response:
        self.get_updates_count += 1
        if fault is not None and fault.kind == "fail":
            error = _ApiError(fault.status, fault.description, fault.parameters)
            return web.json_response(error.body(), status=error.status)
        if fault is not None and fault.kind == "hang":
            await self._sleep(fault.seconds)
        if self.webhook_url:
            error = _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
            return web.json_response(error.body(), status=409)

        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        if "allowed_updates" in params and isinstance(params["allowed_updates"], list):
            self.allowed_updates = list(params["allowed_updates"])
        self._confirm(offset)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = self._deliverable(limit)
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing.is_set():
                break
            changed = self._updates_changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
        return web.json_response({"ok": True, "result": copy.deepcopy(batch)})

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        elif offset < 0:
            self.updates = self.updates[offset:]

    def _deliverable(self, limit: int) -> list[dict[str, Any]]:
        allowed = self.allowed_updates
        out = []
        for update in self.updates:
            kind = next((k for k in update if k != "update_id"), "")
            if allowed:
                if kind not in allowed:
                    continue
            elif kind in _OPT_IN_UPDATES:
                continue
            out.append(update)
            if len(out) >= limit:
                break
        return out

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["file_path"]
        for stored in self.files.values():
            if stored.file_path == path:
                return web.Response(
                    body=stored.content,
                    content_type=stored.mime_type or "application/octet-stream",
                )
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    # -- internals: results ---------------------------------------------------------------------

    def _register_handlers(self) -> None:
        handlers: dict[str, _Handler] = {
            "getMe": lambda call: dict(self.bot_user),
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatMemberCount": lambda call: 2,
            "getChatAdministrators": lambda call: [],
            "getFile": self._get_file,
            "getMyCommands": self._get_my_commands,
            "setMyCommands": self._set_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getWebhookInfo": self._get_webhook_info,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getUserProfilePhotos": lambda call: {"total_count": 0, "photos": []},
            "sendMessage": self._send_message,
            "sendLocation": self._send_location,
            "sendVenue": self._send_venue,
            "sendContact": self._send_contact,
            "sendDice": self._send_dice,
            "sendMediaGroup": self._send_media_group,
            "copyMessage": self._copy_message,
            "forwardMessage": self._forward_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "editMessageMedia": self._edit_message_media,
            "deleteMessage": self._delete_message,
        }
        for kind in _MEDIA_KINDS:
            name = "send" + "".join(part.capitalize() for part in kind.split("_"))
            handlers[name] = self._media_sender(kind)
        for name in _TRUE_METHODS:
            handlers[name] = lambda call: True
        self._handlers = {name.lower(): (name, func) for name, func in handlers.items()}

    def _next_message_id(self, chat: dict[str, Any]) -> int:
        counter = self._message_counters.setdefault(chat["id"], itertools.count(FIRST_MESSAGE_ID))
        return next(counter)

    def _resolve_media(self, kind: str, file_id: str) -> Any:
        stored = self.files.get(file_id)
        if kind == "photo":
            return photo_sizes(file_id, stored.file_size if stored else None)
        if stored is None:
            return _media_dict(kind, file_id)
        return _media_dict(
            kind,
            file_id,
            file_size=stored.file_size,
            file_name=stored.file_name,
            mime_type=stored.mime_type,
        )

    def _media_from_ref(self, kind: str, ref: Any, call: Call) -> Any:
        """Media value for a sent message: register uploads, reuse known file ids."""
        folder, ext = _MEDIA_KINDS.get(kind, ("documents", ""))
        file_name: str | None = None
        if isinstance(ref, str) and ref.startswith("attach://"):
            upload = call.files.get(ref.removeprefix("attach://"))
            if upload is None:
                raise _ApiError(400, f"Bad Request: file {ref} not found in request")
            file_name, content = upload
            suffix = "." + file_name.rsplit(".", 1)[-1] if "." in file_name else ext
            n = next(self._file_counter)
            file_id = self.add_file(content, file_path=f"{folder}/file_{n}{suffix}")
        elif isinstance(ref, str) and ref.startswith(("http://", "https://")):
            file_id = self.add_file(b"", file_path=f"{folder}/{ref.rsplit('/', 1)[-1]}")
        elif isinstance(ref, str) and ref:
            file_id = ref
        else:
            raise _ApiError(400, f"Bad Request: there is no {kind} in the request")
        value = self._resolve_media(kind, file_id)
        if file_name is not None and isinstance(value, dict) and "file_name" in value:
            value["file_name"] = file_name
        return value

    def _chat_of(self, call: Call, key: str = "chat_id") -> dict[str, Any]:
        chat_id = call.params.get(key)
        if chat_id is None or chat_id == "":
            raise _ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(chat_id, int):
            return make_chat(chat_id, chat_type="private" if chat_id > 0 else "supergroup")
        return make_chat(chat_id)

    def _new_message(
        self, call: Call, content: dict[str, Any], *, text_key: str = "caption"
    ) -> dict[str, Any]:
        """A Message from the bot in ``call``'s chat, echoing the simple parameters."""
        params = call.params
        chat = self._chat_of(call)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat),
            "date": _now(),
            "chat": chat,
            "from": dict(self.bot_user),
        }
        thread_id = params.get("message_thread_id")
        if isinstance(thread_id, int):
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        reply_params = params.get("reply_parameters")
        reply_id = (
            reply_params.get("message_id")
            if isinstance(reply_params, dict)
            else params.get("reply_to_message_id")
        )
        if isinstance(reply_id, int):
            known = self.messages.get((chat["id"], reply_id))
            message["reply_to_message"] = (
                {k: v for k, v in known.items() if k != "reply_to_message"}
                if known is not None
                else {"message_id": reply_id, "date": _now(), "chat": chat}
            )
        text = params.get(text_key)
        if isinstance(text, str) and text:
            message[text_key] = text
            entities_key = "entities" if text_key == "text" else "caption_entities"
            if isinstance(params.get(entities_key), list):
                message[entities_key] = params[entities_key]
        message.update(content)
        self._set_markup(message, params.get("reply_markup"))
        self.messages[(chat["id"], message["message_id"])] = message
        self._keep_parse_mode(message, params)
        return message

    def _keep_parse_mode(self, message: dict[str, Any], params: dict[str, Any]) -> None:
        """Remember how a message's text is formatted (Telegram does not echo parse_mode)."""
        key = (message["chat"]["id"], message["message_id"])
        mode = params.get("parse_mode")
        if isinstance(mode, str) and mode:
            self.parse_modes[key] = mode
        else:
            self.parse_modes.pop(key, None)

    @staticmethod
    def _set_markup(message: dict[str, Any], markup: Any) -> None:
        # Message.reply_markup only ever carries inline keyboards; reply keyboards are not echoed.
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)

    def _send_message(self, call: Call) -> dict[str, Any]:
        text = call.params.get("text")
        if not isinstance(text, str) or not text:
            raise _ApiError(400, "Bad Request: message text is empty")
        return self._new_message(call, {}, text_key="text")

    def _media_sender(self, kind: str) -> _Handler:
        def handler(call: Call) -> dict[str, Any]:
            value = self._media_from_ref(kind, call.params.get(kind), call)
            return self._new_message(call, {kind: value})

        return handler

    def _send_location(self, call: Call) -> dict[str, Any]:
        location = self._location(call.params)
        for extra in ("horizontal_accuracy", "live_period", "heading"):
            if extra in call.params:
                location[extra] = call.params[extra]
        return self._new_message(call, {"location": location})

    @staticmethod
    def _location(params: dict[str, Any]) -> dict[str, Any]:
        try:
            return {"latitude": float(params["latitude"]), "longitude": float(params["longitude"])}
        except (KeyError, TypeError, ValueError) as e:
            raise _ApiError(400, "Bad Request: wrong latitude or longitude") from e

    def _send_venue(self, call: Call) -> dict[str, Any]:
        location = self._location(call.params)
        venue = {
            "location": location,
            "title": str(call.params.get("title", "")),
            "address": str(call.params.get("address", "")),
        }
        for extra in ("foursquare_id", "foursquare_type", "google_place_id", "google_place_type"):
            if extra in call.params:
                venue[extra] = call.params[extra]
        return self._new_message(call, {"venue": venue, "location": location})

    def _send_contact(self, call: Call) -> dict[str, Any]:
        contact = {
            "phone_number": str(call.params.get("phone_number", "")),
            "first_name": str(call.params.get("first_name", "")),
        }
        for extra in ("last_name", "vcard"):
            if extra in call.params:
                contact[extra] = call.params[extra]
        return self._new_message(call, {"contact": contact})

    def _send_dice(self, call: Call) -> dict[str, Any]:
        emoji = call.params.get("emoji") or "\N{GAME DIE}"
        return self._new_message(call, {"dice": {"emoji": emoji, "value": 3}})

    def _send_media_group(self, call: Call) -> list[dict[str, Any]]:
        media = call.params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise _ApiError(400, "Bad Request: wrong number of media in the album")
        group_id = str(13_000_000_000_000_000 + secrets.randbelow(10**15))
        messages = []
        for item in media:
            if not isinstance(item, dict):
                raise _ApiError(400, "Bad Request: can't parse InputMedia")
            kind = str(item.get("type", "photo"))
            value = self._media_from_ref(kind, item.get("media"), call)
            content: dict[str, Any] = {kind: value, "media_group_id": group_id}
            if isinstance(item.get("caption"), str) and item["caption"]:
                content["caption"] = item["caption"]
                if isinstance(item.get("caption_entities"), list):
                    content["caption_entities"] = item["caption_entities"]
            messages.append(self._new_message(call, content, text_key="-"))
        return messages

    def _copy_of_source(self, call: Call) -> dict[str, Any]:
        from_chat = self._chat_of(call, "from_chat_id")
        source = self.messages.get((from_chat["id"], call.params.get("message_id")))
        if source is None:
            return {}
        skip = {"message_id", "date", "chat", "from", "reply_to_message", "reply_markup"}
        return {k: copy.deepcopy(v) for k, v in source.items() if k not in skip}

    def _copy_message(self, call: Call) -> dict[str, Any]:
        content = self._copy_of_source(call)
        if "caption" in call.params:
            content.pop("caption", None)
            content.pop("caption_entities", None)
        message = self._new_message(call, content)
        return {"message_id": message["message_id"]}

    def _forward_message(self, call: Call) -> dict[str, Any]:
        return self._new_message(call, self._copy_of_source(call), text_key="-")

    def _message_to_edit(self, call: Call) -> dict[str, Any] | None:
        """The stored message for an edit, or ``None`` for inline messages."""
        if call.params.get("inline_message_id"):
            return None
        chat = self._chat_of(call)
        message_id = call.params.get("message_id")
        if not isinstance(message_id, int):
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        known = self.messages.get((chat["id"], message_id))
        if known is None:
            if self.strict_edits:
                raise _ApiError(400, "Bad Request: message to edit not found")
            known = {"message_id": message_id, "date": _now(), "chat": chat}
            known["from"] = dict(self.bot_user)
        return copy.deepcopy(known)

    def _finish_edit(self, call: Call, before: dict[str, Any], after: dict[str, Any]) -> Any:
        self._set_markup(after, call.params.get("reply_markup"))
        if self.strict_edits and before == after:
            raise _ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        after["edit_date"] = _now()
        self.messages[(after["chat"]["id"], after["message_id"])] = after
        return after

    def _edit_text_field(self, call: Call, key: str, entities_key: str) -> Any:
        message = self._message_to_edit(call)
        if message is None:
            return True
        before = copy.deepcopy(message)
        before.pop("edit_date", None)
        message.pop("edit_date", None)
        value = call.params.get(key)
        if isinstance(value, str) and value:
            message[key] = value
        else:
            message.pop(key, None)
        if isinstance(call.params.get(entities_key), list):
            message[entities_key] = call.params[entities_key]
        else:
            message.pop(entities_key, None)
        result = self._finish_edit(call, before, message)
        self._keep_parse_mode(message, call.params)
        return result

    def _edit_message_text(self, call: Call) -> Any:
        if not call.params.get("text"):
            raise _ApiError(400, "Bad Request: message text is empty")
        return self._edit_text_field(call, "text", "entities")

    def _edit_message_caption(self, call: Call) -> Any:
        return self._edit_text_field(call, "caption", "caption_entities")

    def _edit_message_reply_markup(self, call: Call) -> Any:
        message = self._message_to_edit(call)
        if message is None:
            return True
        message.pop("edit_date", None)
        return self._finish_edit(call, copy.deepcopy(message), message)

    def _edit_message_media(self, call: Call) -> Any:
        message = self._message_to_edit(call)
        if message is None:
            return True
        media = call.params.get("media")
        if not isinstance(media, dict):
            raise _ApiError(400, "Bad Request: can't parse InputMedia")
        message.pop("edit_date", None)
        before = copy.deepcopy(message)
        for kind in _MEDIA_KINDS:
            message.pop(kind, None)
        kind = str(media.get("type", "photo"))
        message[kind] = self._media_from_ref(kind, media.get("media"), call)
        if isinstance(media.get("caption"), str) and media["caption"]:
            message["caption"] = media["caption"]
        else:
            message.pop("caption", None)
        return self._finish_edit(call, before, message)

    def _delete_message(self, call: Call) -> bool:
        chat = self._chat_of(call)
        removed = self.messages.pop((chat["id"], call.params.get("message_id")), None)
        if removed is None and self.strict_edits:
            raise _ApiError(400, "Bad Request: message to delete not found")
        return True

    def _get_chat(self, call: Call) -> dict[str, Any]:
        chat = self._chat_of(call)
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": True,
                "limited_gifts": True,
                "unique_gifts": True,
                "premium_subscription": True,
                "gifts_from_channels": True,
            },
        }

    def _get_chat_member(self, call: Call) -> dict[str, Any]:
        user_id = call.params.get("user_id")
        if not isinstance(user_id, int):
            raise _ApiError(400, "Bad Request: invalid user_id specified")
        if user_id == self.bot_user["id"]:
            return {"status": "member", "user": dict(self.bot_user)}
        return {"status": "member", "user": make_user(user_id)}

    def _get_file(self, call: Call) -> dict[str, Any]:
        stored = self.files.get(str(call.params.get("file_id", "")))
        if stored is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        if stored.file_size > self.download_limit:
            raise _ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }

    @staticmethod
    def _commands_key(call: Call) -> tuple[str, str]:
        scope = call.params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(call.params.get("language_code") or "")

    def _set_my_commands(self, call: Call) -> bool:
        commands = call.params.get("commands")
        if not isinstance(commands, list):
            raise _ApiError(400, "Bad Request: can't parse commands JSON object")
        self.commands[self._commands_key(call)] = commands
        return True

    def _get_my_commands(self, call: Call) -> list[dict[str, Any]]:
        return list(self.commands.get(self._commands_key(call), []))

    def _delete_my_commands(self, call: Call) -> bool:
        self.commands.pop(self._commands_key(call), None)
        return True

    def _get_webhook_info(self, call: Call) -> dict[str, Any]:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }

    def _set_webhook(self, call: Call) -> bool:
        self.webhook_url = str(call.params.get("url") or "")
        if call.params.get("drop_pending_updates") is True:
            self.updates.clear()
        return True

    def _delete_webhook(self, call: Call) -> bool:
        self.webhook_url = ""
        if call.params.get("drop_pending_updates") is True:
            self.updates.clear()
        return True
