"""A fake WhatsApp Cloud API (Meta Graph API) server, and builders for Meta-shaped webhooks.

The server is a small aiohttp application on 127.0.0.1 on a random free port.  The real
``pywa_async.WhatsApp`` client talks to it over HTTP; pywa always sets its session's base URL
to ``https://graph.facebook.com/v{api_version}``, so point it here with the redirecting httpx
client this module builds::

    async with FakeGraphAPI() as graph:
        wa = WhatsApp(phone_id=PHONE_ID, token=TOKEN, session=graph.httpx_client())
        await wa.send_message("6281234567890", "halo")
        (body,) = graph.sent_messages(to="6281234567890")

What the server answers (``{version}`` is any ``v<digits>[.<digits>]`` segment, or none):

* ``POST /{version}/{phone_id}/messages``: sends are validated a little (required fields and
  Meta's length limits for text and interactive messages, answered like Graph answers them),
  recorded and answered with ``{"messaging_product", "contacts": [{"input", "wa_id"}],
  "messages": [{"id": "wamid.…"}]}`` (a BSUID recipient gets ``"wa_id": ""`` and
  ``"user_id"``; templates get ``"message_status": "accepted"``).  Read receipts and typing
  indicators (``{"status": "read", ...}``) answer ``{"success": true}`` and are not
  "sent messages".
* ``POST /{version}/{phone_id}/media``: multipart upload (``file``, ``type``,
  ``messaging_product``), stored as downloadable media, answered ``{"id": "<digits>"}``.
* ``GET /{version}/{media_id}``: media URL info (``url`` points at ``/dl/{media_id}`` here);
  unknown ids get Graph's "Unsupported get request" error (HTTP 400, code 100, subcode 33).
* ``DELETE /{version}/{media_id}``: forgets the media, ``{"success": true}``.
* ``GET /dl/{media_id}``: the bytes; needs ``Authorization: Bearer <token>`` (401 otherwise).
* API calls need the same bearer token (or ``?access_token=``): Graph code 190, HTTP 401.
* Anything else is recorded (``kind == "unknown"``) and answered with a Graph error.

Every request is a :class:`GraphCall` in ``graph.calls``; :meth:`FakeGraphAPI.wait_for` waits
on an ``asyncio.Condition``.  Faults are injected per kind with :meth:`FakeGraphAPI.fail_next`.

Webhook builders (``text_message``, ``list_reply``, ``status_update``, …) return dicts shaped
exactly like Meta's ``messages`` webhooks; :func:`post_webhook` serialises one like Meta does
(compact, ASCII-escaped, ``/`` escaped as ``\\/``), signs it (``X-Hub-Signature-256``) and POSTs
it, so a receiver that verifies a re-serialised body instead of the raw bytes fails.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import itertools
import json
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

if TYPE_CHECKING:  # httpx comes with pywa; imported lazily so this module works without it
    import httpx

__all__ = [
    "APP_SECRET",
    "DISPLAY_NUMBER",
    "FAULT_KINDS",
    "GRAPH_ERRORS",
    "PHONE_ID",
    "TOKEN",
    "VERIFY_TOKEN",
    "WABA_ID",
    "FakeGraphAPI",
    "GraphCall",
    "StoredMedia",
    "UploadedFile",
    "audio_message",
    "bsuid",
    "button_reply",
    "contact_card",
    "contacts_message",
    "document_message",
    "envelope",
    "graph_error",
    "image_message",
    "list_reply",
    "location_message",
    "merge_webhooks",
    "new_wamid",
    "post_webhook",
    "reaction_message",
    "serialize",
    "sign",
    "status_error",
    "status_update",
    "sticker_message",
    "template_button_reply",
    "text_message",
    "unsupported_message",
    "verify_webhook",
    "video_message",
]

PHONE_ID: Final = "106540352242922"
WABA_ID: Final = "102290129340398"
DISPLAY_NUMBER: Final = "15550001234"
TOKEN: Final = "test-wa-token"
APP_SECRET: Final = "test-app-secret"
VERIFY_TOKEN: Final = "test-verify-token"

#: The kinds of call :meth:`FakeGraphAPI.fail_next` can break.  "read" is read receipts and
#: typing indicators, which "messages" faults skip.
FAULT_KINDS: Final = frozenset({"messages", "read", "media_url", "download", "upload"})

#: Graph/Cloud API error codes: (HTTP status, title, details).  Titles are what Graph puts in
#: ``message`` after ``(#code)``; details go to ``error_data.details``.
GRAPH_ERRORS: Final[dict[int, tuple[int, str, str]]] = {
    0: (401, "AuthException", "We were unable to authenticate the app user."),
    4: (400, "Application request limit reached", "The app has reached its API call limit."),
    100: (400, "Invalid parameter", "Invalid parameter."),
    190: (401, "Invalid OAuth access token - Cannot parse access token", ""),
    80007: (400, "Rate limit issues", "The WhatsApp Business Account has reached its rate limit."),
    130429: (429, "Rate limit hit", "Cloud API message throughput has been reached."),
    131000: (500, "Something went wrong", "Message failed to send due to an unknown error."),
    131005: (403, "Access denied", "Permission is either not granted or has been removed."),
    131008: (400, "Required parameter is missing", "The request is missing a required parameter."),
    131009: (400, "Parameter value is not valid", "One or more parameter values are invalid."),
    131016: (503, "Service unavailable", "A service is temporarily unavailable."),
    131021: (400, "Recipient cannot be sender", "Sender and recipient phone number is the same."),
    131026: (
        400,
        "Message undeliverable",
        "Unable to deliver message. Reasons can include: the recipient phone number is not a "
        "WhatsApp phone number; the recipient has not accepted the new Terms of Service.",
    ),
    131030: (400, "Recipient phone number not in allowed list", "Add it to the allowed list."),
    131031: (403, "Business Account locked", "The WhatsApp Business Account is locked."),
    131047: (
        400,
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number.",
    ),
    131048: (400, "Spam rate limit hit", "Message failed to send because there are restrictions "
             "on how many messages can be sent from this phone number."),
    131051: (400, "Unsupported message type", "Message type is currently not supported."),
    131052: (400, "Media download error", "Unable to download the media sent by the user."),
    131053: (400, "Media upload error", "Unable to upload the media used in the message."),
    131056: (
        429,
        "(Business Account, Consumer Account) pair rate limit hit",
        "Too many messages sent from the sender phone number to the same recipient phone number "
        "in a short period of time.",
    ),
    132000: (400, "Number of parameters does not match the expected number of params", ""),
    132001: (404, "Template name does not exist in the translation", ""),
    133010: (400, "Account not registered", "Phone number not registered on the WhatsApp "
             "Business Platform."),
}

_VERSION_RE: Final = re.compile(r"^v\d+(?:\.\d+)?$")
_BSUID_RE: Final = re.compile(r"^(?:[A-Z]{2}\.(?:ENT\.)?\d+|user\..+)$")
_DOWNLOAD_PREFIX: Final = "dl"
_SEND_TYPES: Final = frozenset(
    {
        "text",
        "image",
        "video",
        "audio",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "template",
        "reaction",
    }
)
_MEDIA_IDS = itertools.count(1_037_543_291_000_001)


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def new_wamid() -> str:
    """A fresh, unique WhatsApp message id shaped like Meta's (``wamid.HBgL…=``)."""
    return "wamid.HBgL" + base64.b64encode(secrets.token_bytes(36)).decode()


