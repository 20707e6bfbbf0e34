"""WhatsApp Cloud API: the signed webhook, the stored-inbound processor and the sender.

pywa (async) is the Cloud API client for sending, media and templates. The webhook is served
by our own aiohttp app instead of pywa's server (which targets Flask/FastAPI): a delivery is
verified (HMAC-SHA256 of the raw body, constant-time), stored, answered 200 at once and
processed afterwards; Meta's retries are deduplicated by message id.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections import defaultdict
from datetime import timedelta
from typing import Any

import httpx
from aiohttp import web
from pywa.errors import WhatsAppError
from pywa.types import Button, Section, SectionList, SectionRow
from pywa.types.templates import TemplateLanguage
from pywa_async import WhatsApp
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from bot.leases import ChatLeases, worker_name
from bot.loop import WakeableLoop
from bot.settings import Settings
from handlers import intake as core
from handlers import whatsapp as adapter
from handlers.replies import Reply
from models import inbox
from models.domain import utcnow
from models.media import MAX_DOWNLOAD_BYTES, MediaRejected
from models.tables import Citizen, Inbox, Outbox, Report

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"
WINDOW = timedelta(hours=24)
RATE_LIMIT_CODES = {4, 80007, 130429, 131048, 131056}
REENGAGE_CODES = {131047}  # outside the 24-hour window: a template is needed
UNREACHABLE_CODES = {131026, 131021, 133010}
DOWNLOAD_ATTEMPTS = 3


class DeliveryError(Exception):
    """A send that failed, classified for the outbox worker."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind  # 'retry_after' | 'transient' | 'unreachable' | 'permanent' | 'template'
        self.message = message
        self.retry_after = retry_after


