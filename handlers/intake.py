"""The transport-neutral intake conversation: a draft report walked through its steps.

States are `Step`; each inbound event (plain dataclasses below) moves the draft to its next
step and yields `Reply` objects that a channel adapter renders. No aiogram or WhatsApp type
crosses this module. The diagram is `intake.mmd` beside this file.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import privacy
from handlers.downloads import Downloads
from handlers.i18n import Tr, Translator
from handlers.lifecycle import enqueue, refresh_card, start_clocks
from handlers.logctx import about_ticket
from handlers.replies import Choice, Reply
from handlers.status import (
    help_reply,
    idle_text_reply,
    light,
    menu_reply,
    my_reports_reply,
    status_reply,
)
from models import followers, inbox, repo
from models.catalog import Catalog
from models.domain import (
    OPEN_STATUSES,
    Clock,
    Status,
    SystemClock,
    WorkCalendar,
    normalize_ticket,
    ticket_length,
    utcnow,
)
from models.geo import AreaIndex, haversine_m, nearby_open_reports
from models.identity import check_nik, clean_nik, mask_nik, normalize_phone
from models.lean import LeanWriter
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
    NEARBY = "nearby"  # open reports of the category near the pin: follow one, or go on
    IDENTITY = "identity"
    PHONE = "phone"
    NIK = "nik"
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

    def cached(self, latitude: float, longitude: float) -> str | None: ...


Fetch = Callable[[Media], Awaitable[bytes]]
StepResult = tuple[Step | None, list[Reply]]  # next step (None: submitted), replies


@dataclass
class IntakeConfig:
    tz: ZoneInfo
    holidays: Sequence[Any] = ()
    calendar: WorkCalendar | None = None  # None: weekends and `holidays` only
    clock: Clock = field(default_factory=SystemClock)
    yellow_share: float = 0.75
    max_media: int = 5
    draft_ttl: timedelta = timedelta(hours=24)
    ticket_prefix: str = "ADU"
    service_area: tuple[float, float, float, float] | None = None
    phone_region: str = "ID"  # the country of a phone number typed without a country code
    identity_modes: tuple[str, ...] = ("named", "confidential", "anonymous")
    require_phone: bool = False
    require_nik: bool = False
    vault: Any = None  # models.pii.Vault: phone and NIK encrypted in drafts and reports
    duplicate_radius_m: float = 0.0  # open reports this near the pin are offered (0: off)

    @property
    def anonymous_allowed(self) -> bool:
        return "anonymous" in self.identity_modes and not (self.require_phone
                                                           or self.require_nik)


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


@dataclass
class DraftSnap:
    """A draft as last read or written by this process (compare-and-set keeps it honest)."""

    step: str
    data: dict[str, Any]
    version: int
    updated_at: datetime


@dataclass
class Prepared:
    """What a turn's network I/O produced before its transaction: a stored file or an error."""

    ref: str
    stored: dict[str, Any] | None = None
    error: Reply | None = None


class NeedsPrepare(Exception):
    """The draft turned out to be at a step that needs a download first: prepare, retry."""


class NeedsFiles(Exception):
    """Send met files accepted by id whose download has no outcome here yet: wait for them
    (or download them) outside the transaction, then redo the turn."""

    def __init__(self, files: list[Media]) -> None:
        super().__init__(len(files))
        self.files = files


# The key of a media entry accepted by id (background downloads) and not yet stored: its
# value is the transport's file id; "as" keeps the event's kind for downloading it again.
PENDING = "pending"


def pending_entry(event: Media, kind: str) -> dict[str, Any]:
    return {"kind": kind, PENDING: event.ref, "as": event.kind, "mime": event.mime,
            "size": event.size, "file_name": event.file_name}


def pending_media(entry: dict[str, Any]) -> Media:
    return Media(entry["as"], entry[PENDING], entry.get("size"), entry.get("mime"),
                 entry.get("file_name"))


@dataclass
class _Ctx:
    """One turn's working state: the prepared media and the draft cache changes to apply
    once the transaction has committed."""

    prepared: Prepared | None = None
    fetchable: bool = False
    version: int | None = None  # of the draft this turn read
    cache: tuple[str, DraftSnap | None] | None = None  # ('set', snap) | ('drop', None)
    geocode: tuple[str, float, float] | None = None  # (nonce, lat, lon) to look up later
    later: list[Media] = field(default_factory=list)  # accepted by id: download after commit
    # The draft's write, held back to commit without a session (models/lean.py) when it is
    # all the turn writes: (statement, parameters).
    deferred: tuple[Any, dict[str, Any]] | None = None
    refused: dict[str, MediaRejected] = field(default_factory=dict)  # Send's downloads, by id


# A geocoding request: (channel, user, draft nonce, latitude, longitude).
GeocodeRequest = Callable[[str, str, str, float, float], None]

DRAFT_CACHE_SIZE = 4096
SEND_WAIT = 20.0  # seconds Send waits for the draft's downloads (Intake.send_wait)
MEDIA_STEPS = ("description", "media")


class Screen(Protocol):
    """What Send learns about the citizen in one read (handlers/verification.py Screening)."""

    refusal: str | None

    def score(self, description: str, media: int, citizen_created_at: Any
              ) -> tuple[int, list[str]]: ...