def bsuid(wa_id: str, country: str = "ID") -> str:
    """The business-scoped user id (BSUID, ``"ID.1234…"``) Meta pairs with ``wa_id``.

    Deterministic, so one user keeps one BSUID across webhooks.  Since April 2026 Meta puts
    it in ``contacts[].user_id``, ``messages[].from_user_id`` and, for sends to a BSUID,
    ``statuses[].recipient_user_id``; pywa 4.5 requires ``contacts[].user_id``.
    """
    digest = hashlib.sha256(f"{country}:{wa_id}".encode()).hexdigest()
    return f"{country}.{int(digest[:16], 16)}"


def _fbtrace_id() -> str:
    return base64.b64encode(secrets.token_bytes(9)).decode().rstrip("=")


def _ts(timestamp: int | float | str | dt.datetime | None) -> str:
    """Unix seconds as a string, like every timestamp in Meta's webhooks."""
    if timestamp is None:
        return str(int(time.time()))
    if isinstance(timestamp, dt.datetime):
        return str(int(timestamp.timestamp()))
    return str(int(float(timestamp)))


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def graph_error(
    code: int,
    *,
    message: str | None = None,
    subcode: int | None = None,
    details: str | None = None,
    type_: str = "OAuthException",
) -> dict[str, Any]:
    """A Graph error body: ``{"error": {"message", "type", "code", ..., "fbtrace_id"}}``.

    WhatsApp codes (>= 130000) get ``error_data = {"messaging_product", "details"}`` as the
    Cloud API sends them; ``message`` defaults to Graph's ``"(#code) Title"``.
    """
    _, title, default_details = GRAPH_ERRORS.get(code, (400, "Unknown error", ""))
    error: dict[str, Any] = {
        "message": message if message is not None else f"(#{code}) {title}",
        "type": type_,
        "code": code,
    }
    if details is None:
        details = default_details
    if code >= 130000 or details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details or title}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = _fbtrace_id()
    return {"error": error}


class _GraphError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body["error"].get("message", ""))
        self.status = status
        self.body = body

    @classmethod
    def of(cls, code: int, details: str | None = None, *, status: int | None = None,
           message: str | None = None, subcode: int | None = None,
           type_: str = "OAuthException") -> _GraphError:
        http = status if status is not None else GRAPH_ERRORS.get(code, (400, "", ""))[0]
        return cls(http, graph_error(code, message=message, subcode=subcode, details=details,
                                     type_=type_))

    @classmethod
    def missing(cls, param: str) -> _GraphError:
        return cls.of(100, message=f"(#100) The parameter {param} is required.")

    @classmethod
    def too_long(cls, what: str, limit: int, value: str) -> _GraphError:
        return cls.of(131009, f"{what} length invalid. Min length: 1, Max length: {limit}. "
                              f"Got {len(value)}.")

    @classmethod
    def unsupported(cls, method: str, object_id: str) -> _GraphError:
        return cls.of(
            100,
            status=400,
            subcode=33,
            type_="GraphMethodException",
            message=(
                f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not "
                "exist, cannot be loaded due to missing permissions, or does not support this "
                "operation. Please read the Graph API documentation at "
                "https://developers.facebook.com/docs/graph-api"
            ),
        )


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


@dataclass
class UploadedFile:
    """One file part of a multipart request."""

    filename: str | None
    content_type: str | None
    content: bytes


@dataclass
class GraphCall:
    """One recorded HTTP request.

    ``kind`` is "messages", "read", "upload", "media_url", "media_delete", "download" or
    "unknown".  ``json`` is the parsed JSON body (``None`` for GET / multipart), ``files`` the
    multipart file parts, ``form`` the multipart text fields.  ``failed`` is true for every
    error answer (injected or not); ``response`` is the JSON that was answered, if any.
    ``headers`` is case-insensitive.
    """

    method: str
    path: str
    json: Any = None
    files: dict[str, UploadedFile] = field(default_factory=dict)
    headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    at: float = field(default_factory=time.monotonic)
    failed: bool = False
    status: int = 200
    kind: str = "unknown"
    version: str | None = None
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    response: Any = None
    injected: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def is_send(self) -> bool:
        """A ``/messages`` post that sends a message (not a read receipt)."""
        return self.kind == "messages"

    @property
    def to(self) -> str | None:
        if isinstance(self.json, dict):
            value = self.json.get("to") or self.json.get("recipient")
            return None if value is None else str(value)
        return None

    @property
    def type(self) -> str | None:
        if isinstance(self.json, dict) and self.kind == "messages":
            return str(self.json.get("type") or "text")
        return None

    @property
    def interactive_type(self) -> str | None:
        if self.type == "interactive":
            return (self.json.get("interactive") or {}).get("type")
        return None

    @property
    def text(self) -> str | None:
        """The visible text of a sent message: text body, interactive body or media caption."""
        kind = self.type
        if kind is None:
            return None
        obj = self.json.get(kind)
        if not isinstance(obj, dict):
            return None
        if kind == "text":
            return obj.get("body")
        if kind == "interactive":
            return (obj.get("body") or {}).get("text")
        return obj.get("caption")

    @property
    def wamid(self) -> str | None:
        """The message id the fake answered for a successful send."""
        if self.kind == "messages" and isinstance(self.response, dict):
            messages = self.response.get("messages") or [{}]
            return messages[0].get("id")
        return None

    @property
    def error_code(self) -> int | None:
        if isinstance(self.response, dict) and isinstance(self.response.get("error"), dict):
            return self.response["error"].get("code")
        return None

    def short(self) -> str:
        """One line for assertion messages."""
        if self.json is not None:
            shown = json.dumps(self.json, ensure_ascii=False, default=str)
        elif self.files:
            shown = " ".join(
                f"{name}=<{f.filename} {f.content_type} {len(f.content)}B>"
                for name, f in self.files.items()
            )
        else:
            shown = ""
        if len(shown) > 180:
            shown = shown[:177] + "..."
        state = ""
        if self.failed:
            state = f" FAILED {self.status}" + (
                f" code={self.error_code}" if self.error_code is not None else ""
            )
            state += " (injected)" if self.injected else ""
        return f"{self.method} {self.path} [{self.kind}] {shown}{state}".rstrip()