class WhatsAppClient:
    """pywa's async client pointed at WHATSAPP_API_URL, plus media download with retries."""

    def __init__(self, settings: Settings) -> None:
        assert settings.whatsapp_token and settings.whatsapp_phone_number_id
        self.settings = settings
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(30.0))
        self.wa = WhatsApp(phone_id=settings.whatsapp_phone_number_id,
                           token=settings.whatsapp_token.get_secret_value(), session=self.http,
                           validate_updates=False)
        # pywa points its (our) httpx client at graph.facebook.com; a deployment or a test
        # may use another Graph-compatible URL, version included.
        self.http.base_url = settings.whatsapp_api_url.rstrip("/")

    async def close(self) -> None:
        await self.http.aclose()

    async def fetch(self, media: core.Media) -> bytes:
        """Resolve a media id and download it (ids expire: done at once), with retries."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type((WhatsAppError, httpx.HTTPError)),
            stop=stop_after_attempt(DOWNLOAD_ATTEMPTS), wait=wait_exponential(0.2, max=1.0),
            reraise=True,
        ):
            with attempt:
                info = await self.wa.get_media_url(media.ref)
                if info.file_size and info.file_size > MAX_DOWNLOAD_BYTES:
                    raise MediaRejected("media-too-big", limit=20)
                return await self.wa.get_media_bytes(info.url)
        raise AssertionError("unreachable")

    # -- sending ----------------------------------------------------------------------------

    async def send(self, row: Outbox, citizen: Citizen | None, report: Report | None) -> str:
        """Send one outbox row; returns the WhatsApp message id, or raises DeliveryError."""
        try:
            return await self._send(row, citizen, report)
        except WhatsAppError as exc:
            code = getattr(exc, "code", None)
            text = f"{code}: {getattr(exc, 'message', exc)}"
            if code in RATE_LIMIT_CODES:
                raise DeliveryError("retry_after", text, 30.0) from exc
            if code in REENGAGE_CODES:
                raise DeliveryError("template", text) from exc
            if code in UNREACHABLE_CODES:
                raise DeliveryError("unreachable", text) from exc
            status = getattr(exc, "status_code", None)
            if code is None or (isinstance(status, int) and status >= 500) or code in (1, 2):
                raise DeliveryError("transient", text) from exc
            raise DeliveryError("permanent", text) from exc
        except httpx.HTTPError as exc:
            raise DeliveryError("transient", f"{type(exc).__name__}: {exc}") from exc

    def window_open(self, citizen: Citizen | None) -> bool:
        return bool(citizen and citizen.last_inbound_at
                    and utcnow() - citizen.last_inbound_at < WINDOW)

    async def _send(self, row: Outbox, citizen: Citizen | None, report: Report | None) -> str:
        p = row.payload
        to = row.chat_id
        if p.get("force_template") or (row.kind in ("text", "photo")
                                       and not self.window_open(citizen)):
            return await self._template(to, p, report)
        if row.kind == "photo":
            data = await asyncio.to_thread(self._read, p["path"])
            sent = await self.wa.send_image(to, image=data, caption=p.get("caption"),
                                            mime_type="image/jpeg")
            return str(sent.id)
        if row.kind == "text":
            buttons = [Button(adapter.shorten(label, adapter.BUTTON_TITLE_MAX), data)
                       for row_ in p.get("buttons") or [] for label, data in row_]
            sent = await self.wa.send_message(to, p["text"][:adapter.BODY_MAX if buttons
                                                            else adapter.TEXT_MAX],
                                              buttons=buttons[:adapter.BUTTONS_MAX] or None)
            return str(sent.id)
        kind = p.get("type")
        if kind == "location_request":
            sent = await self.wa.request_location(to, p["text"])
        elif kind == "buttons":
            sent = await self.wa.send_message(
                to, p["text"], buttons=[Button(title, bid) for bid, title in p["buttons"]])
        elif kind == "list":
            rows = [SectionRow(title, rid, desc or None) for rid, title, desc in p["rows"]]
            sent = await self.wa.send_message(to, p["text"], buttons=SectionList(
                p["button"], [Section(p["button"], rows)]))
        else:
            sent = await self.wa.send_message(to, p["text"])
        return str(sent.id)

    async def _template(self, to: str, p: dict[str, Any], report: Report | None) -> str:
        """The approved template for a notification outside the 24-hour window."""
        text = " · ".join(line.strip() for line in str(p.get("text") or p.get("caption") or "")
                          .splitlines() if line.strip())
        values = {"code": report.code if report else "-", "message": text[:900] or "-",
                  "status": report.status if report else "-"}
        names = self.settings.whatsapp_template_params
        params = [{"type": "body", "parameters": [
            {"type": "text", "text": values[name]} for name in names]}]
        sent = await self.wa.send_template(
            to, name=self.settings.whatsapp_template_name,
            language=TemplateLanguage(self.settings.whatsapp_template_language),
            params=params)
        return str(sent.id)

    def _read(self, rel: str) -> bytes:
        return (self.settings.media_dir / rel).read_bytes()


class WhatsAppInbound(WakeableLoop):
    """Processes stored webhook messages: one user's in order, users in parallel. With
    `shared` (several workers on one PostgreSQL), a user's messages are drained like
    Telegram's chats (bot/inbox.py SharedInboxProcessor, models/inbox.py): one transaction
    takes (or renews) the user's lease and reads their two oldest new messages, the first is
    processed, and when it was the last one transaction lets the user go and looks for
    messages recorded meanwhile; so one worker at a time handles a user, in order, whichever
    worker received the messages."""

    name = "whatsapp inbound"
    LEASE = timedelta(seconds=30)
    HELD_RETRY = 0.5  # s before looking again at users another worker is processing
    BATCH = 2  # rows read per turn: the one to process, and whether another waits

    def __init__(self, sessionmaker: async_sessionmaker[Any],
                 conversation: adapter.WhatsAppConversation, client: WhatsAppClient,
                 on_done: Any = None, shared: bool = False) -> None:
        super().__init__()
        self.sessionmaker = sessionmaker
        self.conversation = conversation
        self.client = client
        self.on_done = on_done
        self.shared = shared
        self.holder = worker_name()
        self.leases = ChatLeases(sessionmaker, CHANNEL, self.holder, self.LEASE, self.BATCH)

    async def step(self) -> float | None:
        async with self.sessionmaker() as session:
            rows = await inbox.pending(session, CHANNEL, limit=200)
            await session.commit()
        by_user: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            by_user[row.chat_key].append(row.id or 0)
        done = await asyncio.gather(*(self._user(key, ids) for key, ids in by_user.items()))
        if any(done) and self.on_done is not None:
            self.on_done()
        if not rows:
            return None
        return 0.0 if any(done) else self.HELD_RETRY  # all held elsewhere: their holder works

    async def _user(self, key: str, ids: list[int]) -> bool:
        """Process one user's waiting messages in order; False if another worker has them."""
        if not self.shared:
            for row_id in ids:
                await self.process(row_id)
            return True
        return await self._drain(key)

    async def _drain(self, key: str) -> bool:
        """(shared) The user's new messages one by one under their lease, with messages
        recorded meanwhile (by any worker); False when another worker holds the user. A
        message left new after its turn (a failure, retried up to three times) ends the
        drain: the next step comes back to it first, so nothing overtakes it."""
        last: int | None = None
        held = False
        try:
            while True:
                rows = await self.leases.claim_rows(key)
                if rows is None:
                    # Another worker has the user: it takes our messages after its own (or,
                    # after our first, our lease lapsed while one ran).
                    held = False
                    return last is not None
                held = True
                if rows and last is not None and (rows[0].id or 0) <= last:
                    return True
                if rows:
                    last = rows[0].id or 0
                    beat = asyncio.create_task(self.leases.heartbeat(key))
                    try:
                        await self.process(last)
                    finally:
                        beat.cancel()
                if len(rows) > 1:
                    continue  # more waits: renew and read again
                held = False
                if not await self.leases.release_and_look(key):
                    return True
                # A message was recorded (here or by another worker) while we held the user.
        finally:
            if held:
                await self.leases.release(key)

    async def process(self, row_id: int) -> None:
        async with self.sessionmaker() as session:
            row = await session.get(Inbox, row_id)
            if row is None or row.status != "new":
                await session.commit()
                return
            try:
                await self.conversation.process(session, row, self.client.fetch)
            except inbox.AlreadyProcessed:
                log.info("whatsapp message %s was processed before", row_id)
            except Exception:
                log.exception("whatsapp message %s failed", row_id)
                await session.rollback()
                session.sync_session.info.pop(inbox.CLAIM_KEY, None)
                row = await session.get(Inbox, row_id)
                assert row is not None
                row.attempts += 1
                if row.attempts >= 3:
                    row.status = "failed"
                    t = self.conversation.translator.bind(self.conversation.deps.default_language)
                    adapter.enqueue_replies(session, row.chat_key,
                                            adapter.render([Reply(t("error-generic"))], t))
                session.add(row)
                await session.commit()


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """X-Hub-Signature-256 = 'sha256=' + HMAC-SHA256(app secret, raw body), constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def webhook_app(settings: Settings, sessionmaker: async_sessionmaker[Any],
                inbound: WhatsAppInbound, wake_outbox: Any = None,
                app: web.Application | None = None) -> web.Application:
    """GET verification and signed POST deliveries at WHATSAPP_WEBHOOK_PATH."""
    assert settings.whatsapp_app_secret and settings.whatsapp_verify_token
    secret = settings.whatsapp_app_secret.get_secret_value()
    verify = settings.whatsapp_verify_token.get_secret_value()

    async def challenge(request: web.Request) -> web.Response:
        q = request.query
        token = q.get("hub.verify_token", "")
        if q.get("hub.mode") == "subscribe" and hmac.compare_digest(token, verify):
            return web.Response(text=q.get("hub.challenge", ""))
        return web.Response(status=403, text="forbidden")

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        if not verify_signature(body, request.headers.get("X-Hub-Signature-256"), secret):
            log.warning("whatsapp webhook with a missing or wrong signature")
            return web.Response(status=401, text="bad signature")
        try:
            payload = json.loads(body)
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except ValueError:
            return web.Response(status=400, text="malformed json")
        await store_delivery(sessionmaker, payload)
        inbound.wake()
        if wake_outbox is not None:  # a failed receipt may have re-queued a message
            wake_outbox()
        return web.Response(text="ok")

    app = app if app is not None else web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_get(settings.whatsapp_webhook_path, challenge)
    app.router.add_post(settings.whatsapp_webhook_path, receive)
    return app


async def store_delivery(sessionmaker: async_sessionmaker[Any], payload: dict[str, Any]) -> int:
    """Record each message once (by id, in the shared inbox) and the receipts; returns the
    number of new messages recorded."""
    items: list[tuple[str, str, dict[str, Any]]] = []
    statuses: list[dict[str, Any]] = []
    for entry in payload.get("entry") or []:
        for change in (entry or {}).get("changes") or []:
            value = (change or {}).get("value") or {}
            names = {c.get("wa_id"): (c.get("profile") or {}).get("name")
                     for c in value.get("contacts") or [] if isinstance(c, dict)}
            for message in value.get("messages") or []:
                if not isinstance(message, dict) or not message.get("id"):
                    continue
                wa_id = str(message.get("from", ""))[:32]
                items.append((str(message["id"])[:128], wa_id,
                              {"message": message, "name": names.get(wa_id)}))
            statuses += [s for s in value.get("statuses") or [] if isinstance(s, dict)]
    async with sessionmaker() as session:
        stored = await inbox.record(session, CHANNEL, items)
        for status in statuses:
            await _receipt(session, status)
        await session.commit()
    for key, _chat, _payload in items:
        if key not in stored:
            log.info("duplicate whatsapp delivery %s ignored", key)
    return len(stored)


async def _receipt(session: Any, status: dict[str, Any]) -> None:
    """sent / delivered / read / failed, recorded on our outbound message."""
    wamid, state = status.get("id"), str(status.get("status", ""))[:16]
    if not wamid:
        return
    row = (await session.exec(select(Outbox).where(Outbox.provider_message_id == wamid))).first()
    if row is None:
        return
    row.delivery_status = state
    if state == "failed":
        codes = {e.get("code") for e in status.get("errors") or [] if isinstance(e, dict)}
        row.last_error = json.dumps(status.get("errors"))[:500]
        if codes & REENGAGE_CODES and not row.payload.get("force_template"):
            # Meta refused free text outside the 24-hour window: send the template instead.
            row.payload = {**row.payload, "force_template": True}
            row.status, row.next_attempt_at, row.provider_message_id = "pending", utcnow(), None
        log.warning("whatsapp message %s failed: %s", wamid, row.last_error)
    session.add(row)
