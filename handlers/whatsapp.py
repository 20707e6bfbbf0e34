"""WhatsApp adapter: webhook messages become intake events; replies become outbox rows.

The same intake conversation and report lifecycle as Telegram; only the shapes differ:
categories and menus as interactive lists (<= 10 rows, titles <= 24 chars), yes/no choices as
reply buttons (<= 3, titles <= 20 chars), the location step as a location-request message.
Everything the citizen receives on WhatsApp goes through the outbox.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import bans, lifecycle
from handlers import intake as core
from handlers.i18n import Translator
from handlers.replies import Choice, Reply, split_text
from models import inbox, repo
from models.domain import Channel, utcnow
from models.tables import Citizen, Inbox, Outbox, Report

log = logging.getLogger(__name__)

WA = Channel.WHATSAPP.value
PAGE_SIZE = 7  # 7 categories + previous + next + cancel stay within 10 list rows
ROWS_MAX = 10
ROW_TITLE_MAX = 24
ROW_DESC_MAX = 72
BUTTONS_MAX = 3
BUTTON_TITLE_MAX = 20
BODY_MAX = 1024
TEXT_MAX = 4096
KEYWORDS = {
    "batal": "batal", "cancel": "batal", "lapor": "lapor", "laporan": "lapor",
    "menu": "start", "mulai": "start", "start": "start", "halo": "start", "hi": "start",
    "hello": "start", "bantuan": "help", "help": "help", "laporanku": "laporanku",
    "bahasa": "bahasa", "language": "bahasa", "dataku": "dataku", "mydata": "dataku",
}


def shorten(text: str, limit: int) -> str:
    """Fit a title into WhatsApp's limit, cutting at a word boundary with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,.-/") + "…"


def choice_id(choice: Choice) -> str:
    return f"{choice.action}:{choice.arg}"


# ---- inbound --------------------------------------------------------------------------------


def to_event(message: dict[str, Any], wa_id: str) -> core.Event:
    """A webhook `messages[]` item as a plain intake event."""
    kind = message.get("type")
    if kind == "text":
        body = str(message.get("text", {}).get("body", ""))
        word = body.strip().lower()
        if word.startswith("/"):
            name, _, args = word[1:].partition(" ")
            return core.Command(name, body.strip()[len(name) + 1:].strip())
        if word in KEYWORDS:
            return core.Command(KEYWORDS[word])
        return core.Text(body)
    if kind == "interactive":
        inter = message.get("interactive", {})
        reply = inter.get("list_reply") or inter.get("button_reply") or {}
        action, _, arg = str(reply.get("id", "")).partition(":")
        if action == "wa_phone":
            return core.Contact(wa_id, own=True)
        return core.Button(action[:32], arg[:64])
    if kind == "button":  # a quick-reply button of a template
        action, _, arg = str(message.get("button", {}).get("payload", "")).partition(":")
        return core.Button(action[:32], arg[:64])
    if kind in ("image", "video", "document", "audio"):
        media = message.get(kind, {})
        mapped = {"image": "photo", "video": "video", "document": "document",
                  "audio": "voice" if media.get("voice") else "audio"}[kind]
        return core.Media(mapped, str(media.get("id", "")), None, media.get("mime_type"),  # type: ignore[arg-type]
                          media.get("filename"), None, media.get("caption"))
    if kind == "location":
        loc = message.get("location", {})
        title = ", ".join(str(p) for p in (loc.get("name"), loc.get("address")) if p)
        return core.Location(float(loc.get("latitude", 0)), float(loc.get("longitude", 0)),
                             title or None)
    return core.Unsupported(str(kind))


# ---- outbound -------------------------------------------------------------------------------