class Intake:
    """Runs one conversation turn: any network I/O first (with background downloads: Send
    waiting for the draft's files; without: the file downloaded), then one short transaction
    that reads the draft, applies the event, saves the draft and commits; returns the
    replies."""

    def __init__(
        self,
        translator: Translator,
        media: MediaStore,
        geocoder: Geocoder,
        config: IntakeConfig,
        on_submitted: Callable[[AsyncSession, Report], Awaitable[Any]] | None = None,
        catalog: Catalog | None = None,
        geocode_later: GeocodeRequest | None = None,
        areas: AreaIndex | None = None,
    ) -> None:
        self.translator = translator
        self.media = media
        self.geocoder = geocoder
        self.config = config
        self.on_submitted = on_submitted  # e.g. dispatch to the OPD, in the same transaction
        self.catalog = catalog or Catalog()
        self.areas = areas  # routing by area and the service polygons (models/geo.py)
        # With a background geocoder the location step answers at once with coordinates;
        # without one it waits for the (cached, short-timeout) geocoder as before.
        self.geocode_later = geocode_later
        # A draft as last written here, or _ABSENT: none as last seen here. _ABSENT is trusted
        # only where a draft is then inserted (a new report): that insert meets a draft made
        # elsewhere meanwhile as a conflict and the turn is redone on fresh state.
        self._drafts: OrderedDict[tuple[str, str], DraftSnap | object] = OrderedDict()
        # Called in the transaction that fills a submitted report's address (refresh its card).
        self._reports: int | None = None  # reports filed, roughly: sizes the ticket codes
        self._reports_checked = 0
        self.on_address: Callable[[AsyncSession, Report], Awaitable[Any]] | None = None
        # Called in the transaction that erased a citizen's data (refresh those cards).
        self.on_erased: Callable[[AsyncSession, list[int]], Awaitable[Any]] | None = None
        # Per-citizen limits (handlers/verification.py `admit`): a refusal text, or None.
        # Asked when a draft starts, and at Send unless `screen` is set.
        self.admit: Callable[[AsyncSession, Citizen, Tr], Awaitable[str | None]] | None = None
        # At Send (handlers/verification.py `screen`): the limit's refusal and the spam score,
        # from one read, so the report is written scored.
        self.screen: Callable[[AsyncSession, Citizen, Tr], Awaitable[Screen]] | None = None
        # Background downloads (handlers/downloads.py, `Downloads(intake.download)`): a file
        # is accepted by id and the citizen answered at once. Without it, a turn downloads
        # before its transaction and answers after.
        self.downloads: Downloads | None = None
        # How long Send waits for the draft's downloads before it answers "still receiving
        # your photos, press Send again" (the downloads go on; the chat is not held).
        self.send_wait = SEND_WAIT
        # Commits a turn that writes only its draft (and its update's flip) without the
        # session: a third of an update's CPU (models/lean.py). None: always the session.
        self.lean: LeanWriter | None = None

    # -- entry points ---------------------------------------------------------------------

    async def start(self, session: AsyncSession, turn: Turn, commit: bool = True,
                    before_commit: Callable[[list[Reply]], Awaitable[None]] | None = None,
                    ) -> list[Reply]:
        """`/start`: drop any draft and greet with the menu (committed unless `commit` is
        False; `before_commit` as in `handle`)."""
        t = self.translator.bind(turn.citizen.language)
        name = turn.profile_name or turn.citizen.display_name or ""
        replies = [menu_reply(t, t("welcome", name=name))]
        if commit and self._lean_ok(session):
            if before_commit is not None:
                await before_commit(replies)
            stmt, params = repo.draft_delete(turn.channel, turn.user)
            await self._commit_lean(session, [(stmt, params, None)])
        else:
            await repo.delete_draft(session, turn.channel, turn.user)
            if commit:
                if before_commit is not None:
                    await before_commit(replies)
                await session.commit()
        # Even if the caller's transaction then fails, a new report's draft insert would meet
        # the surviving draft as a conflict: _ABSENT is safe either way.
        self._remember((turn.channel, turn.user), _ABSENT)
        return replies

    async def handle(
        self, session: AsyncSession, turn: Turn, event: Event, fetch: Fetch | None = None,
        before_commit: Callable[[list[Reply]], Awaitable[None]] | None = None,
    ) -> list[Reply]:
        """Apply one inbound event to the user's draft; returns the replies to send.

        Downloads happen first, outside any transaction; then one transaction reads, decides,
        writes and commits. A draft changed meanwhile (another process) is retried on fresh
        state. `before_commit` lets a channel queue the replies in the same transaction.
        """
        ctx = _Ctx(fetchable=fetch is not None)
        key = (turn.channel, turn.user)
        if isinstance(event, Media) and fetch is not None and self.downloads is None:
            ctx.prepared = await self._prepare(session, turn, event, fetch)
        if isinstance(event, Button) and event.action == "send" and self.downloads is not None:
            try:
                async with asyncio.timeout(self.send_wait):
                    await self._await_files(key, fetch, ctx)
            except TimeoutError:
                return await self._still_receiving(session, turn, before_commit)
        for _attempt in range(4):
            try:
                replies = await self._handle(session, turn, event, ctx)
            except repo.DraftConflict:
                # Another process moved the draft: read it again in this same transaction
                # (each statement sees the latest commit) and redo the turn on fresh state.
                log.info("draft conflict for %s/%s; retrying on fresh state", *key)
                self._drafts.pop(key, None)
                ctx.cache = None
                continue
            except NeedsPrepare:
                with inbox.held(session):  # nothing written yet; none held over the download
                    await session.commit()
                self._drafts.pop(key, None)
                ctx.cache = None
                if isinstance(event, Media) and fetch is not None:
                    ctx.prepared = await self._prepare(session, turn, event, fetch, force=True)
                continue
            except NeedsFiles as needs:
                with inbox.held(session):  # nothing written yet; none held over the downloads
                    await session.commit()
                self._drafts.pop(key, None)
                ctx.cache = None
                try:
                    async with asyncio.timeout(self.send_wait):
                        await self._wait_files(needs.files, fetch, ctx)
                except TimeoutError:
                    return await self._still_receiving(session, turn, before_commit)
                continue
            except BaseException:
                self._drafts.pop(key, None)
                raise
            claim = inbox.claim_of(session)
            kept = (claim.answer, claim.answer_whole) if claim is not None else None
            try:
                if before_commit is not None:
                    await before_commit(replies)
                await self._commit(session, ctx)
            except repo.DraftConflict:
                # The held-back draft write lost its compare-and-set: as above, on fresh
                # state, the answers stashed for this attempt taken back.
                log.info("draft conflict for %s/%s at commit; retrying on fresh state", *key)
                if claim is not None and kept is not None:
                    claim.answer, claim.answer_whole = kept
                if session.in_transaction():
                    # Through the session: what `before_commit` added (a channel's queued
                    # replies) goes back too, or the redo would queue it a second time.
                    await session.rollback()
                self._drafts.pop(key, None)
                ctx.cache = None
                ctx.geocode = None
                continue
            except BaseException:
                self._drafts.pop(key, None)
                raise
            self._apply_cache(key, ctx)
            if ctx.geocode is not None and self.geocode_later is not None:
                self.geocode_later(turn.channel, turn.user, *ctx.geocode)
            if self.downloads is not None:
                for media in ctx.later:
                    self.downloads.start(turn.channel, turn.user, media, fetch)
            return _fold(replies)
        raise RuntimeError("draft kept changing under us")

    async def apply_address(self, session: AsyncSession, channel: str, user: str, nonce: str,
                            lat: float, lon: float, address: str) -> Report | None:
        """A looked-up address for a location shared earlier: into the draft while it is
        being written, else onto the submitted report (returned, so its card is refreshed)."""
        key = (channel, user)
        for _attempt in range(3):
            draft = await repo.load_draft(session, channel, user)
            if draft is not None and draft.data.get("nonce") == nonce:
                data = dict(draft.data)
                if (data.get("latitude"), data.get("longitude")) != (lat, lon) or \
                        data.get("address"):
                    await session.commit()
                    return None
                data["address"] = address
                try:
                    await repo.save_draft(session, channel, user, Step(draft.step), data,
                                          draft.version)
                except repo.DraftConflict:
                    continue
                await session.commit()
                self._drafts.pop(key, None)
                return None
            report = await repo.report_by_nonce(session, nonce) if nonce else None
            if report is None or report.address or \
                    (report.latitude, report.longitude) != (lat, lon):
                await session.commit()
                return None
            report.address = address[:500]
            session.add(report)
            if self.on_address is not None:
                await self.on_address(session, report)
            await session.commit()
            return report
        return None

    async def _prepare(self, session: AsyncSession, turn: Turn, event: Media, fetch: Fetch,
                       force: bool = False) -> Prepared | None:
        """Download and store a file the draft's step will take, before any transaction."""
        snap = self._drafts.get((turn.channel, turn.user))
        if not isinstance(snap, DraftSnap):
            draft = await repo.load_draft(session, turn.channel, turn.user)
            with inbox.held(session):  # end the read: none is held over the download
                await session.commit()
            if draft is None:
                return None
            snap = DraftSnap(draft.step, dict(draft.data), draft.version, draft.updated_at)
        if not force and snap.step not in MEDIA_STEPS:
            return None
        if snap.step == Step.DESCRIPTION and not _description_takes(event):
            return None
        if snap.step == Step.MEDIA and len(snap.data.get("media", [])) >= self.config.max_media:
            return None
        kind = _file_kind(event)
        if kind is None:
            return None
        outcome = await self.download(event, fetch)
        if isinstance(outcome, MediaRejected):
            t = self.translator.bind(turn.citizen.language)
            return Prepared(event.ref, None, Reply(t(outcome.key, **outcome.params)))
        return Prepared(event.ref, outcome)

    def _apply_cache(self, key: tuple[str, str], ctx: _Ctx) -> None:
        if ctx.cache is None:
            return
        op, snap = ctx.cache
        self._remember(key, _ABSENT if op == "drop" or snap is None else snap)

    def _remember(self, key: tuple[str, str], snap: DraftSnap | object) -> None:
        self._drafts[key] = snap
        self._drafts.move_to_end(key)
        while len(self._drafts) > DRAFT_CACHE_SIZE:
            self._drafts.popitem(last=False)

    async def _load(self, session: AsyncSession, turn: Turn, starts: bool = False
                    ) -> DraftSnap | None:
        """The draft (a copy), from the cache or the database; with `starts` (the event
        inserts a draft when there is none), a draft known absent is not read again."""
        snap = self._drafts.get((turn.channel, turn.user))
        if isinstance(snap, DraftSnap):
            return DraftSnap(snap.step, dict(snap.data), snap.version, snap.updated_at)
        if snap is _ABSENT and starts:
            return None
        draft = await repo.load_draft(session, turn.channel, turn.user)
        if draft is None:
            return None
        return DraftSnap(draft.step, dict(draft.data), draft.version, draft.updated_at)

    async def _save(self, session: AsyncSession, turn: Turn, ctx: _Ctx, step: Step,
                    data: dict[str, Any], version: int | None) -> None:
        if self.lean is not None and not session.in_transaction():
            # Nothing read or written through the session yet: held back to `_commit`, which
            # commits it without the session if that stays so.
            stmt, params, new = repo.draft_write(self.lean.dialect.name, turn.channel,
                                                 turn.user, step, data, version)
            ctx.deferred = (stmt, params)
        else:
            new = await repo.save_draft(session, turn.channel, turn.user, step, data, version)
        ctx.cache = ("set", DraftSnap(step.value, data, new, utcnow()))

    async def _commit(self, session: AsyncSession, ctx: _Ctx) -> None:
        """Commit the turn: a held-back draft write that is all it writes goes with the
        update's flip as one lean transaction; anything else through the session."""
        deferred, ctx.deferred = ctx.deferred, None
        if deferred is not None:
            stmt, params = deferred
            if self._lean_ok(session):
                await self._commit_lean(session, [(stmt, params, repo.DraftConflict)])
                return
            if await repo.core_rowcount(session, stmt, params) != 1:
                raise repo.DraftConflict
        await session.commit()

    def _lean_ok(self, session: AsyncSession) -> bool:
        """Whether the session has nothing of its own to commit: no statement run, no object
        added or changed (then the turn's writes can commit without it)."""
        if self.lean is None or session.in_transaction():
            return False
        sync = session.sync_session
        if sync.new or sync.deleted:
            return False
        # (`dirty` compares every object's state: skipped when the session holds none)
        return not sync.identity_map or not sync.dirty

    async def _commit_lean(self, session: AsyncSession, writes: list[Any]) -> None:
        """`writes` and the update's inbox flip (with its kept answers) in one lean
        transaction (models/lean.py)."""
        assert self.lean is not None
        claim = inbox.claim_of(session)
        if claim is not None and not claim.done:
            writes = [*writes, inbox.flip_write(claim)]
        await self.lean.commit(writes)
        if claim is not None and not claim.done:
            inbox.flipped(claim)

    async def _drop(self, session: AsyncSession, turn: Turn, ctx: _Ctx) -> None:
        await repo.delete_draft(session, turn.channel, turn.user)
        ctx.cache = ("drop", None)

    async def _handle(self, session: AsyncSession, turn: Turn, event: Event, ctx: _Ctx
                      ) -> list[Reply]:
        t = self.translator.bind(turn.citizen.language)
        ctx.later = []
        ctx.deferred = None
        starts = (isinstance(event, Command) and event.name in ("lapor", "report", "new")) or (
            isinstance(event, Button) and event.action == "new")
        draft = await self._load(session, turn, starts)
        notices: list[Reply] = []
        if draft is not None and utcnow() - draft.updated_at > self.config.draft_ttl:
            await self._drop(session, turn, ctx)
            draft = None
            notices.append(Reply(t("draft-expired")))

        if isinstance(event, Command) and event.name in ("batal", "cancel"):
            if draft is None:
                return [menu_reply(t, t("nothing-to-cancel"), remove_keyboard=True)]
            await self._drop(session, turn, ctx)
            return [Reply(t("cancelled"), remove_keyboard=True), menu_reply(t, t("menu-prompt"))]
        if starts:
            if self.admit is not None and (
                    refusal := await self.admit(session, turn.citizen, t)) is not None:
                return notices + [menu_reply(t, refusal)]
            data: dict[str, Any] = {"nonce": secrets.token_hex(8)}
            version = draft.version if draft else None
            step = Step.CATEGORY
            await self._save(session, turn, ctx, step, data, version)
            return notices + await self._prompt(session, t, turn, step, data,
                                                edit=isinstance(event, Button))
        if isinstance(event, Button) and event.action == "cancel":
            if draft is not None:
                await self._drop(session, turn, ctx)
            return [Reply(t("cancelled"), remove_keyboard=True), menu_reply(t, t("menu-prompt"))]
        if isinstance(event, Button) and event.action == "erase" and event.arg == "yes":
            erased = await privacy.erase_citizen(session, turn.citizen, utcnow())
            ctx.cache = ("drop", None)  # the draft went too
            if self.on_erased is not None and erased.report_ids:
                await self.on_erased(session, erased.report_ids)
            log.info("citizen %s erased their personal data (%d reports)", turn.citizen.id,
                     erased.reports)
            return [privacy.erased_reply(t, erased), menu_reply(t, t("menu-prompt"))]

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
        ctx.version = draft.version
        self._settle(t, data, ctx)  # files downloaded since: stored in place of their ids
        if isinstance(event, Media) and ctx.fetchable and self.downloads is None and \
                step.value in MEDIA_STEPS and (
                ctx.prepared is None or ctx.prepared.ref != event.ref):
            if self._takes(step, data, event):
                raise NeedsPrepare
        handler = getattr(self, f"_on_{step.value}")
        next_step, replies = await handler(session, t, turn, data, event, ctx)
        if next_step is None:  # submitted: the draft is gone
            ctx.cache = ("drop", None)
            return notices + replies
        await self._save(session, turn, ctx, next_step, data, draft.version)
        if next_step != step or _reprompt(replies):
            replies = [r for r in replies if r is not _REPROMPT]
            replies += await self._prompt(session, t, turn, next_step, data)
        return notices + replies

    def _takes(self, step: Step, data: dict[str, Any], event: Media) -> bool:
        """Whether `step` would download this file (so it must be prepared first)."""
        if step is Step.DESCRIPTION:
            return _description_takes(event)
        if len(data.get("media", [])) >= self.config.max_media:
            return False
        return event.kind not in ("voice", "audio") and _media_kind(event) is not None

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
            replies = [await my_reports_reply(session, t, turn.citizen, tz)]
            followed = await self._followed_reply(session, t, turn)
            return replies + ([followed] if followed is not None else [])
        if name in ("berhenti_ikuti", "unfollow"):
            return [await self._unfollow(session, t, turn, event)]
        if name in ("help", "bantuan"):
            return [help_reply(t, turn.is_admin)]
        if name in ("dataku", "mydata"):
            return [await privacy.my_data_reply(session, t, turn.citizen, self.config.vault, tz)]
        if name in ("hapus_dataku", "erase_mydata") or (
                isinstance(event, Button) and event.action == "erase" and event.arg == "ask"):
            return [privacy.erase_prompt(t)]
        if isinstance(event, Button) and event.action == "erase":
            return [Reply(t("erase-cancelled"), edit=True)]
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
        self, session: AsyncSession, t: Tr, turn: Turn, step: Step, data: dict[str, Any],
        edit: bool = False,
    ) -> list[Reply]:
        """The question asked on entering `step` (`edit`: may replace the pressed message)."""
        if step is Step.CATEGORY:
            return [await self._category_page(session, t, turn, 0, edit=edit)]
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
        if step is Step.NEARBY:
            return [await self._nearby_offer(session, t, data)]
        if step is Step.IDENTITY:
            return [self._identity_prompt(t, turn, data)]
        if step is Step.PHONE:
            if self.config.require_phone:
                return [Reply(t("ask-phone-required"), request="contact",
                              request_label=t("btn-share-phone"), skip_label=None)]
            return [Reply(t("ask-phone"), request="contact", request_label=t("btn-share-phone"),
                          skip_label=t("btn-skip"))]
        if step is Step.NIK:
            return [Reply(t("ask-nik"), choices=[[Choice(t("btn-cancel"), "cancel")]],
                          remove_keyboard=True)]
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
        categories = await self.catalog.active_categories(session)
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
            phone = self._secret(data, "phone")
            if phone:
                who = f"{who} ({phone})"
            nik = self._secret(data, "nik")
            if nik:
                who += " · NIK " + mask_nik(nik)
            if data.get("identity_mode") == "confidential":
                who += " — " + t("summary-confidential")
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
        if category is not None and category.route_by_area:  # where it goes depends on the pin
            opd = await self.catalog.opd(session, await self._route(session, category, data))
            if opd is not None:
                text += "\n" + t("summary-routed", opd=opd.name(lang))
        nonce = data.get("nonce", "")
        rows = [
            [Choice(t("btn-send"), "send", nonce)],
            [Choice(t("btn-edit"), "edit_menu"), Choice(t("btn-cancel"), "cancel")],
        ]
        return Reply(text, choices=rows, remove_keyboard=True)

    # -- step handlers: each returns (next step or None when submitted, replies) ------------

    async def _on_category(
        self, session: AsyncSession, t: Tr, turn: Turn, data: dict[str, Any], event: Event,
        ctx: _Ctx,
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
        ctx: _Ctx,
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
            voices = data.setdefault("voice", [])
            if len(voices) >= 3:  # not kept: not downloaded either
                return Step.DESCRIPTION, [Reply(t("voice-kept", min=DESCRIPTION_MIN))]
            stored, error = self._prepared(t, ctx, event)
            if error:
                return Step.DESCRIPTION, [error]
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
            replies += self._add_media(t, data, event, ctx)
            return Step.MEDIA if not data.get("editing") else self._after(
                data, Step.DESCRIPTION, category), replies
        return Step.DESCRIPTION, [self._unexpected(t, event, "expect-description")]

    async def _on_media(
        self, session: AsyncSession, t: Tr, turn: Turn, data: dict[str, Any], event: Event,
        ctx: _Ctx,
    ) -> StepResult:
        category = await self._category(session, data)
        required = bool(category and category.requires_photo)
        if isinstance(event, Media):
            if event.kind in ("voice", "audio"):
                return Step.MEDIA, [Reply(t("expect-media-not-voice"))]
            return Step.MEDIA, self._add_media(t, data, event, ctx)
        if isinstance(event, Button) and event.action in ("done", "skip"):
            if not data.get("media") and required:
                return Step.MEDIA, [Reply(t("media-required"), alert=t("media-required"))]
            if data.get("media") or event.action == "skip" or not required:
                return self._after(data, Step.MEDIA, category), []
        return Step.MEDIA, [self._unexpected(t, event, "expect-media"), _REPROMPT]

    async def _on_location(
        self, session: AsyncSession, t: Tr, turn: Turn, data: dict[str, Any], event: Event,
        ctx: _Ctx,
    ) -> StepResult:
        category = await self._category(session, data)
        required = bool(category and category.requires_location)
        if isinstance(event, Location):
            lat, lon = event.latitude, event.longitude
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                return Step.LOCATION, [Reply(t("location-invalid")), _REPROMPT]
            if await self._outside(session, lat, lon):
                return Step.LOCATION, [Reply(t("location-outside")), _REPROMPT]
            address = event.title[:300] if event.title else None
            if address is None:
                if self.geocode_later is None:
                    address = await self._reverse(lat, lon)
                else:  # answered now with coordinates; the address follows when looked up
                    address = self.geocoder.cached(lat, lon)
                    if address is None:
                        ctx.geocode = (str(data.get("nonce", "")), lat, lon)
            data.update(latitude=lat, longitude=lon, address=address)
            data.pop("nearby", None)
            shown = address or f"{lat:.5f}, {lon:.5f}"
            ack = Reply(t("location-saved", place=shown), remove_keyboard=True)
            if category is not None and category.id is not None:
                near = await nearby_open_reports(session, category.id, lat, lon,
                                                 self.config.duplicate_radius_m)
                if near:  # already reported here? offered before a new report is made
                    data["nearby"] = [r.id for r, _ in near]
                    return Step.NEARBY, [ack]
            return self._after(data, Step.LOCATION, category), [ack]
        if _is_skip(t, event):
            if required:
                return Step.LOCATION, [Reply(t("location-required")), _REPROMPT]
            data.update(latitude=None, longitude=None, address=None)
            return self._after(data, Step.LOCATION, category), [
                Reply(t("location-skipped"), remove_keyboard=True)]
        return Step.LOCATION, [self._unexpected(t, event, "expect-location"), _REPROMPT]

    async def _on_nearby(
        self, session: AsyncSession, t: Tr, turn: Turn, data: dict[str, Any], event: Event,
        ctx: _Ctx,
    ) -> StepResult:
        """Follow one of the open reports offered near the pin (the draft ends), or go on."""
        category = await self._category(session, data)
        if isinstance(event, Location):  # another pin: checked afresh
            step, replies = await self._on_location(session, t, turn, data, event, ctx)
            return step, replies + ([_REPROMPT] if step is Step.NEARBY else [])
        if isinstance(event, Button) and event.action == "new_anyway":
            data.pop("nearby", None)
            return self._after(data, Step.LOCATION, category), []
        if isinstance(event, Button) and event.action == "follow":
            offered = [str(i) for i in data.get("nearby", [])]
            if event.arg not in offered:
                return Step.NEARBY, [Reply(t("button-stale"), alert=t("button-stale-alert")),
                                     _REPROMPT]
            assert turn.citizen.id is not None
            report_id = int(event.arg)
            report = await session.get(Report, report_id)
            code = report.code if report is not None else "-"
            refused = await self._follow_refused(session, report, turn.citizen.id)
            if refused is not None:  # nothing written: the offer stays
                return Step.NEARBY, [Reply(t(refused, code=code), alert=t(refused, code=code)),
                                     _REPROMPT]
            # The draft goes first, by version: changed meanwhile (its address filled in, a
            # second press), the turn is redone on fresh state before anything is written.
            await repo.delete_draft(session, turn.channel, turn.user, version=ctx.version)
            outcome = await followers.follow(session, report_id, turn.citizen.id)
            if outcome is followers.FollowOutcome.FOLLOWED and report is not None:
                await refresh_card(session, None, report)  # the card shows the new count
                key = "follow-done"
            else:  # lost a race since the check above: said as it is, nothing counted
                key = _FOLLOW_REFUSED.get(outcome, "follow-closed")
            return None, [Reply(t(key, code=code)), menu_reply(t, t("menu-prompt"))]
        return Step.NEARBY, [self._unexpected(t, event, "expect-nearby"), _REPROMPT]

    async def _on_identity(
        self, session: AsyncSession, t: Tr, turn: Turn, data: dict[str, Any], event: Event,
        ctx: _Ctx,
    ) -> StepResult:
        category = await self._category(session, data)
        modes = self.config.identity_modes
        if isinstance(event, Button) and event.action == "anon":
            if not self.config.anonymous_allowed:
                return Step.IDENTITY, [Reply(t("identity-anonymous-off"),
                                             alert=t("button-stale-alert")), _REPROMPT]
            data.update(anonymous=True, identity_mode="anonymous", name=None)
            for key in ("phone", "phone_enc", "nik", "nik_enc"):
                data.pop(key, None)
            return self._after(data, Step.PHONE, category), [Reply(t("identity-anonymous"))]
        name: str | None = None
        mode = "named" if "named" in modes else "confidential"
        if isinstance(event, Button) and event.action in ("name", "conf"):
            mode = "confidential" if event.action == "conf" else "named"
            if mode not in modes:
                return Step.IDENTITY, [Reply(t("identity-mode-off"),
                                             alert=t("button-stale-alert")), _REPROMPT]
            name = data.get("name") or turn.profile_name or turn.citizen.display_name
            if not name:  # no profile name: ask for one, keeping the chosen mode
                data["name_for"] = mode
                return Step.IDENTITY, [Reply(t("ask-name"))]
        elif isinstance(event, Text) and not _is_skip(t, event):
            name = " ".join(event.text.split())
            if not 2 <= len(name) <= NAME_MAX:
                return Step.IDENTITY, [Reply(t("name-invalid", max=NAME_MAX)), _REPROMPT]
            if data.get("name_for") in modes:  # the name asked for after Named / Confidential
                mode = data["name_for"]
        if name:
            data.pop("name_for", None)
            data.update(anonymous=False, identity_mode=mode, name=name[:NAME_MAX])
            key = "identity-confidential" if mode == "confidential" else "identity-name"
            return Step.PHONE, [Reply(t(key, name=name[:NAME_MAX]))]
        return Step.IDENTITY, [self._unexpected(t, event, "expect-identity"), _REPROMPT]

    async def _on_phone(
        self, session: AsyncSession, t: Tr, turn: Turn, data: dict[str, Any], event: Event,
        ctx: _Ctx,
    ) -> StepResult:
        category = await self._category(session, data)
        if isinstance(event, Contact):
            if not event.own:
                return Step.PHONE, [Reply(t("phone-not-own")), _REPROMPT]
            # Telegram and WhatsApp give the number with its country code, "+" or not.
            phone = normalize_phone(event.phone, self.config.phone_region, international=True)
            if phone is None:
                return Step.PHONE, [Reply(t("phone-invalid")), _REPROMPT]
            self._keep(data, "phone", phone)
            return self._after(data, Step.PHONE, category), [
                Reply(t("phone-saved"), remove_keyboard=True)]
        if _is_skip(t, event):
            if self.config.require_phone:
                return Step.PHONE, [Reply(t("phone-required"))]  # the keyboard stays up
            self._keep(data, "phone", None)
            return self._after(data, Step.PHONE, category), [
                Reply(t("phone-skipped"), remove_keyboard=True)]
        if isinstance(event, Text) and any(c.isdigit() for c in event.text):
            # A number typed instead of shared ("0812-3456-7890"): kept if it is a mobile one.
            phone = normalize_phone(event.text, self.config.phone_region)
            if phone is None:
                return Step.PHONE, [Reply(t("phone-invalid")), _REPROMPT]
            self._keep(data, "phone", phone)
            return self._after(data, Step.PHONE, category), [
                Reply(t("phone-saved"), remove_keyboard=True)]
        return Step.PHONE, [self._unexpected(t, event, "expect-phone"), _REPROMPT]

    async def _on_nik(
        self, session: AsyncSession, t: Tr, turn: Turn, data: dict[str, Any], event: Event,
        ctx: _Ctx,
    ) -> StepResult:
        category = await self._category(session, data)
        if isinstance(event, Text):
            problem = check_nik(event.text)
            if problem is not None:
                return Step.NIK, [Reply(t(f"nik-invalid-{problem.value}"))]
            self._keep(data, "nik", clean_nik(event.text))
            return self._after(data, Step.NIK, category), [Reply(t("nik-saved"))]
        return Step.NIK, [self._unexpected(t, event, "expect-nik"), _REPROMPT]

    def _identity_prompt(self, t: Tr, turn: Turn, data: dict[str, Any]) -> Reply:
        """The identity question with the modes this deployment allows."""
        modes = self.config.identity_modes
        name = data.get("name") or turn.profile_name or turn.citizen.display_name
        rows = []
        if "named" in modes:
            label = t("btn-use-name", name=name[:40]) if name else t("btn-named")
            rows.append([Choice(label, "name")])
        if "confidential" in modes:
            rows.append([Choice(t("btn-confidential"), "conf")])
        if self.config.anonymous_allowed:
            rows.append([Choice(t("btn-anonymous"), "anon")])
        rows.append([Choice(t("btn-cancel"), "cancel")])
        if data.get("name_for"):
            return Reply(t("ask-name"), choices=rows, remove_keyboard=True)
        shown = [m for m in modes if m != "anonymous" or self.config.anonymous_allowed]
        text = "\n".join([t("ask-identity-modes")] + [t(f"identity-explain-{m}") for m in shown])
        return Reply(text, choices=rows, remove_keyboard=True)

    def _keep(self, data: dict[str, Any], key: str, value: str | None) -> None:
        """A phone or NIK into the draft: encrypted when a vault is configured."""
        data.pop(key, None)
        data.pop(key + "_enc", None)
        if value is None:
            return
        if self.config.vault is not None:
            data[key + "_enc"] = self.config.vault.encrypt(value)
        else:
            data[key] = value

    def _secret(self, data: dict[str, Any], key: str) -> str | None:
        """A phone or NIK from the draft, decrypted."""
        if data.get(key + "_enc") and self.config.vault is not None:
            return self.config.vault.decrypt(data[key + "_enc"])
        return data.get(key)

    async def _on_summary(
        self, session: AsyncSession, t: Tr, turn: Turn, data: dict[str, Any], event: Event,
        ctx: _Ctx,
    ) -> StepResult:
        if isinstance(event, Button) and event.action == "send":
            if event.arg and event.arg != data.get("nonce"):
                return Step.SUMMARY, [Reply(t("button-stale"), alert=t("button-stale-alert")),
                                      _REPROMPT]
            told = self._settle(t, data, ctx, final=True)  # every file stored, or refused
            missing = await self._missing(session, data)
            if missing is not None:
                return missing, told + [Reply(t("summary-incomplete"))]
            screening = None
            if self.screen is not None:  # the limit and the spam score's reads, at once
                screening = await self.screen(session, turn.citizen, t)
                refusal = screening.refusal
            elif self.admit is not None:
                refusal = await self.admit(session, turn.citizen, t)
            else:
                refusal = None
            if refusal is not None:  # the draft waits; nothing is filed
                return Step.SUMMARY, told + [Reply(refusal)]
            report, opd = await self._submit(session, t, turn, data, ctx, screening)
            # One message: the ticket, and where it went (dispatched in this transaction).
            received = (t("report-received-forwarded", code=report.code, opd=opd) if opd
                        else t("report-received", code=report.code))
            # No reply keyboard is up at the summary (the location and phone steps removed
            # theirs), so the ticket and the menu go as one message.
            return None, told + [Reply(received), menu_reply(t, t("menu-prompt"))]
        if isinstance(event, Button) and event.action == "edit_menu":
            return Step.EDIT, []
        return Step.SUMMARY, [self._unexpected(t, event, "expect-summary"), _REPROMPT]

    async def _on_edit(
        self, session: AsyncSession, t: Tr, turn: Turn, data: dict[str, Any], event: Event,
        ctx: _Ctx,
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
            if step is Step.PHONE and self.config.require_nik and not data.get("anonymous"):
                return Step.NIK
            if "description" not in data:
                return Step.DESCRIPTION
            data.pop("editing", None)
            return Step.SUMMARY
        order = [Step.CATEGORY, Step.DESCRIPTION, Step.MEDIA, Step.LOCATION, Step.IDENTITY,
                 Step.PHONE, Step.NIK, Step.SUMMARY]
        nxt = order[order.index(step) + 1]
        if nxt is Step.PHONE and data.get("anonymous"):
            nxt = Step.SUMMARY
        if nxt is Step.NIK and not self.config.require_nik:
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
        return self._identity_missing(data)

    def _identity_missing(self, data: dict[str, Any]) -> Step | None:
        """The identity step still owed under this deployment's rules (which may have changed
        since the draft began), or None."""
        cfg = self.config
        mode = data.get("identity_mode") or ("anonymous" if data.get("anonymous") else "named")
        if mode == "anonymous":
            return None if cfg.anonymous_allowed else Step.IDENTITY
        if mode not in cfg.identity_modes:
            return Step.IDENTITY
        if cfg.require_phone and not self._secret(data, "phone"):
            return Step.PHONE
        if cfg.require_nik and not self._secret(data, "nik"):
            return Step.NIK
        return None

    async def _category(self, session: AsyncSession, data: dict[str, Any]) -> Category | None:
        cid = data.get("category_id")
        return await self.catalog.category(session, int(cid)) if cid is not None else None

    async def _pick_category(self, session: AsyncSession, arg: str) -> Category | None:
        if not arg.isdigit():
            return None
        category = await self.catalog.category(session, int(arg))
        return category if category is not None and category.active else None

    async def _reverse(self, lat: float, lon: float) -> str | None:
        try:
            return await self.geocoder.reverse(lat, lon)
        except Exception:  # the geocoder is optional comfort: never block a report on it
            log.warning("reverse geocoding failed", exc_info=True)
            return None

    def _prepared(self, t: Tr, ctx: _Ctx, event: Media) -> tuple[dict[str, Any], Reply | None]:
        """The file this turn downloaded before its transaction, or the reason it could not;
        with background downloads, the file accepted by id (what the event's own figures
        refuse, e.g. a file over the Bot API's limit, is refused at once)."""
        if self.downloads is not None and ctx.fetchable:
            try:
                _precheck(event)
            except MediaRejected as rejected:
                return {}, Reply(t(rejected.key, **rejected.params))
            kind = _file_kind(event)
            ctx.later.append(event)
            return pending_entry(event, kind or "photo"), None
        pre = ctx.prepared
        if pre is None or pre.ref != event.ref:
            return {}, Reply(t("media-download-failed"))
        if pre.error is not None:
            return {}, pre.error
        return dict(pre.stored or {}), None

    async def download(self, event: Media, fetch: Fetch | None) -> dict[str, Any] | MediaRejected:
        """One file downloaded and stored (handlers/downloads.py runs this in the background):
        the stored file, or why it was refused."""
        kind = _file_kind(event) or "photo"
        try:
            _precheck(event)
            if fetch is None:
                raise MediaRejected("media-download-failed")
            try:
                raw = await fetch(event)
            except MediaRejected:
                raise
            except Exception as exc:
                log.warning("download of %s failed: %s", event.ref, exc)
                raise MediaRejected("media-download-failed") from exc
            stored = await asyncio.to_thread(self.media.store, raw, kind, event.mime, event.ref)
        except MediaRejected as rejected:
            # Handed on (handlers/downloads.py, to a waiting Send or `on_failed`): a fresh
            # one, without the traceback whose frames hold the downloaded bytes.
            return MediaRejected(rejected.key, **rejected.params)
        except Exception:  # e.g. the disk: the citizen is told, the draft goes on
            log.exception("storing %s failed", event.ref)
            return MediaRejected("media-download-failed")
        return stored.to_dict()

    def _settle(self, t: Tr, data: dict[str, Any], ctx: _Ctx, final: bool = False
                ) -> list[Reply]:
        """Files accepted by id whose download finished, stored in the draft in place of
        their ids. With `final` (Send): a file this turn has no outcome for raises
        NeedsFiles, and one refused to this turn's own wait leaves the draft with a word to
        the citizen (returned; one per file, however often it was sent)."""
        if self.downloads is None:
            return []
        told: dict[str, Reply] = {}
        waiting: dict[str, Media] = {}
        for key in ("media", "voice"):
            entries = data.get(key)
            if not entries or not any(PENDING in e for e in entries):
                continue
            kept = []
            for entry in entries:
                ref = entry.get(PENDING)
                stored = self.downloads.stored(ref) if ref else None
                if ref is None:
                    kept.append(entry)
                elif stored is not None:
                    stored = dict(stored)
                    if key == "media":
                        stored["group_id"] = entry.get("group_id")
                    kept.append(stored)
                elif final and ref in ctx.refused:
                    told.setdefault(ref, self._not_kept(t, ctx.refused[ref]))
                else:  # still downloading; a refusal is taken out by `drop_file`, or Send
                    kept.append(entry)
                    waiting.setdefault(ref, pending_media(entry))
            data[key] = kept
        if final and waiting:
            raise NeedsFiles(list(waiting.values()))
        return list(told.values())

    async def _await_files(self, key: tuple[str, str], fetch: Fetch | None, ctx: _Ctx) -> None:
        """Before Send's transaction: the files of the draft as last seen here that are still
        downloading, waited for (or downloaded), so Send runs once. A draft not known here
        is read in the transaction, which asks for them (NeedsFiles) and is redone."""
        snap = self._drafts.get(key)
        if not isinstance(snap, DraftSnap) or self.downloads is None:
            return
        files = {e[PENDING]: pending_media(e)
                 for k in ("media", "voice") for e in snap.data.get(k) or ()
                 if PENDING in e and self.downloads.stored(e[PENDING]) is None}
        if files:
            await self._wait_files(list(files.values()), fetch, ctx)

    async def _wait_files(self, files: list[Media], fetch: Fetch | None, ctx: _Ctx) -> None:
        assert self.downloads is not None
        outcomes = await asyncio.gather(*(self.downloads.wait(m, fetch) for m in files))
        ctx.refused.update({m.ref: o for m, o in zip(files, outcomes, strict=True)
                            if isinstance(o, MediaRejected)})

    async def _still_receiving(
        self, session: AsyncSession, turn: Turn,
        before_commit: Callable[[list[Reply]], Awaitable[None]] | None,
    ) -> list[Reply]:
        """Send's answer when the draft's files are still downloading after `send_wait`:
        nothing is filed, the draft waits at the summary, the downloads go on."""
        t = self.translator.bind(turn.citizen.language)
        replies = [Reply(t("media-still-receiving"), alert=t("media-still-receiving"))]
        if before_commit is not None:
            await before_commit(replies)
        await session.commit()
        return replies

    def _not_kept(self, t: Tr, rejected: MediaRejected) -> Reply:
        return Reply(t("media-not-kept", reason=t(rejected.key, **rejected.params)))

    async def drop_file(self, session: AsyncSession, channel: str, user: str, ref: str,
                        rejected: MediaRejected) -> bool:
        """A file accepted by id that could not be kept: out of the draft, and the citizen
        told (through the outbox, in the same transaction). False, and nothing written, when
        the draft no longer holds it (Send or an edit got there first)."""
        for _attempt in range(4):
            draft = await repo.load_draft(session, channel, user)
            data = dict(draft.data) if draft is not None else {}
            found = False
            for key in ("media", "voice"):
                entries = data.get(key) or []
                kept = [e for e in entries if e.get(PENDING) != ref]
                if len(kept) != len(entries):
                    data[key], found = kept, True
            if draft is None or not found:
                await session.commit()
                return False
            try:
                await repo.save_draft(session, channel, user, Step(draft.step), data,
                                      draft.version)
            except repo.DraftConflict:
                await session.rollback()
                continue
            citizen = await repo.get_citizen(session, channel, user)
            t = self.translator.bind(self.translator.lang(citizen.language if citizen else None))
            enqueue(session, user, "text", {"text": self._not_kept(t, rejected).text},
                    channel=channel)
            await session.commit()
            self._drafts.pop((channel, user), None)
            return True
        return False

    def _add_media(self, t: Tr, data: dict[str, Any], event: Media, ctx: _Ctx) -> list[Reply]:
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
        stored, error = self._prepared(t, ctx, event)
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
        self, session: AsyncSession, t: Tr, turn: Turn, data: dict[str, Any], ctx: _Ctx,
        screening: Screen | None = None,
    ) -> tuple[Report, str | None]:
        """One transaction: the report, its attachments, a `created` event; the draft removed;
        dispatched by `on_submitted`. Returns the report and the OPD it went to, if any."""
        category = await self._category(session, data)
        assert category is not None and turn.citizen.id is not None
        anonymous = bool(data.get("anonymous"))
        mode = "anonymous" if anonymous else (data.get("identity_mode") or "named")
        vault = self.config.vault
        phone = None if anonymous else self._secret(data, "phone")
        nik = None if anonymous else self._secret(data, "nik")
        report = Report(
            code="",
            channel=turn.channel,
            citizen_id=turn.citizen.id,
            category_id=category.id,  # type: ignore[arg-type]
            opd_id=await self._route(session, category, data),
            description=data["description"],
            latitude=data.get("latitude"),
            longitude=data.get("longitude"),
            address=data.get("address"),
            reporter_name=None if anonymous else data.get("name"),
            anonymous=anonymous,
            identity_mode=mode,
            language=turn.citizen.language,
            status=Status.RECEIVED.value,
            draft_nonce=data.get("nonce"),
        )
        calendar = self.config.calendar or WorkCalendar(self.config.tz, self.config.holidays,
                                                        None)
        start_clocks(report, category, calendar, self.config.clock.now(),
                     self.config.yellow_share)
        if vault is not None:
            report.reporter_phone_enc = vault.encrypt(phone)
            report.reporter_phone_hash = vault.hash("phone", phone)
            report.reporter_nik_enc = vault.encrypt(nik)
            report.reporter_nik_hash = vault.hash("nik", nik)
            if phone:  # the citizen's own number, shown back to them by /dataku
                await session.execute(
                    update(Citizen).where(col(Citizen.id) == turn.citizen.id)
                    .values(phone_enc=report.reporter_phone_enc,
                            phone_hash=report.reporter_phone_hash))
        attachments = list(data.get("media", [])) + list(data.get("voice", []))
        if screening is not None:  # scored before it is written: no UPDATE afterwards
            media = sum(1 for a in attachments if a.get("kind") in ("photo", "video"))
            score, reasons = screening.score(report.description, media,
                                             turn.citizen.created_at)
            report.spam_score, report.spam_reasons = score, ",".join(reasons) or None
        # The draft goes first, by version: a draft changed meanwhile (another process)
        # conflicts here, before anything is written, and the turn is redone on fresh state.
        await repo.delete_draft(session, turn.channel, turn.user, version=ctx.version)
        if self._reports is None or self._reports_checked >= 1000:
            # Counted now and then, not on every filing: statements per filing stay constant.
            self._reports, self._reports_checked = await repo.count_reports(session), 0
        report = await repo.create_report(
            session, report, attachments, prefix=self.config.ticket_prefix,
            actor_id=turn.user, actor_name=None if mode != "named" else data.get("name"),
            code_length=ticket_length(self._reports),
        )
        self._reports += 1
        self._reports_checked += 1
        about_ticket(report.code)
        forwarded = None
        if self.on_submitted is not None and await self.on_submitted(session, report):
            opd = await self.catalog.opd(session, report.opd_id)
            forwarded = opd.name(t.lang) if opd is not None else "-"
        return report, forwarded

    async def _follow_refused(self, session: AsyncSession, report: Report | None,
                              citizen_id: int) -> str | None:
        """Why the citizen cannot follow the report (a translation key), or None."""
        if report is None or report.id is None or report.status not in OPEN_STATUSES:
            return "follow-closed"
        if report.citizen_id == citizen_id:
            return "follow-own"
        if await followers.is_follower(session, report.id, citizen_id):
            return "follow-already"
        return None

    async def _route(self, session: AsyncSession, category: Category, data: dict[str, Any]
                     ) -> int:
        """The OPD a report goes to: the one whose area covers the pin where the category
        routes by area, else the category's own."""
        lat, lon = data.get("latitude"), data.get("longitude")
        if category.route_by_area and self.areas is not None and lat is not None \
                and lon is not None:
            opd_id = await self.areas.opd_at(session, float(lat), float(lon))
            opd = await self.catalog.opd(session, opd_id) if opd_id is not None else None
            if opd is not None and opd.active and opd.id is not None:  # catalog: fresher
                return opd.id
        return category.opd_id

    async def _outside(self, session: AsyncSession, lat: float, lon: float) -> bool:
        """Whether a pin lies outside the service polygons (or, without them, the box)."""
        inside = await self.areas.in_service_area(session, lat, lon) if self.areas else None
        if inside is not None:
            return not inside
        area = self.config.service_area
        return bool(area) and not (area[0] <= lat <= area[2] and area[1] <= lon <= area[3])

    async def _nearby_offer(self, session: AsyncSession, t: Tr, data: dict[str, Any]) -> Reply:
        """The open reports offered near the pin: ticket, light, distance, description."""
        lat, lon = float(data["latitude"]), float(data["longitude"])
        lines, rows = [t("nearby-head")], []
        for rid in data.get("nearby", []):
            report = await session.get(Report, int(rid))
            if report is None or report.latitude is None or report.longitude is None:
                continue
            meters = round(haversine_m(lat, lon, report.latitude, report.longitude))
            text = report.description[:80] + ("…" if len(report.description) > 80 else "")
            lines.append(t("nearby-line", light=light(report), code=report.code,
                           meters=meters, status=t(f"status-{report.status}"),
                           supporters=report.supporters, description=text))
            rows.append([Choice(t("btn-follow", code=report.code), "follow", str(report.id))])
        lines.append(t("nearby-foot"))
        rows.append([Choice(t("btn-new-anyway"), "new_anyway")])
        return Reply("\n\n".join(lines), choices=rows, remove_keyboard=True)

    async def _followed_reply(self, session: AsyncSession, t: Tr, turn: Turn) -> Reply | None:
        """The reports the citizen follows (for /laporanku), each with an unfollow button."""
        reports = await followers.followed_reports(session, turn.citizen.id or 0)
        if not reports:
            return None
        lines = [t("followed-head", count=len(reports))]
        rows = []
        for r in reports:
            lines.append(f"{light(r)} {r.code} — {t(f'status-{r.status}')} "
                         f"({t('followed-mark')})")
            lines.append("   " + (r.description[:60] + ("…" if len(r.description) > 60 else "")))
            if len(rows) < 3:  # WhatsApp shows at most three buttons
                rows.append([Choice(t("btn-unfollow", code=r.code), "unfollow", str(r.id))])
        return Reply("\n".join(lines), choices=rows)

    async def _unfollow(self, session: AsyncSession, t: Tr, turn: Turn, event: Event) -> Reply:
        """`/berhenti_ikuti CODE` or its button: the citizen stops following a report."""
        report: Report | None = None
        if isinstance(event, Button) and event.arg.isdigit():
            report = await session.get(Report, int(event.arg))
        elif isinstance(event, Command) and event.args.strip():
            code = normalize_ticket(event.args.strip(), self.config.ticket_prefix)
            report = await repo.report_by_code(session, code) if code else None
        else:
            return Reply(t("unfollow-usage", example=f"{self.config.ticket_prefix}-7K3Q"))
        if report is None or report.id is None or turn.citizen.id is None or \
                not await followers.unfollow(session, report.id, turn.citizen.id):
            return Reply(t("unfollow-not-following",
                           code=report.code if report is not None else event.args.strip()[:20]))
        await refresh_card(session, None, report)
        return Reply(t("unfollow-done", code=report.code))

    def _unexpected(self, t: Tr, event: Event, expect_key: str) -> Reply:
        if isinstance(event, Button):
            return Reply(t(expect_key), alert=t("button-stale-alert"))
        return Reply(t(expect_key))


_REPROMPT = Reply("")
_ABSENT = object()  # in Intake._drafts: no draft, as last seen here
_FOLLOW_REFUSED = {"already": "follow-already", "own": "follow-own", "closed": "follow-closed"}


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


def _description_takes(event: Media) -> bool:
    """A voice note, or a photo whose caption is long enough to be the description."""
    return event.kind in ("voice", "audio") or len((event.caption or "").strip()) >= 10


def fold_replies(replies: list[Reply]) -> list[Reply]:
    """What `Intake.handle` returns for these replies (for a channel's `before_commit`)."""
    return _fold(replies)


def _fold(replies: list[Reply]) -> list[Reply]:
    """One message per step where one does: a plain acknowledgement (no buttons, no
    keyboard request) is put in front of the message that follows it."""
    out: list[Reply] = []
    for reply in replies:
        prev = out[-1] if out else None
        # Telegram cannot remove a reply keyboard and show inline buttons in one message:
        # an acknowledgement that removes the location/contact keyboard stays on its own.
        removes = prev is not None and prev.remove_keyboard and bool(reply.choices)
        if (prev is not None and prev.text and reply.text and not prev.choices
                and prev.request is None and not removes
                and len(prev.text) + len(reply.text) < 3500):
            out[-1] = Reply(
                prev.text + "\n\n" + reply.text, choices=reply.choices, request=reply.request,
                request_label=reply.request_label, skip_label=reply.skip_label,
                remove_keyboard=prev.remove_keyboard or reply.remove_keyboard,
                edit=prev.edit or reply.edit, alert=prev.alert or reply.alert)
            continue
        out.append(reply)
    return out


def _precheck(event: Media) -> None:
    """What the event's own figures refuse, before any download."""
    if event.size is not None and event.size > MAX_DOWNLOAD_BYTES:
        raise MediaRejected("media-too-big", limit=20)
    if event.size == 0:
        raise MediaRejected("media-empty")


def _file_kind(event: Media) -> str | None:
    """What a file is stored as: a voice note, else as `_media_kind` says."""
    return "voice" if event.kind in ("voice", "audio") else _media_kind(event)


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
