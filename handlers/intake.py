"""The transport-neutral intake conversation: a draft report walked through its steps.

States are `Step`; each inbound event (plain dataclasses below) moves the draft to its next
step and yields `Reply` objects that a channel adapter renders. No aiogram or WhatsApp type
crosses this module. The diagram is `intake.mmd` beside this file.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.i18n import Tr, Translator
from handlers.replies import Choice, Reply
from handlers.status import help_reply, idle_text_reply, menu_reply, my_reports_reply, status_reply
from models import repo
from models.domain import Status, add_working_days, utcnow
from models.media import MAX_DOWNLOAD_BYTES, MediaRejected, MediaStore
from models.tables import Category, Citizen, Report

log = logging.getLogger(__name__)

DESCRIPTION_MIN = 10
DESCRIPTION_MAX = 2000
NAME_MAX = 100


class Step(StrEnum):
    CATEGORY = "category"
    DESCRIPTION = "description"
    MEDIA = "media"
    LOCATION = "location"
    IDENTITY = "identity"
    PHONE = "phone"
    SUMMARY = "summary"
    EDIT = "edit"


# ---- inbound events -------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Command:
    name: str
    args: str = ""


@dataclass(frozen=True)
class Button:
    action: str
    arg: str = ""


MediaKind = Literal["photo", "video", "document", "voice", "audio", "animation"]


@dataclass(frozen=True)
class Media:
    kind: MediaKind
    ref: str
    size: int | None = None
    mime: str | None = None
    file_name: str | None = None
    group_id: str | None = None
    caption: str | None = None


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    title: str | None = None


@dataclass(frozen=True)
class Contact:
    phone: str
    own: bool


@dataclass(frozen=True)
class Unsupported:
    kind: str


Event = Text | Command | Button | Media | Location | Contact | Unsupported


class Geocoder(Protocol):
    async def reverse(self, latitude: float, longitude: float) -> str | None: ...


Fetch = Callable[[Media], Awaitable[bytes]]
StepResult = tuple[Step | None, list[Reply]]  # next step (None: submitted), replies


@dataclass
class IntakeConfig:
    tz: ZoneInfo
    holidays: Sequence[Any] = ()
    max_media: int = 5
    draft_ttl: timedelta = timedelta(hours=24)
    ticket_prefix: str = "ADU"
    service_area: tuple[float, float, float, float] | None = None


@dataclass
class Turn:
    """Who is talking and on which channel; `profile_name` prefills the identity step."""

    citizen: Citizen
    page_size: int = 8
    profile_name: str | None = None
    is_admin: bool = False

    @property
    def channel(self) -> str:
        return self.citizen.channel

    @property
    def user(self) -> str:
        return self.citizen.external_id


class Intake:
    """Runs one conversation turn: load draft, apply the event, save, return replies."""

    def __init__(
        self,
        translator: Translator,
        media: MediaStore,
        geocoder: Geocoder,
        config: IntakeConfig,
        on_submitted: Callable[[AsyncSession, Report], Awaitable[Any]] | None = None,
    ) -> None:
        self.translator = translator
        self.media = media
        self.geocoder = geocoder
        self.config = config
        self.on_submitted = on_submitted  # e.g. dispatch to the OPD, in the same transaction

    # -- entry points ---------------------------------------------------------------------

    async def start(self, session: AsyncSession, turn: Turn, commit: bool = True) -> list[Reply]:
        """`/start`: drop any draft and greet with the menu."""
        await repo.delete_draft(session, turn.channel, turn.user)
        if commit:
            await session.commit()
        t = self.translator.bind(turn.citizen.language)
        name = turn.profile_name or turn.citizen.display_name or ""
        return [menu_reply(t, t("welcome", name=name))]

    async def handle(
        self, session: AsyncSession, turn: Turn, event: Event, fetch: Fetch | None = None,
        before_commit: Callable[[list[Reply]], Awaitable[None]] | None = None,
    ) -> list[Reply]:
        """Apply one inbound event to the user's draft; returns the replies to send.

        `before_commit` lets a channel queue the replies in the same transaction.
        """
        for _attempt in range(3):
            try:
                # A savepoint: a conflict undoes this turn only, not the caller's work (the
                # citizen row), and leaves loaded objects usable for the retry.
                async with session.begin_nested():
                    replies = await self._handle(session, turn, event, fetch)
            except repo.DraftConflict:
                log.info("draft conflict for %s/%s; retrying", turn.channel, turn.user)
                continue
            if before_commit is not None:
                await before_commit(replies)
            await session.commit()
            return replies
        raise RuntimeError("draft kept changing under us")

    async def _handle(
        self, session: AsyncSession, turn: Turn, event: Event, fetch: Fetch | None
    ) -> list[Reply]:
        t = self.translator.bind(turn.citizen.language)
        draft = await repo.load_draft(session, turn.channel, turn.user)
        notices: list[Reply] = []
        if draft is not None and utcnow() - draft.updated_at > self.config.draft_ttl:
            await repo.delete_draft(session, turn.channel, turn.user)
            draft = None
            notices.append(Reply(t("draft-expired")))

        if isinstance(event, Command) and event.name in ("batal", "cancel"):
            if draft is None:
                return [menu_reply(t, t("nothing-to-cancel"), remove_keyboard=True)]
            await repo.delete_draft(session, turn.channel, turn.user)
            return [Reply(t("cancelled"), remove_keyboard=True), menu_reply(t, t("menu-prompt"))]
        if (isinstance(event, Command) and event.name in ("lapor", "report", "new")) or (
            isinstance(event, Button) and event.action == "new"
        ):
            data = {"nonce": secrets.token_hex(8)}
            version = draft.version if draft else None
            step = Step.CATEGORY
            await repo.save_draft(session, turn.channel, turn.user, step, data, version)
            return notices + await self._prompt(session, t, turn, step, data)
        if isinstance(event, Button) and event.action == "cancel":
            if draft is not None:
                await repo.delete_draft(session, turn.channel, turn.user)
            return [Reply(t("cancelled"), remove_keyboard=True), menu_reply(t, t("menu-prompt"))]

        view = await self._view(session, t, turn, event)
        if view is not None:
            if draft is not None:  # keep the conversation going after the detour
                view.append(Reply(t("draft-still-open")))
                view += await self._prompt(session, t, turn, Step(draft.step), dict(draft.data))
            return notices + view
        if draft is None:
            return notices + await self._idle(session, t, turn, event)

        step = Step(draft.step)
        data = dict(draft.data)
        handler = getattr(self, f"_on_{step.value}")
        next_step, replies = await handler(session, t, turn, data, event, fetch)
        if next_step is None:  # submitted: the draft is gone
            return notices + replies
        await repo.save_draft(session, turn.channel, turn.user, next_step, data, draft.version)
        if next_step != step or _reprompt(replies):
            replies = [r for r in replies if r is not _REPROMPT]
            replies += await self._prompt(session, t, turn, next_step, data)
        return notices + replies

    async def _view(
        self, session: AsyncSession, t: Tr, turn: Turn, event: Event
    ) -> list[Reply] | None:
        """Status, my reports and help: answered in any state, or None for other events."""
        name = event.name if isinstance(event, Command) else (
            event.action if isinstance(event, Button) else None)
        prefix, tz = self.config.ticket_prefix, self.config.tz
        if name == "status":
            args = event.args if isinstance(event, Command) else ""
            return [await status_reply(session, t, turn.citizen, args, prefix, tz)]
        if name == "ask_status":
            return [Reply(t("status-ask", example=f"{prefix}-7K3Q"))]
        if name in ("laporanku", "myreports", "mine"):
            return [await my_reports_reply(session, t, turn.citizen, tz)]
        if name in ("help", "bantuan"):
            return [help_reply(t, turn.is_admin)]
        return None

    # -- idle: no draft -------------------------------------------------------------------

    async def _idle(
        self, session: AsyncSession, t: Tr, turn: Turn, event: Event
    ) -> list[Reply]:
        if isinstance(event, Button):
            if event.action == "send" and event.arg:
                sent = await repo.report_by_nonce(session, event.arg)
                if sent is not None and sent.citizen_id == turn.citizen.id:
                    alert = t("already-sent-alert")
                    return [Reply(t("already-sent", code=sent.code), alert=alert)]
            return [menu_reply(t, t("button-stale"), alert=t("button-stale-alert"))]
        if isinstance(event, Text):
            return await idle_text_reply(session, t, turn.citizen, event.text,
                                         self.config.ticket_prefix, self.config.tz)
        return [menu_reply(t, t("idle-hint"))]

    # -- prompts --------------------------------------------------------------------------

    async def _prompt(
        self, session: AsyncSession, t: Tr, turn: Turn, step: Step, data: dict[str, Any]
    ) -> list[Reply]:
        """The question asked on entering `step`."""
        if step is Step.CATEGORY:
            return [await self._category_page(session, t, turn, 0, edit=False)]
        if step is Step.DESCRIPTION:
            return [Reply(t("ask-description", min=DESCRIPTION_MIN, max=DESCRIPTION_MAX),
                          choices=[[Choice(t("btn-cancel"), "cancel")]], remove_keyboard=True)]
        category = await self._category(session, data)
        if step is Step.MEDIA:
            required = bool(category and category.requires_photo)
            row = [Choice(t("btn-done"), "done")]
            if not required:
                row.append(Choice(t("btn-skip"), "skip"))
            key = "ask-media-required" if required else "ask-media"
            return [Reply(t(key, max=self.config.max_media),
                          choices=[row, [Choice(t("btn-cancel"), "cancel")]])]
        if step is Step.LOCATION:
            required = bool(category and category.requires_location)
            key = "ask-location-required" if required else "ask-location"
            return [Reply(t(key), request="location", request_label=t("btn-send-location"),
                          skip_label=None if required else t("btn-skip"))]
        if step is Step.IDENTITY:
            rows = []
            name = data.get("name") or turn.profile_name or turn.citizen.display_name
            if name:
                rows.append([Choice(t("btn-use-name", name=name[:40]), "name")])
            rows.append([Choice(t("btn-anonymous"), "anon")])
            rows.append([Choice(t("btn-cancel"), "cancel")])
            return [Reply(t("ask-identity"), choices=rows, remove_keyboard=True)]
        if step is Step.PHONE:
            return [Reply(t("ask-phone"), request="contact", request_label=t("btn-share-phone"),
                          skip_label=t("btn-skip"))]
        if step is Step.SUMMARY:
            return [await self._summary(session, t, data)]
        if step is Step.EDIT:
            rows = [[Choice(t(f"btn-edit-{part}"), "edit", part)] for part in
                    ("category", "description", "media", "location", "identity")]
            rows.append([Choice(t("btn-back"), "edit", "back")])
            return [Reply(t("ask-edit"), choices=rows, remove_keyboard=True)]
        raise AssertionError(step)

    async def _category_page(
        self, session: AsyncSession, t: Tr, turn: Turn, page: int, edit: bool
    ) -> Reply:
        categories = await repo.active_categories(session)
        if not categories:
            return Reply(t("no-categories"))
        size = max(turn.page_size, 1)
        pages = (len(categories) + size - 1) // size
        page = min(max(page, 0), pages - 1)
        lang = turn.citizen.language
        rows = [[Choice(c.name(lang), "cat", str(c.id))]
                for c in categories[page * size:(page + 1) * size]]
        nav = []
        if page > 0:
            nav.append(Choice(t("btn-prev"), "page", str(page - 1)))
        if page < pages - 1:
            nav.append(Choice(t("btn-next"), "page", str(page + 1)))
        if nav:
            rows.append(nav)
        rows.append([Choice(t("btn-cancel"), "cancel")])
        text = t("ask-category") if pages == 1 else t("ask-category-page", page=page + 1,
                                                       pages=pages)
        return Reply(text, choices=rows, edit=edit, remove_keyboard=not edit)

    async def _summary(self, session: AsyncSession, t: Tr, data: dict[str, Any]) -> Reply:
        category = await self._category(session, data)
        lang = t.lang
        media = data.get("media", [])
        photos = sum(1 for m in media if m["kind"] == "photo")
        videos = len(media) - photos
        if data.get("latitude") is not None:
            place = data.get("address") or f"{data['latitude']:.5f}, {data['longitude']:.5f}"
        else:
            place = t("summary-no-location")
        if data.get("anonymous"):
            who = t("summary-anonymous")
        else:
            who = data.get("name") or "-"
            if data.get("phone"):
                who = f"{who} ({data['phone']})"
        text = t(
            "summary",
            category=category.name(lang) if category else "-",
            description=data.get("description", ""),
            photos=photos,
            videos=videos,
            voices=len(data.get("voice", [])),
            place=place,
            who=who,
        )
        nonce = data.get("nonce", "")
        rows = [
            [Choice(t("btn-send"), "send", nonce)],
            [Choice(t("btn-edit"), "edit_menu"), Choice(t("btn-cancel"), "cancel")],
        ]
        return Reply(text, choices=rows, remove_keyboard=True)

    # -- step handlers: each returns (next step or None when submitted, replies) ------------

    async def _on_category(
        self, session: AsyncSession, t: Tr, turn: Turn, data: dict[str, Any], event: Event,
        fetch: Fetch | None,
    ) -> StepResult:
        if isinstance(event, Button) and event.action == "page" and event.arg.isdigit():
            return Step.CATEGORY, [await self._category_page(session, t, turn, int(event.arg),
                                                             edit=True)]
        if isinstance(event, Button) and event.action == "cat":
            category = await self._pick_category(session, event.arg)
            if category is None:
                return Step.CATEGORY, [Reply(t("category-unknown"), alert=t("category-unknown")),
                                       _REPROMPT]
            data["category_id"] = category.id
            ack = Reply(t("category-chosen", category=category.name(t.lang)), edit=True)
            return self._after(data, Step.CATEGORY, category), [ack]
        return Step.CATEGORY, [self._unexpected(t, event, "expect-category"), _REPROMPT]

    async def _on_description(
        self, session: AsyncSession, t: Tr, turn: Turn, data: dict[str, Any], event: Event,
        fetch: Fetch | None,
    ) -> StepResult:
        if isinstance(event, Text):
            text = event.text.strip()
            if len(text) < DESCRIPTION_MIN:
                return Step.DESCRIPTION, [Reply(t("description-too-short", min=DESCRIPTION_MIN))]
            if len(text) > DESCRIPTION_MAX:
                return Step.DESCRIPTION, [Reply(t("description-too-long", max=DESCRIPTION_MAX,
                                                  length=len(text)))]
            data["description"] = text
            category = await self._category(session, data)
            return self._after(data, Step.DESCRIPTION, category), [Reply(t("description-saved"))]
        if isinstance(event, Media) and event.kind in ("voice", "audio"):
            stored, error = await self._store(t, event, fetch, "voice")
            if error:
                return Step.DESCRIPTION, [error]
            voices = data.setdefault("voice", [])
            if len(voices) < 3:
                voices.append(stored)
            return Step.DESCRIPTION, [Reply(t("voice-kept", min=DESCRIPTION_MIN))]
        if isinstance(event, Media) and event.caption and len(event.caption.strip()) >= 10:
            # A photo with a caption: the caption is the description, the photo the first media.
            text = event.caption.strip()
            if len(text) > DESCRIPTION_MAX:
                return Step.DESCRIPTION, [Reply(t("description-too-long", max=DESCRIPTION_MAX,
                                                  length=len(text)))]
            data["description"] = text
            category = await self._category(session, data)
            replies = [Reply(t("description-saved"))]
            replies += await self._add_media(t, data, event, fetch)
            return Step.MEDIA if not data.get("editing") else self._after(
                data, Step.DESCRIPTION, category), replies
        return Step.DESCRIPTION, [self._unexpected(t, event, "expect-description")]

    async def _on_media(
        self, session: AsyncSession, t: Tr, turn: Turn, data: dict[str, Any], event: Event,
        fetch: Fetch | None,
    ) -> StepResult:
        category = await self._category(session, data)
        required = bool(category and category.requires_photo)
        if isinstance(event, Media):
            if event.kind in ("voice", "audio"):
                return Step.MEDIA, [Reply(t("expect-media-not-voice"))]
            return Step.MEDIA, await self._add_media(t, data, event, fetch)
        if isinstance(event, Button) and event.action in ("done", "skip"):
            if not data.get("media") and required:
                return Step.MEDIA, [Reply(t("media-required"), alert=t("media-required"))]
            if data.get("media") or event.action == "skip" or not required:
                return self._after(data, Step.MEDIA, category), []
        return Step.MEDIA, [self._unexpected(t, event, "expect-media"), _REPROMPT]

    async def _on_location(
        self, session: AsyncSession, t: Tr, turn: Turn, data: dict[str, Any], event: Event,
        fetch: Fetch | None,
    ) -> StepResult:
        category = await self._category(session, data)
        required = bool(category and category.requires_location)
        if isinstance(event, Location):
            lat, lon = event.latitude, event.longitude
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                return Step.LOCATION, [Reply(t("location-invalid")), _REPROMPT]
            area = self.config.service_area
            if area and not (area[0] <= lat <= area[2] and area[1] <= lon <= area[3]):
                return Step.LOCATION, [Reply(t("location-outside")), _REPROMPT]
            address = await self._reverse(lat, lon)
            if not address and event.title:
                address = event.title[:300]
            data.update(latitude=lat, longitude=lon, address=address)
            shown = address or f"{lat:.5f}, {lon:.5f}"
            ack = Reply(t("location-saved", place=shown), remove_keyboard=True)
            return self._after(data, Step.LOCATION, category), [ack]
        if _is_skip(t, event):
            if required:
                return Step.LOCATION, [Reply(t("location-required")), _REPROMPT]
            data.update(latitude=None, longitude=None, address=None)
            return self._after(data, Step.LOCATION, category), [
                Reply(t("location-skipped"), remove_keyboard=True)]
        return Step.LOCATION, [self._unexpected(t, event, "expect-location"), _REPROMPT]

    async def _on_identity(
        self, session: AsyncSession, t: Tr, turn: Turn, data: dict[str, Any], event: Event,
        fetch: Fetch | None,
    ) -> StepResult:
        category = await self._category(session, data)
        if isinstance(event, Button) and event.action == "anon":
            data.update(anonymous=True, name=None, phone=None)
            return self._after(data, Step.PHONE, category), [Reply(t("identity-anonymous"))]
        name: str | None = None
        if isinstance(event, Button) and event.action == "name":
            name = data.get("name") or turn.profile_name or turn.citizen.display_name
        elif isinstance(event, Text) and not _is_skip(t, event):
            name = " ".join(event.text.split())
            if not 2 <= len(name) <= NAME_MAX:
                return Step.IDENTITY, [Reply(t("name-invalid", max=NAME_MAX)), _REPROMPT]
        if name:
            data.update(anonymous=False, name=name[:NAME_MAX])
            return Step.PHONE, [Reply(t("identity-name", name=name[:NAME_MAX]))]
        return Step.IDENTITY, [self._unexpected(t, event, "expect-identity"), _REPROMPT]

    async def _on_phone(
        self, session: AsyncSession, t: Tr, turn: Turn, data: dict[str, Any], event: Event,
        fetch: Fetch | None,
    ) -> StepResult:
        category = await self._category(session, data)
        if isinstance(event, Contact):
            if not event.own:
                return Step.PHONE, [Reply(t("phone-not-own")), _REPROMPT]
            data["phone"] = event.phone[:32]
            return self._after(data, Step.PHONE, category), [
                Reply(t("phone-saved"), remove_keyboard=True)]
        if _is_skip(t, event):
            data["phone"] = None
            return self._after(data, Step.PHONE, category), [
                Reply(t("phone-skipped"), remove_keyboard=True)]
        return Step.PHONE, [self._unexpected(t, event, "expect-phone"), _REPROMPT]

    async def _on_summary(
        self, session: AsyncSession, t: Tr, turn: Turn, data: dict[str, Any], event: Event,
        fetch: Fetch | None,
    ) -> StepResult:
        if isinstance(event, Button) and event.action == "send":
            if event.arg and event.arg != data.get("nonce"):
                return Step.SUMMARY, [Reply(t("button-stale"), alert=t("button-stale-alert")),
                                      _REPROMPT]
            missing = await self._missing(session, data)
            if missing is not None:
                return missing, [Reply(t("summary-incomplete"))]
            report = await self._submit(session, t, turn, data)
            return None, [Reply(t("report-received", code=report.code), remove_keyboard=True),
                          menu_reply(t, t("menu-prompt"))]
        if isinstance(event, Button) and event.action == "edit_menu":
            return Step.EDIT, []
        return Step.SUMMARY, [self._unexpected(t, event, "expect-summary"), _REPROMPT]

    async def _on_edit(
        self, session: AsyncSession, t: Tr, turn: Turn, data: dict[str, Any], event: Event,
        fetch: Fetch | None,
    ) -> StepResult:
        if isinstance(event, Button) and event.action == "edit":
            if event.arg == "back":
                return Step.SUMMARY, []
            target = {"category": Step.CATEGORY, "description": Step.DESCRIPTION,
                      "media": Step.MEDIA, "location": Step.LOCATION,
                      "identity": Step.IDENTITY}.get(event.arg)
            if target is not None:
                data["editing"] = True
                if target is Step.MEDIA:
                    data["media"] = []
                    data["notified_groups"] = []
                return target, []
        return Step.EDIT, [self._unexpected(t, event, "expect-edit"), _REPROMPT]

    # -- helpers --------------------------------------------------------------------------

    def _after(self, data: dict[str, Any], step: Step, category: Category | None) -> Step:
        """Next step after `step` is done; back to the summary when editing."""
        if data.get("editing"):
            if category and category.requires_photo and not data.get("media"):
                return Step.MEDIA
            if category and category.requires_location and data.get("latitude") is None:
                return Step.LOCATION
            if step is Step.IDENTITY and not data.get("anonymous"):
                return Step.PHONE
            if "description" not in data:
                return Step.DESCRIPTION
            data.pop("editing", None)
            return Step.SUMMARY
        order = [Step.CATEGORY, Step.DESCRIPTION, Step.MEDIA, Step.LOCATION, Step.IDENTITY,
                 Step.PHONE, Step.SUMMARY]
        nxt = order[order.index(step) + 1]
        if nxt is Step.PHONE and data.get("anonymous"):
            nxt = Step.SUMMARY
        return nxt

    async def _missing(self, session: AsyncSession, data: dict[str, Any]) -> Step | None:
        category = await self._category(session, data)
        if category is None:
            return Step.CATEGORY
        if not data.get("description"):
            return Step.DESCRIPTION
        if category.requires_photo and not data.get("media"):
            return Step.MEDIA
        if category.requires_location and data.get("latitude") is None:
            return Step.LOCATION
        return None

    async def _category(self, session: AsyncSession, data: dict[str, Any]) -> Category | None:
        cid = data.get("category_id")
        return await repo.get_category(session, int(cid)) if cid is not None else None

    async def _pick_category(self, session: AsyncSession, arg: str) -> Category | None:
        if not arg.isdigit():
            return None
        category = await repo.get_category(session, int(arg))
        return category if category is not None and category.active else None

    async def _reverse(self, lat: float, lon: float) -> str | None:
        try:
            return await self.geocoder.reverse(lat, lon)
        except Exception:  # the geocoder is optional comfort: never block a report on it
            log.warning("reverse geocoding failed", exc_info=True)
            return None

    async def _store(
        self, t: Tr, event: Media, fetch: Fetch | None, kind: str
    ) -> tuple[dict[str, Any], Reply | None]:
        """Download and keep one file; returns (stored dict, None) or ({}, error reply)."""
        try:
            if event.size is not None and event.size > MAX_DOWNLOAD_BYTES:
                raise MediaRejected("media-too-big", limit=20)
            if event.size == 0:
                raise MediaRejected("media-empty")
            if fetch is None:
                raise MediaRejected("media-download-failed")
            try:
                raw = await fetch(event)
            except MediaRejected:
                raise
            except Exception as exc:
                log.warning("download of %s failed: %s", event.ref, exc)
                raise MediaRejected("media-download-failed") from exc
            # Image checks, EXIF rewrite and hashing are CPU and disk work: off the event loop.
            stored = await asyncio.to_thread(self.media.store, raw, kind, event.mime, event.ref)
        except MediaRejected as rejected:
            return {}, Reply(t(rejected.key, **rejected.params))
        return stored.to_dict(), None

    async def _add_media(
        self, t: Tr, data: dict[str, Any], event: Media, fetch: Fetch | None
    ) -> list[Reply]:
        kind = _media_kind(event)
        if kind is None:
            return [Reply(t("media-unsupported-type"))]
        media: list[dict[str, Any]] = data.setdefault("media", [])
        notified: list[str] = data.setdefault("notified_groups", [])
        group = event.group_id
        if len(media) >= self.config.max_media:
            if group and group in notified:
                return []
            if group:
                notified.append(group)
            return [Reply(t("media-limit", max=self.config.max_media),
                          choices=[[Choice(t("btn-done"), "done")]])]
        stored, error = await self._store(t, event, fetch, kind)
        if error:
            return [error]
        stored["group_id"] = group
        media.append(stored)
        if group and group in notified:
            return []  # one answer per album, not one per photo
        if group:
            notified.append(group)
        row = [Choice(t("btn-done"), "done")]
        key = "media-album-saved" if group else "media-saved"
        return [Reply(t(key, count=len(media), max=self.config.max_media), choices=[row])]

    async def _submit(
        self, session: AsyncSession, t: Tr, turn: Turn, data: dict[str, Any]
    ) -> Report:
        """One transaction: the report, its attachments, a `created` event; the draft removed."""
        category = await self._category(session, data)
        assert category is not None and turn.citizen.id is not None
        anonymous = bool(data.get("anonymous"))
        report = Report(
            code="",
            channel=turn.channel,
            citizen_id=turn.citizen.id,
            category_id=category.id,  # type: ignore[arg-type]
            opd_id=category.opd_id,
            description=data["description"],
            latitude=data.get("latitude"),
            longitude=data.get("longitude"),
            address=data.get("address"),
            reporter_name=None if anonymous else data.get("name"),
            reporter_phone=None if anonymous else data.get("phone"),
            anonymous=anonymous,
            language=turn.citizen.language,
            status=Status.RECEIVED.value,
            draft_nonce=data.get("nonce"),
            deadline_at=add_working_days(
                utcnow(), category.deadline_days, self.config.tz, self.config.holidays
            ),
        )
        attachments = list(data.get("media", [])) + list(data.get("voice", []))
        report = await repo.create_report(
            session, report, attachments, prefix=self.config.ticket_prefix,
            actor_id=turn.user, actor_name=None if anonymous else data.get("name"),
        )
        await repo.delete_draft(session, turn.channel, turn.user)
        if self.on_submitted is not None:
            await self.on_submitted(session, report)
        return report

    def _unexpected(self, t: Tr, event: Event, expect_key: str) -> Reply:
        if isinstance(event, Button):
            return Reply(t(expect_key), alert=t("button-stale-alert"))
        return Reply(t(expect_key))


_REPROMPT = Reply("")


def _reprompt(replies: list[Reply]) -> bool:
    return any(r is _REPROMPT for r in replies)


def _is_skip(t: Tr, event: Event) -> bool:
    if isinstance(event, Button) and event.action == "skip":
        return True
    if isinstance(event, Text):
        words = {t.translator(lang, "btn-skip").casefold() for lang in ("id", "en")}
        words |= {"lewati", "skip", "-"}
        return event.text.strip().casefold() in words
    return False


def _media_kind(event: Media) -> str | None:
    """What a file is for our purposes: photo, video, or None if we do not take it."""
    if event.kind == "photo":
        return "photo"
    if event.kind in ("video", "animation"):
        return "video"
    if event.kind == "document":
        mime = (event.mime or "").lower()
        name = (event.file_name or "").lower()
        if mime.startswith("image/") or name.endswith((".jpg", ".jpeg", ".png", ".webp")):
            return "photo"  # verified as an image when stored
        if mime.startswith("video/"):
            return "video"
    return None