def render(replies: list[core.Reply], t: Any) -> list[dict[str, Any]]:
    """Replies as WhatsApp outbox payloads: text, reply buttons, a list, a location request."""
    out: list[dict[str, Any]] = []
    for reply in replies:
        if not reply.text:
            continue
        body = reply.text
        if reply.request == "location":
            out.append({"type": "location_request", "text": body[:BODY_MAX]})
            if reply.skip_label:
                out.append({"type": "buttons", "text": t("wa-or"),
                            "buttons": [["skip:", shorten(reply.skip_label, BUTTON_TITLE_MAX)]]})
            continue
        if reply.request == "contact":
            buttons = [["wa_phone:", shorten(t("wa-use-this-number"), BUTTON_TITLE_MAX)]]
            if reply.skip_label:
                buttons.append(["skip:", shorten(reply.skip_label, BUTTON_TITLE_MAX)])
            out.append({"type": "buttons", "text": body[:BODY_MAX], "buttons": buttons})
            continue
        choices = [c for row in reply.choices for c in row]
        if not choices:
            out.extend({"type": "text", "text": piece} for piece in split_text(body, TEXT_MAX))
        elif len(choices) <= BUTTONS_MAX:
            out.append({"type": "buttons", "text": body[:BODY_MAX],
                        "buttons": [[choice_id(c), shorten(c.label, BUTTON_TITLE_MAX)]
                                    for c in choices]})
        else:
            rows = [[choice_id(c), shorten(c.label, ROW_TITLE_MAX),
                     c.label[:ROW_DESC_MAX] if len(c.label) > ROW_TITLE_MAX else ""]
                    for c in choices[:ROWS_MAX]]
            out.append({"type": "list", "text": body[:BODY_MAX],
                        "button": shorten(t("wa-choose"), BUTTON_TITLE_MAX), "rows": rows})
    return out


def enqueue_replies(session: AsyncSession, wa_id: str, payloads: list[dict[str, Any]]) -> None:
    for payload in payloads:
        lifecycle.enqueue(session, wa_id, "wa", payload, channel=WA)


# ---- one inbound message, end to end --------------------------------------------------------