@dataclass
class StoredMedia:
    id: str
    content: bytes
    mime_type: str
    filename: str | None = None
    phone_id: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def file_size(self) -> int:
        return len(self.content)


@dataclass
class _Fault:
    kind: str
    remaining: int
    status: int
    code: int
    message: str | None
    subcode: int | None
    details: str | None
    to: str | None


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


class FakeGraphAPI:
    """Fake WhatsApp Cloud API server (see the module docstring)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        token: str | None = TOKEN,
        phone_id: str | None = None,
        validate: bool = True,
    ) -> None:
        """
        :param host: interface to bind (a random free port is used)
        :param token: bearer token API calls and downloads must carry; ``None`` accepts any
            token on API calls (downloads then need just some ``Bearer`` header)
        :param phone_id: if set, ``/messages`` and ``/media`` posts to another phone number id
            fail like Graph's "Unsupported post request"; by default any id is accepted
        :param validate: check send bodies (required fields, Meta's text/interactive limits)
        """
        self.host = host
        self.token = token
        self.phone_id = phone_id
        self.validate = validate
        self.calls: list[GraphCall] = []
        self.media: dict[str, StoredMedia] = {}
        self._port = 0
        self._runner: web.AppRunner | None = None
        self._faults: list[_Fault] = []
        self._cond = asyncio.Condition()

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``."""
        if not self._port:
            raise RuntimeError("FakeGraphAPI is not started")
        return f"http://{self.host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    def api_base(self, version: str = "v23.0") -> str:
        """``{url}/{version}``: what a Graph client's base URL would be."""
        return f"{self.url}/{version if version.startswith('v') else 'v' + version}"

    async def start(self) -> None:
        app = web.Application(client_max_size=128 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeGraphAPI:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def httpx_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` whose requests to any host go to this server.

        pywa overwrites its session's ``base_url`` with ``https://graph.facebook.com/v…``;
        this client's transport rewrites scheme, host and port of every request to the fake
        (path and query stay), so pass it as ``WhatsApp(..., session=graph.httpx_client())``.
        """
        import httpx

        target = httpx.URL(self.url)
        inner = httpx.AsyncHTTPTransport()

        class _Redirect(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                request.url = request.url.copy_with(
                    scheme=target.scheme, host=target.host, port=target.port
                )
                return await inner.handle_async_request(request)

            async def aclose(self) -> None:
                await inner.aclose()

        kwargs.setdefault("timeout", 10.0)
        return httpx.AsyncClient(transport=_Redirect(), **kwargs)

    # -- media ----------------------------------------------------------------------------------

    def add_media(
        self,
        content: bytes,
        mime_type: str = "image/jpeg",
        *,
        media_id: str | None = None,
        filename: str | None = None,
    ) -> str:
        """Register downloadable media (as if a user had sent it); return its id (digits)."""
        media_id = media_id or str(next(_MEDIA_IDS))
        self.media[media_id] = StoredMedia(media_id, bytes(content), mime_type, filename)
        return media_id

    def media_url(self, media_id: str) -> str:
        """The download URL the fake hands out for ``media_id``."""
        return f"{self.url}/{_DOWNLOAD_PREFIX}/{media_id}"

    def uploads(self) -> list[StoredMedia]:
        """Media uploaded through ``POST /{phone_id}/media`` (successfully), in order."""
        out = []
        for c in self.calls:
            if c.kind == "upload" and c.ok and isinstance(c.response, dict):
                media = self.media.get(str(c.response.get("id")))
                if media is not None:
                    out.append(media)
        return out

    # -- faults ---------------------------------------------------------------------------------

    def fail_next(
        self,
        kind: str,
        *,
        status: int | None = None,
        code: int | None = None,
        message: str | None = None,
        times: int = 1,
        to: str | None = None,
        subcode: int | None = None,
        details: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``kind`` with a Graph error.

        ``kind``: "messages" (sends), "read" (read receipts / typing), "media_url", "download",
        "upload".  Faults are consumed in the order they were added; ``to`` restricts a
        "messages" fault to one recipient (digits are compared, so "+62 812…" matches).
        ``code`` defaults to 131000 (or 130429 for status 429, 190 for 401); ``status``
        defaults to 500, or to the code's usual HTTP status when a known ``code`` is given
        (131047 → 400, 130429 → 429, 131026 → 400, 190 → 401).  ``message`` defaults to
        Graph's ``"(#code) Title"``.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(FAULT_KINDS)}")
        if to is not None and kind != "messages":
            raise ValueError("`to` only filters 'messages' faults")
        if code is None:
            code = {429: 130429, 401: 190}.get(status or 500, 131000)
        if status is None:
            status = GRAPH_ERRORS[code][0] if code in GRAPH_ERRORS and code != 131000 else 500
        if times > 0:
            self._faults.append(
                _Fault(kind, times, status, code, message, subcode, details, to)
            )

    def clear_faults(self) -> None:
        self._faults.clear()

    def _take_fault(self, kind: str, to: str | None = None) -> _Fault | None:
        for fault in self._faults:
            if fault.kind != kind:
                continue
            if fault.to is not None and (to is None or _digits(fault.to) != _digits(to)):
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
            return fault
        return None

    # -- inspection -----------------------------------------------------------------------------

    def mark(self) -> int:
        """Current number of recorded calls, to use as ``since`` later."""
        return len(self.calls)

    def sent(self, to: str | None = None, *, since: int = 0) -> list[GraphCall]:
        """Successful message sends (not read receipts), optionally to one recipient."""
        return [
            c
            for c in self.calls[since:]
            if c.is_send and c.ok and (to is None or _same_recipient(c.to, to))
        ]

    def sent_messages(self, to: str | None = None, *, since: int = 0) -> list[dict[str, Any]]:
        """JSON bodies of successful ``/messages`` sends, optionally filtered by ``to``."""
        return [c.json for c in self.sent(to, since=since)]

    def texts(self, to: str | None = None, *, since: int = 0) -> list[str]:
        """Visible texts (text body, interactive body, caption) successfully sent, in order."""
        return [c.text for c in self.sent(to, since=since) if c.text is not None]

    def marked_read(self) -> list[str]:
        """Message ids the client marked as read, in order."""
        return [
            str(c.json.get("message_id"))
            for c in self.calls
            if c.kind == "read" and c.ok and c.json.get("status") == "read"
        ]

    async def wait_for(
        self,
        predicate: Callable[[GraphCall], bool] | None = None,
        *,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
        since: int = 0,
        include_failed: bool = True,
    ) -> list[GraphCall]:
        """Wait until ``count`` calls among ``calls[since:]`` match; return all matches.

        Failed calls count too unless ``include_failed=False`` (check ``c.ok`` / ``c.failed``
        in the predicate).  A predicate that raises counts as "no match".  On timeout raise
        ``AssertionError`` listing every call since ``since``.
        """

        def matches() -> list[GraphCall]:
            found = []
            for c in self.calls[since:]:
                if c.failed and not include_failed:
                    continue
                try:
                    if predicate is not None and not predicate(c):
                        continue
                except Exception:  # noqa: BLE001
                    continue
                found.append(c)
            return found

        async with self._cond:
            try:
                await asyncio.wait_for(
                    self._cond.wait_for(lambda: len(matches()) >= count), timeout
                )
            except TimeoutError:
                lines = [f"  [{i}] {c.short()}" for i, c in enumerate(self.calls) if i >= since]
                listing = "\n".join(lines) or "  (none)"
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {count} call(s)"
                    f"{' matching predicate' if predicate else ''}; got {len(matches())}. "
                    f"Calls since {since}:\n{listing}"
                ) from None
        return matches()

    async def wait_sent(
        self,
        to: str | None = None,
        *,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
        since: int = 0,
    ) -> list[dict[str, Any]]:
        """Wait for ``count`` successful sends (to ``to``); return their JSON bodies."""
        calls = await self.wait_for(
            lambda c: c.is_send and c.ok and (to is None or _same_recipient(c.to, to)),
            count=count,
            timeout=timeout,
            since=since,
        )
        return [c.json for c in calls]

    # -- HTTP -----------------------------------------------------------------------------------

    async def _record(self, call: GraphCall) -> None:
        self.calls.append(call)
        async with self._cond:
            self._cond.notify_all()

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        given = header[7:] if header.startswith("Bearer ") else request.query.get("access_token")
        if self.token is None:
            return bool(given)
        return given is not None and hmac.compare_digest(given, self.token)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        call = GraphCall(
            method=request.method,
            path=request.path,
            headers=CIMultiDict(request.headers),
            query=dict(request.query),
        )
        try:
            response = await self._dispatch(request, call)
        except _GraphError as e:
            call.failed, call.status, call.response = True, e.status, e.body
            response = web.json_response(e.body, status=e.status)
        await self._record(call)
        return response

    async def _read_body(self, request: web.Request, call: GraphCall) -> None:
        if request.content_type.startswith("multipart/"):
            post = await request.post()
            for name, value in post.items():
                if isinstance(value, web.FileField):
                    call.files[name] = UploadedFile(
                        value.filename, value.content_type, value.file.read()
                    )
                else:
                    call.form[name] = str(value)
            return
        call.body = await request.read()
        if call.body:
            try:
                call.json = json.loads(call.body)
            except ValueError:
                call.json = None
        elif request.content_type == "application/x-www-form-urlencoded":
            call.form = {k: str(v) for k, v in (await request.post()).items()}

    async def _dispatch(self, request: web.Request, call: GraphCall) -> web.StreamResponse:
        segments = [s for s in request.path.split("/") if s]
        if len(segments) == 2 and segments[0] == _DOWNLOAD_PREFIX and request.method == "GET":
            call.kind = "download"
            return self._download(request, call, segments[1])

        if segments and _VERSION_RE.match(segments[0]):
            call.version, segments = segments[0], segments[1:]
        method = request.method
        if method == "POST" and len(segments) == 2 and segments[1] == "messages":
            call.kind = "messages"
        elif method == "POST" and len(segments) == 2 and segments[1] == "media":
            call.kind = "upload"
        elif method == "GET" and len(segments) == 1:
            call.kind = "media_url"
        elif method == "DELETE" and len(segments) == 1:
            call.kind = "media_delete"
        await self._read_body(request, call)
        if call.kind == "messages" and isinstance(call.json, dict) and _is_receipt(call.json):
            call.kind = "read"

        if not self._authorized(request):
            raise _GraphError.of(190, message="Invalid OAuth access token - Cannot parse "
                                 "access token")
        if call.kind == "unknown":
            raise _GraphError.unsupported(method, "/".join(segments) or "/")
        if call.kind in ("messages", "read", "upload") and self.phone_id is not None \
                and segments[0] != self.phone_id:
            raise _GraphError.unsupported(method, segments[0])

        if call.kind in ("messages", "read"):
            return self._messages(call)
        if call.kind == "upload":
            return self._upload(call, segments[0])
        if call.kind == "media_url":
            return self._media_url(call, segments[0])
        return self._media_delete(call, segments[0])

    def _answer(self, call: GraphCall, body: Any) -> web.Response:
        call.response = body
        return web.json_response(body)

    def _raise_fault(self, kind: str, call: GraphCall, to: str | None = None) -> None:
        fault = self._take_fault(kind, to)
        if fault is None:
            return
        call.injected = True
        raise _GraphError.of(fault.code, fault.details, status=fault.status,
                             message=fault.message, subcode=fault.subcode)

    def _messages(self, call: GraphCall) -> web.Response:
        body = call.json
        if not isinstance(body, dict):
            raise _GraphError.of(100, message="(#100) The parameter messaging_product is "
                                 "required.")
        if call.kind == "read":
            self._raise_fault("read", call)
            if body.get("messaging_product") != "whatsapp":
                raise _GraphError.missing("messaging_product")
            if not body.get("message_id"):
                raise _GraphError.missing("message_id")
            return self._answer(call, {"success": True})

        to = call.to
        self._raise_fault("messages", call, to)
        if self.validate:
            _validate_send(body)
        recipient = str(to or "")
        contact: dict[str, str] = {"input": recipient}
        if _BSUID_RE.match(recipient):  # sent to a BSUID ("recipient", or "to")
            contact.update({"wa_id": "", "user_id": recipient})
        else:
            contact["wa_id"] = _digits(recipient) or recipient
        message: dict[str, str] = {"id": new_wamid()}
        if body.get("type") == "template":
            message["message_status"] = "accepted"
        return self._answer(
            call,
            {"messaging_product": "whatsapp", "contacts": [contact], "messages": [message]},
        )

    def _upload(self, call: GraphCall, phone_id: str) -> web.Response:
        self._raise_fault("upload", call)
        if call.form.get("messaging_product") != "whatsapp":
            raise _GraphError.missing("messaging_product")
        upload = call.files.get("file")
        if upload is None:
            raise _GraphError.missing("file")
        mime = call.form.get("type") or upload.content_type or "application/octet-stream"
        media_id = str(next(_MEDIA_IDS))
        self.media[media_id] = StoredMedia(
            media_id, upload.content, mime, upload.filename, phone_id
        )
        return self._answer(call, {"id": media_id})

    def _media_url(self, call: GraphCall, media_id: str) -> web.Response:
        self._raise_fault("media_url", call)
        media = self.media.get(media_id)
        if media is None:
            raise _GraphError.unsupported("GET", media_id)
        return self._answer(
            call,
            {
                "url": self.media_url(media_id),
                "mime_type": media.mime_type,
                "sha256": media.sha256,
                "file_size": media.file_size,
                "id": media_id,
                "messaging_product": "whatsapp",
            },
        )

    def _media_delete(self, call: GraphCall, media_id: str) -> web.Response:
        if self.media.pop(media_id, None) is None:
            raise _GraphError.unsupported("DELETE", media_id)
        return self._answer(call, {"success": True})

    def _download(self, request: web.Request, call: GraphCall, media_id: str) -> web.Response:
        header = request.headers.get("Authorization", "")
        ok = header.startswith("Bearer ") and (
            self.token is None or hmac.compare_digest(header[7:], self.token)
        )
        if not ok:
            call.failed, call.status = True, 401
            return web.Response(status=401, text="Unauthorized")
        fault = self._take_fault("download")
        if fault is not None:
            call.failed, call.status, call.injected = True, fault.status, True
            call.response = graph_error(fault.code, message=fault.message,
                                        subcode=fault.subcode, details=fault.details)
            return web.json_response(call.response, status=fault.status)
        media = self.media.get(media_id)
        if media is None:
            call.failed, call.status = True, 404
            return web.Response(status=404, text="Not Found")
        return web.Response(body=media.content, content_type=media.mime_type.split(";")[0])


def _same_recipient(a: str | None, b: str) -> bool:
    if a is None:
        return False
    return a == b or (_digits(a) != "" and _digits(a) == _digits(b))


def _is_receipt(body: dict[str, Any]) -> bool:
    return "status" in body and "message_id" in body and "to" not in body


# ---------------------------------------------------------------------------------------------
# Validation of send bodies (a subset of what Graph checks, with its limits)
# ---------------------------------------------------------------------------------------------


def _check_len(what: str, value: Any, limit: int, *, required: bool = True) -> None:
    if value is None or value == "":
        if required:
            raise _GraphError.of(131008, f"{what} is required.")
        return
    if not isinstance(value, str):
        raise _GraphError.of(131009, f"{what} must be a string.")
    if len(value) > limit:
        raise _GraphError.too_long(what, limit, value)


def _validate_send(body: dict[str, Any]) -> None:
    if body.get("messaging_product") != "whatsapp":
        raise _GraphError.missing("messaging_product")
    if not body.get("to") and not body.get("recipient"):
        raise _GraphError.missing("to")
    kind = body.get("type") or "text"
    if kind not in _SEND_TYPES:
        raise _GraphError.of(100, message=f"(#100) Param type must be one of "
                             f"{{{', '.join(sorted(_SEND_TYPES))}}} - got \"{kind}\".")
    obj = body.get(kind)
    if not isinstance(obj, dict) and not (kind == "contacts" and isinstance(obj, list)):
        raise _GraphError.missing(kind)
    if kind == "text":
        text = obj.get("body")
        if not text:
            raise _GraphError.missing("text['body']")
        if len(text) > 4096:
            raise _GraphError.of(100, message="(#100) Param text['body'] must be at most 4096 "
                                 "characters long.")
    elif kind in ("image", "video", "audio", "document", "sticker"):
        if not obj.get("id") and not obj.get("link"):
            raise _GraphError.of(131008, f"{kind} requires either 'id' or 'link'.")
        if "caption" in obj:
            _check_len("Caption", obj["caption"], 1024, required=False)
    elif kind == "location":
        if "latitude" not in obj or "longitude" not in obj:
            raise _GraphError.of(131008, "location requires 'latitude' and 'longitude'.")
    elif kind == "template":
        if not obj.get("name"):
            raise _GraphError.missing("template['name']")
        if not (obj.get("language") or {}).get("code"):
            raise _GraphError.missing("template['language']['code']")
    elif kind == "reaction":
        if not obj.get("message_id"):
            raise _GraphError.missing("reaction['message_id']")
    elif kind == "interactive":
        _validate_interactive(obj)


def _validate_interactive(obj: dict[str, Any]) -> None:
    itype = obj.get("type")
    if not itype:
        raise _GraphError.missing("interactive['type']")
    action = obj.get("action")
    header = obj.get("header")
    if isinstance(header, dict) and header.get("type") == "text":
        _check_len("Header text", header.get("text"), 60)
    footer = obj.get("footer")
    if isinstance(footer, dict):
        _check_len("Footer text", footer.get("text"), 60)
    body_text = (obj.get("body") or {}).get("text")
    if itype in ("button", "list", "location_request_message", "cta_url", "flow"):
        _check_len("Body text", body_text, 4096 if itype == "list" else 1024)
    if itype in ("button", "list", "location_request_message", "cta_url") and not isinstance(
        action, dict
    ):
        raise _GraphError.missing("interactive['action']")
    if itype == "button":
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= 3:
            raise _GraphError.of(131009, f"buttons count is {len(buttons)}; must be 1-3.")
        titles: set[str] = set()
        ids: set[str] = set()
        for button in buttons:
            reply = button.get("reply") or {}
            _check_len("Button title", reply.get("title"), 20)
            _check_len("Button id", reply.get("id"), 256)
            if reply["title"] in titles or reply["id"] in ids:
                raise _GraphError.of(131009, "Button title and id must be unique.")
            titles.add(reply["title"])
            ids.add(reply["id"])
    elif itype == "list":
        _check_len("Button text", action.get("button"), 20)
        sections = action.get("sections") or []
        if not 1 <= len(sections) <= 10:
            raise _GraphError.of(131009, f"sections count is {len(sections)}; must be 1-10.")
        row_ids: set[str] = set()
        for section in sections:
            _check_len("Section title", section.get("title"), 24, required=len(sections) > 1)
            rows = section.get("rows") or []
            if not rows:
                raise _GraphError.of(131009, "Each section must have at least one row.")
            for row in rows:
                _check_len("Row title", row.get("title"), 24)
                _check_len("Row id", row.get("id"), 200)
                _check_len("Row description", row.get("description"), 72, required=False)
                if row["id"] in row_ids:
                    raise _GraphError.of(131009, "Row ids must be unique.")
                row_ids.add(row["id"])
        if len(row_ids) > 10:
            raise _GraphError.of(131009, f"Total row count is {len(row_ids)}; max is 10.")
    elif itype == "location_request_message":
        if (action or {}).get("name") != "send_location":
            raise _GraphError.of(131009, "action name must be 'send_location'.")


# ---------------------------------------------------------------------------------------------
# Webhook payload builders
# ---------------------------------------------------------------------------------------------


def envelope(
    value: dict[str, Any], *, waba_id: str = WABA_ID, field: str = "messages"
) -> dict[str, Any]:
    """Wrap a change ``value`` in Meta's webhook envelope."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"value": value, "field": field}]}],
    }


def merge_webhooks(*payloads: dict[str, Any]) -> dict[str, Any]:
    """One webhook carrying the ``entry`` items of several (Meta may batch changes)."""
    return {
        "object": "whatsapp_business_account",
        "entry": [entry for p in payloads for entry in p["entry"]],
    }


def _metadata(phone_id: str) -> dict[str, str]:
    return {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": phone_id}


def _message(
    wa_id: str,
    kind: str,
    content: Any,
    *,
    name: str | None,
    msg_id: str | None,
    phone_id: str,
    timestamp: Any,
    context_id: str | None,
    user_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    user_id = user_id or bsuid(wa_id)
    message: dict[str, Any] = {}
    if context_id is not None:
        message["context"] = {"from": DISPLAY_NUMBER, "id": context_id}
    message.update(
        {
            "from": wa_id,
            "from_user_id": user_id,
            "id": msg_id or new_wamid(),
            "timestamp": _ts(timestamp),
            "type": kind,
        }
    )
    if extra:
        message.update(extra)
    message[kind] = content
    contact: dict[str, Any] = {
        "profile": {"name": name or ""},
        "wa_id": wa_id,
        "user_id": user_id,
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": _metadata(phone_id),
        "contacts": [contact],
        "messages": [message],
    }
    return envelope(value)


def text_message(
    wa_id: str,
    text: str,
    *,
    name: str = "Siti",
    msg_id: str | None = None,
    phone_id: str = PHONE_ID,
    timestamp: int | float | str | dt.datetime | None = None,
    context_id: str | None = None,
) -> dict[str, Any]:
    """A user's text message; ``context_id`` makes it a reply to one of our messages."""
    return _message(wa_id, "text", {"body": text}, name=name, msg_id=msg_id,
                    phone_id=phone_id, timestamp=timestamp, context_id=context_id)


def list_reply(
    wa_id: str,
    row_id: str,
    title: str,
    *,
    description: str | None = None,
    name: str = "Siti",
    msg_id: str | None = None,
    phone_id: str = PHONE_ID,
    timestamp: int | float | str | dt.datetime | None = None,
    context_id: str | None = None,
) -> dict[str, Any]:
    """The user picked a row of our list message ``context_id`` (a fresh wamid if omitted)."""
    reply: dict[str, str] = {"id": row_id, "title": title}
    if description is not None:
        reply["description"] = description
    return _message(wa_id, "interactive", {"type": "list_reply", "list_reply": reply},
                    name=name, msg_id=msg_id, phone_id=phone_id, timestamp=timestamp,
                    context_id=context_id or new_wamid())


def button_reply(
    wa_id: str,
    button_id: str,
    title: str,
    *,
    name: str = "Siti",
    msg_id: str | None = None,
    phone_id: str = PHONE_ID,
    timestamp: int | float | str | dt.datetime | None = None,
    context_id: str | None = None,
) -> dict[str, Any]:
    """The user tapped a reply button of our message ``context_id`` (fresh wamid if omitted)."""
    return _message(wa_id, "interactive",
                    {"type": "button_reply", "button_reply": {"id": button_id, "title": title}},
                    name=name, msg_id=msg_id, phone_id=phone_id, timestamp=timestamp,
                    context_id=context_id or new_wamid())


def template_button_reply(
    wa_id: str,
    payload: str,
    text: str,
    *,
    name: str = "Siti",
    msg_id: str | None = None,
    phone_id: str = PHONE_ID,
    timestamp: int | float | str | dt.datetime | None = None,
    context_id: str | None = None,
) -> dict[str, Any]:
    """The user tapped a quick-reply button of a template (``type: "button"``)."""
    return _message(wa_id, "button", {"payload": payload, "text": text}, name=name,
                    msg_id=msg_id, phone_id=phone_id, timestamp=timestamp,
                    context_id=context_id or new_wamid())


def _media(
    media_id: str,
    mime_type: str,
    *,
    sha256: str | None,
    url: str | None,
    **fields: Any,
) -> dict[str, Any]:
    content: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    content.update(
        {
            "mime_type": mime_type,
            "sha256": sha256 or hashlib.sha256(media_id.encode()).hexdigest(),
            "id": media_id,
        }
    )
    if url is not None:
        content["url"] = url
    return content


def image_message(
    wa_id: str,
    media_id: str,
    *,
    mime_type: str = "image/jpeg",
    caption: str | None = None,
    sha256: str | None = None,
    url: str | None = None,
    name: str = "Siti",
    msg_id: str | None = None,
    phone_id: str = PHONE_ID,
    timestamp: int | float | str | dt.datetime | None = None,
    context_id: str | None = None,
) -> dict[str, Any]:
    """A user's photo.  ``url`` is left out by default: pywa would download straight from it
    (bypassing ``GET /{media_id}``) if given; pass ``graph.media_url(media_id)`` to test that.
    """
    content = _media(media_id, mime_type, sha256=sha256, url=url, caption=caption)
    return _message(wa_id, "image", content, name=name, msg_id=msg_id, phone_id=phone_id,
                    timestamp=timestamp, context_id=context_id)


def video_message(
    wa_id: str,
    media_id: str,
    *,
    mime_type: str = "video/mp4",
    caption: str | None = None,
    sha256: str | None = None,
    url: str | None = None,
    name: str = "Siti",
    msg_id: str | None = None,
    phone_id: str = PHONE_ID,
    timestamp: int | float | str | dt.datetime | None = None,
    context_id: str | None = None,
) -> dict[str, Any]:
    content = _media(media_id, mime_type, sha256=sha256, url=url, caption=caption)
    return _message(wa_id, "video", content, name=name, msg_id=msg_id, phone_id=phone_id,
                    timestamp=timestamp, context_id=context_id)


def document_message(
    wa_id: str,
    media_id: str,
    filename: str = "dokumen.pdf",
    *,
    mime_type: str = "application/pdf",
    caption: str | None = None,
    sha256: str | None = None,
    url: str | None = None,
    name: str = "Siti",
    msg_id: str | None = None,
    phone_id: str = PHONE_ID,
    timestamp: int | float | str | dt.datetime | None = None,
    context_id: str | None = None,
) -> dict[str, Any]:
    content = _media(media_id, mime_type, sha256=sha256, url=url, caption=caption,
                     filename=filename)
    return _message(wa_id, "document", content, name=name, msg_id=msg_id, phone_id=phone_id,
                    timestamp=timestamp, context_id=context_id)


def audio_message(
    wa_id: str,
    media_id: str,
    *,
    voice: bool = True,
    mime_type: str = "audio/ogg; codecs=opus",
    sha256: str | None = None,
    url: str | None = None,
    name: str = "Siti",
    msg_id: str | None = None,
    phone_id: str = PHONE_ID,
    timestamp: int | float | str | dt.datetime | None = None,
    context_id: str | None = None,
) -> dict[str, Any]:
    """A voice note (``voice=True``) or an audio file."""
    content = _media(media_id, mime_type, sha256=sha256, url=url)
    content["voice"] = voice
    return _message(wa_id, "audio", content, name=name, msg_id=msg_id, phone_id=phone_id,
                    timestamp=timestamp, context_id=context_id)


def sticker_message(
    wa_id: str,
    media_id: str,
    *,
    animated: bool = False,
    mime_type: str = "image/webp",
    sha256: str | None = None,
    url: str | None = None,
    name: str = "Siti",
    msg_id: str | None = None,
    phone_id: str = PHONE_ID,
    timestamp: int | float | str | dt.datetime | None = None,
    context_id: str | None = None,
) -> dict[str, Any]:
    content = _media(media_id, mime_type, sha256=sha256, url=url)
    content["animated"] = animated
    return _message(wa_id, "sticker", content, name=name, msg_id=msg_id, phone_id=phone_id,
                    timestamp=timestamp, context_id=context_id)


def location_message(
    wa_id: str,
    lat: float,
    lon: float,
    *,
    name: str | None = None,
    address: str | None = None,
    url: str | None = None,
    profile_name: str = "Siti",
    msg_id: str | None = None,
    phone_id: str = PHONE_ID,
    timestamp: int | float | str | dt.datetime | None = None,
    context_id: str | None = None,
) -> dict[str, Any]:
    """A shared location.  ``name``/``address`` are the place's (a pinned venue); the user's
    profile name is ``profile_name`` here."""
    content: dict[str, Any] = {"latitude": lat, "longitude": lon}
    for key, value in (("name", name), ("address", address), ("url", url)):
        if value is not None:
            content[key] = value
    return _message(wa_id, "location", content, name=profile_name, msg_id=msg_id,
                    phone_id=phone_id, timestamp=timestamp, context_id=context_id)


def reaction_message(
    wa_id: str,
    message_id: str,
    emoji: str | None = "\N{THUMBS UP SIGN}",
    *,
    name: str = "Siti",
    msg_id: str | None = None,
    phone_id: str = PHONE_ID,
    timestamp: int | float | str | dt.datetime | None = None,
) -> dict[str, Any]:
    """A reaction to ``message_id``; ``emoji=None`` is a removed reaction (no ``emoji`` key)."""
    content: dict[str, str] = {"message_id": message_id}
    if emoji is not None:
        content["emoji"] = emoji
    return _message(wa_id, "reaction", content, name=name, msg_id=msg_id, phone_id=phone_id,
                    timestamp=timestamp, context_id=None)


def contact_card(
    formatted_name: str = "Budi Santoso",
    phone: str = "+62 812-3456-7890",
    *,
    wa_id: str | None = "6281234567890",
    first_name: str | None = None,
    last_name: str | None = None,
) -> dict[str, Any]:
    """One entry of a contacts message (fields a phone usually shares)."""
    parts = formatted_name.split(" ", 1)
    name: dict[str, str] = {
        "formatted_name": formatted_name,
        "first_name": first_name or parts[0],
    }
    if last_name or len(parts) > 1:
        name["last_name"] = last_name or parts[1]
    phone_entry: dict[str, str] = {"phone": phone, "type": "CELL"}
    if wa_id is not None:
        phone_entry["wa_id"] = wa_id
    return {"name": name, "phones": [phone_entry]}


def contacts_message(
    wa_id: str,
    contacts: Iterable[dict[str, Any]] | None = None,
    *,
    name: str = "Siti",
    msg_id: str | None = None,
    phone_id: str = PHONE_ID,
    timestamp: int | float | str | dt.datetime | None = None,
    context_id: str | None = None,
) -> dict[str, Any]:
    """Shared contact cards (default: one :func:`contact_card`)."""
    cards = list(contacts) if contacts is not None else [contact_card()]
    return _message(wa_id, "contacts", cards, name=name, msg_id=msg_id, phone_id=phone_id,
                    timestamp=timestamp, context_id=context_id)


def status_error(code: int, *, title: str | None = None, details: str | None = None
                 ) -> dict[str, Any]:
    """One item of a webhook ``errors`` list: ``{code, title, message, error_data, href}``."""
    _, known_title, known_details = GRAPH_ERRORS.get(code, (400, "Unknown error", ""))
    title = title or known_title
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details or known_details or title},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }


def unsupported_message(
    wa_id: str,
    unsupported_type: str = "poll_creation",
    *,
    name: str = "Siti",
    msg_id: str | None = None,
    phone_id: str = PHONE_ID,
    timestamp: int | float | str | dt.datetime | None = None,
) -> dict[str, Any]:
    """A message type the Cloud API does not support (error 131051)."""
    error = status_error(131051, title="Message type unknown",
                         details="Message type is currently not supported.")
    return _message(wa_id, "unsupported", {"type": unsupported_type}, name=name, msg_id=msg_id,
                    phone_id=phone_id, timestamp=timestamp, context_id=None,
                    extra={"errors": [error]})


def status_update(
    wamid: str,
    status: str,
    recipient_id: str,
    *,
    errors: Iterable[dict[str, Any] | int] | None = None,
    name: str = "Siti",
    phone_id: str = PHONE_ID,
    timestamp: int | float | str | dt.datetime | None = None,
    biz_opaque_callback_data: str | None = None,
    recipient_user_id: str | None = None,
) -> dict[str, Any]:
    """A ``statuses`` webhook for one of our messages: "sent", "delivered", "read", "failed".

    Shaped like Meta's since the BSUID rollout (April 2026): sent/delivered/read carry a
    ``contacts`` array (``profile.name``, ``wa_id``, ``user_id``) and a ``pricing`` object
    (no ``conversation`` object, as in v24+); "failed" has no ``contacts`` and an ``errors``
    list (items may be ints, expanded by :func:`status_error`; default 131026).
    ``recipient_user_id`` is only there when the message was sent to a BSUID (pass it then).
    """
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": _ts(timestamp),
        "recipient_id": recipient_id,
    }
    if recipient_user_id is not None:
        item["recipient_user_id"] = recipient_user_id
    if biz_opaque_callback_data is not None:
        item["biz_opaque_callback_data"] = biz_opaque_callback_data
    if status == "failed" and errors is None:
        errors = [131026]
    if errors is not None:
        item["errors"] = [status_error(e) if isinstance(e, int) else e for e in errors]
    elif status in ("sent", "delivered", "read"):
        item["pricing"] = {
            "billable": False,
            "pricing_model": "PMP",
            "category": "service",
            "type": "free_customer_service",
        }
    value: dict[str, Any] = {"messaging_product": "whatsapp", "metadata": _metadata(phone_id)}
    if status != "failed":
        value["contacts"] = [
            {
                "profile": {"name": name},
                "wa_id": recipient_id,
                "user_id": recipient_user_id or bsuid(recipient_id),
            }
        ]
    value["statuses"] = [item]
    return envelope(value)


# ---------------------------------------------------------------------------------------------
# Signing and posting
# ---------------------------------------------------------------------------------------------


def serialize(payload: Any) -> bytes:
    """Serialise like Meta: compact JSON, non-ASCII as ``\\uXXXX`` and ``/`` as ``\\/``."""
    return json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode()


def sign(body: bytes, app_secret: str) -> str:
    """``X-Hub-Signature-256`` value: ``"sha256=" + hex(HMAC-SHA256(app_secret, body))``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def _join(base: str, path: str) -> str:
    if path.startswith(("http://", "https://")):
        return path
    return base.rstrip("/") + "/" + path.lstrip("/")


async def post_webhook(
    session_or_url: aiohttp.ClientSession | str,
    path: str,
    payload_or_bytes: dict[str, Any] | bytes,
    *,
    app_secret: str | None = None,
    signature: str | None = None,
) -> tuple[int, str]:
    """POST a webhook like Meta does; return ``(status, text)``.

    ``session_or_url`` is a base URL (``"http://127.0.0.1:8080"``) or an aiohttp session
    (``path`` is then absolute, or relative to the session's ``base_url``).  Dicts are
    serialised with :func:`serialize`; bytes go as they are.  The body is signed with
    ``app_secret`` (default :data:`APP_SECRET`) unless ``signature`` is given, which is sent
    verbatim (a wrong one, say); ``signature=""`` sends no signature header at all.
    """
    body = payload_or_bytes if isinstance(payload_or_bytes, bytes) else serialize(
        payload_or_bytes
    )
    headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
    if signature is None:
        headers["X-Hub-Signature-256"] = sign(body, app_secret or APP_SECRET)
    elif signature:
        headers["X-Hub-Signature-256"] = signature
    if isinstance(session_or_url, aiohttp.ClientSession):
        async with session_or_url.post(path, data=body, headers=headers) as resp:
            return resp.status, await resp.text()
    async with (
        aiohttp.ClientSession() as session,
        session.post(_join(session_or_url, path), data=body, headers=headers) as resp,
    ):
        return resp.status, await resp.text()


async def verify_webhook(
    session_or_url: aiohttp.ClientSession | str,
    path: str,
    *,
    verify_token: str = VERIFY_TOKEN,
    challenge: str = "1158201444",
    mode: str = "subscribe",
) -> tuple[int, str]:
    """Meta's verification request: ``GET path?hub.mode=…&hub.challenge=…&hub.verify_token=…``.

    A correct endpoint answers 200 with the challenge as its body.
    """
    params = {"hub.mode": mode, "hub.challenge": challenge, "hub.verify_token": verify_token}
    if isinstance(session_or_url, aiohttp.ClientSession):
        async with session_or_url.get(path, params=params) as resp:
            return resp.status, await resp.text()
    async with (
        aiohttp.ClientSession() as session,
        session.get(_join(session_or_url, path), params=params) as resp,
    ):
        return resp.status, await resp.text()