class WhatsAppConversation:
    """Processes stored webhook messages through the shared intake and lifecycle."""

    def __init__(self, intake: core.Intake, deps: lifecycle.Deps, throttle: Any = None) -> None:
        self.intake = intake
        self.deps = deps
        # Telegram's flood control (handlers/telegram/middlewares.py Throttle), shared.
        self.throttle = throttle

    @property
    def translator(self) -> Translator:
        return self.deps.translator

    async def process(self, session: AsyncSession, row: Inbox, fetch: core.Fetch) -> None:
        """Handle one recorded message; its replies and its `done` mark commit together."""
        message = row.payload.get("message", {})
        name = row.payload.get("name")
        wa_id = row.chat_key
        if self.throttle is not None and not await self._admitted(session, row, wa_id):
            return
        citizen, created = await repo.upsert_citizen(
            session, WA, wa_id, language=self.deps.default_language, display_name=name)
        citizen.last_inbound_at = utcnow()
        session.add(citizen)
        if citizen.banned_at is not None:  # told once, then ignored
            inbox.attach(session, inbox.Claim(row.id or 0))
            await bans.turned_away(session, self.translator, citizen)
            await session.commit()
            return
        # Committed at once, as on Telegram: the slow parts of a turn (media download,
        # geocoding) must not hold the database's write lock.
        await session.commit()
        # From here the next commit, the one of the turn with its replies, also marks the
        # message done (and fails if another worker did: models/inbox.py).
        inbox.attach(session, inbox.Claim(row.id or 0))
        t = self.translator.bind(citizen.language)
        event = to_event(message, wa_id)
        turn = core.Turn(citizen=citizen, page_size=PAGE_SIZE, profile_name=name)

        async def finish(replies: list[Reply]) -> None:
            enqueue_replies(session, wa_id, render(replies, t))

        # Answers about an existing report: a reply to our notification, /balas, feedback.
        context = (message.get("context") or {}).get("id")
        report = await self._report_for_context(session, citizen, context) if context else None
        if report is not None and not isinstance(event, core.Button):
            await self._answer(session, citizen, report, event, t, finish, fetch)
            return
        if isinstance(event, core.Command) and event.name in ("balas", "reply"):
            await self._balas(session, citizen, event.args, t, finish)
            return
        if isinstance(event, core.Button) and event.action == "fb":
            await self._feedback(session, citizen, event.arg, t, finish)
            return
        if isinstance(event, core.Command) and event.name == "bahasa" or (
                isinstance(event, core.Button) and event.action == "lang"):
            await self._language(session, citizen, event, finish)
            return
        draft = await repo.load_draft(session, WA, wa_id)
        if (isinstance(event, core.Command) and event.name == "start") or (
                created and draft is None and not isinstance(event, core.Command)):
            await finish(await self.intake.start(session, turn, commit=False))
            await session.commit()
            return
        await self.intake.handle(session, turn, event, fetch, before_commit=finish)

    async def _admitted(self, session: AsyncSession, row: Inbox, wa_id: str) -> bool:
        """Flood control, as on Telegram: a dropped message is marked done unprocessed; the
        first of a flood gets one polite notice."""
        admitted, warn = await self.throttle.take(f"{WA}:{wa_id}")
        if admitted:
            return True
        inbox.attach(session, inbox.Claim(row.id or 0))
        if warn:
            known = await repo.get_citizen(session, WA, wa_id)
            t = self.translator.bind(known.language if known else self.deps.default_language)
            if known is None or known.banned_at is None:  # a banned one gets no answers
                enqueue_replies(session, wa_id, render([Reply(t("throttled"))], t))
        await session.commit()
        return False

    async def _report_for_context(self, session: AsyncSession, citizen: Citizen,
                                  wamid: str) -> Report | None:
        row = (await session.exec(select(Outbox).where(
            Outbox.provider_message_id == wamid, Outbox.channel == WA))).first()
        if row is None or row.report_id is None:
            return None
        report = await session.get(Report, row.report_id)
        return report if report is not None and report.citizen_id == citizen.id else None

    async def _answer(self, session: AsyncSession, citizen: Citizen, report: Report,
                      event: core.Event, t: Any, finish: Any, fetch: core.Fetch | None = None,
                      text: str | None = None) -> None:
        """The citizen's answer about a report: text, or a photo stored then posted; what
        is passed on and what the citizen is told is the core's (lifecycle.answer_opd)."""
        content: dict[str, Any] | None = None
        if text is not None or isinstance(event, core.Text):
            content = {"type": "text", "text": text or event.text}  # type: ignore[union-attr]
        elif (isinstance(event, core.Media) and event.kind == "photo" and fetch is not None
              and lifecycle.accepts_answers(report)):
            with inbox.held(session):  # end the read: no transaction over the download
                await session.commit()
            try:
                raw = await fetch(event)
                stored = await asyncio.to_thread(self.intake.media.store, raw, "photo",
                                                 event.mime, event.ref)
            except Exception as exc:  # told to the citizen; nothing half-stored
                log.warning("answer photo not stored: %s", exc)
                await finish([Reply(t("media-download-failed"))])
                await session.commit()
                return
            content = {"type": "photo", "path": stored.path, "caption": event.caption or ""}
        told = await lifecycle.answer_opd(session, self.deps, citizen, report, content)
        await finish([Reply(told)])
        await session.commit()

    async def _balas(self, session: AsyncSession, citizen: Citizen, args: str, t: Any,
                     finish: Any) -> None:
        report, text = await lifecycle.own_report(session, self.deps, citizen, args)
        if report is None:
            await finish([Reply(t("answer-usage"))])
            await session.commit()
            return
        await self._answer(session, citizen, report, core.Text(text), t, finish, text=text)

    async def _feedback(self, session: AsyncSession, citizen: Citizen, arg: str, t: Any,
                        finish: Any) -> None:
        rid, _, choice = arg.partition(":")
        if not rid.isdigit():
            await finish([Reply(t("button-stale"))])
            await session.commit()
            return
        await finish([])  # marked handled in the same transaction as the feedback and reply
        key = await lifecycle.feedback(session, self.deps, citizen, int(rid), choice[:8],
                                       commit=False)
        if key == "feedback-rate":
            rows = [[Choice(f"{n} ⭐", "fb", f"{rid}:{n}")] for n in range(5, 0, -1)]
            enqueue_replies(session, citizen.external_id, render([Reply(t(key), rows)], t))
        else:
            enqueue_replies(session, citizen.external_id, render([Reply(t(key))], t))
        await session.commit()

    async def _language(self, session: AsyncSession, citizen: Citizen, event: core.Event,
                        finish: Any) -> None:
        if isinstance(event, core.Button):
            citizen.language = self.translator.lang(event.arg)
            session.add(citizen)
            t = self.translator.bind(citizen.language)
            await finish([Reply(t("language-set"))])
        else:
            t = self.translator.bind(citizen.language)
            await finish([Reply(t("choose-language"), choices=[
                [Choice("Bahasa Indonesia", "lang", "id")], [Choice("English", "lang", "en")]])])
        await session.commit()
