"""The report lifecycle after intake: dispatch to the OPD, PIC actions, relays, feedback.

Transport-neutral: every message to another party is an outbox row written in the same
transaction as the change that caused it (see bot/outbox.py for delivery). Cards are plain
views here (`card_view`); the Telegram adapter renders them (handlers/telegram/cards.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, insert, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm.util import identity_key
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.i18n import Translator
from handlers.logctx import about_ticket
from handlers.replies import split_text
from handlers.status import light
from models import followers, repo
from models.catalog import Catalog
from models.domain import (
    OPEN_STATUSES,
    Clock,
    Status,
    SystemClock,
    WorkCalendar,
    normalize_ticket,
    plan_light,
    utcnow,
)
from models.roles import Roles
from models.tables import (
    Attachment,
    Category,
    Citizen,
    MessageLink,
    Opd,
    Outbox,
    Pic,
    Report,
    ReportEvent,
)

log = logging.getLogger(__name__)

REJECT_REASONS = ("hoax", "authority", "duplicate", "other")
NOTE_MAX = 1000
# The card's parsed text must stay under Telegram's 4096: description (<= 2000) + address
# (<= 300) + a note cut to this + names and labels.
CARD_NOTE_MAX = 600

# action -> statuses it may start from
ALLOWED: dict[str, frozenset[str]] = {
    "take": frozenset({Status.RECEIVED, Status.VERIFIED, Status.DISPATCHED, Status.IN_PROGRESS,
                       Status.NEED_INFO}),
    "progress": frozenset({Status.DISPATCHED, Status.NEED_INFO, Status.RECEIVED,
                           Status.VERIFIED}),
    "info": frozenset({Status.DISPATCHED, Status.IN_PROGRESS}),
    "resolve": frozenset({Status.DISPATCHED, Status.IN_PROGRESS, Status.NEED_INFO}),
    "reject": frozenset(OPEN_STATUSES),
    "reassign": frozenset(OPEN_STATUSES),
}


@dataclass(frozen=True)
class Actor:
    """Who pressed or wrote: a Telegram user in an OPD group."""

    user_id: int
    name: str
    username: str | None = None


@dataclass
class Outcome:
    """What the pressing PIC sees: a short alert, and whether a prompt must be posted."""

    ok: bool
    alert: str
    prompt: str | None = None  # 'info' | 'resolve' | 'reject_other' | 'duplicate'
    keyboard: str | None = None  # 'reject' | 'reassign' | 'card'
    report: Report | None = None


@dataclass
class Deps:
    translator: Translator
    tz: ZoneInfo
    admin_ids: frozenset[int]  # the super-admins of ADMIN_IDS
    default_language: str = "id"
    ticket_prefix: str = "ADU"
    catalog: Catalog = field(default_factory=Catalog)  # admin changes invalidate it
    clock: Clock = field(default_factory=SystemClock)
    calendar: WorkCalendar | None = None  # None: weekends only, in tz
    yellow_share: float = 0.75
    auto_close_days: int = 10
    admin_chat_id: int | None = None  # escalations and the digest; else each super-admin
    roles: Roles | None = None  # None: the super-admins of admin_ids only
    reader: Any = None  # sessionmaker for long reads (reports) that never take the write lock
    pii: Any = None  # models.pii.Vault: decrypts reporters' phones for those allowed to see
    # Operator verification (handlers/verification.py): on, the operators' group, the deadline.
    verify_reports: bool = False
    operator_chat_id: int | None = None
    verify_deadline: str = "3d"
    max_reports_per_day: int = 0  # per citizen and local day; 0: no limit

    def __post_init__(self) -> None:
        if self.calendar is None:
            self.calendar = WorkCalendar(self.tz, (), None)
        if self.roles is None:
            self.roles = Roles(self.admin_ids)

    @property
    def cal(self) -> WorkCalendar:
        assert self.calendar is not None
        return self.calendar

    def now(self) -> datetime:
        return self.clock.now()


# ---- outbox helpers -------------------------------------------------------------------------


TEXT_LIMIT = 4096  # Telegram's and WhatsApp's longest text message
QUEUED_KEY = repo.OUTBOX_QUEUED


def enqueue(session: AsyncSession, chat_id: int | str, kind: str, payload: dict[str, Any],
            report_id: int | None = None, channel: str = "telegram") -> Outbox:
    """An outbox row (or several: a plain text longer than a message is split, never cut;
    buttons go with the last piece, the reply target with the first)."""
    session.info[QUEUED_KEY] = True  # the delivery worker is woken after this update
    text = payload.get("text")
    if kind == "text" and not payload.get("html") and isinstance(text, str) \
            and len(text) > TEXT_LIMIT:
        pieces = split_text(text, TEXT_LIMIT)
        keep = {k: v for k, v in payload.items() if k not in ("text", "buttons", "markup",
                                                               "reply_to")}
        for piece in pieces[:-1]:
            first = {"reply_to": payload["reply_to"]} if "reply_to" in payload else {}
            session.add(Outbox(channel=channel, chat_id=str(chat_id), kind=kind,
                               payload={**keep, **first, "text": piece}, report_id=report_id))
            payload = {k: v for k, v in payload.items() if k != "reply_to"}
        payload = {**payload, "text": pieces[-1]}
    row = Outbox(channel=channel, chat_id=str(chat_id), kind=kind, payload=payload,
                 report_id=report_id)
    session.add(row)
    return row


async def enqueue_many(session: AsyncSession, rows: list[tuple[int | str, str, dict[str, Any],
                                                               int | None]],
                       channel: str = "telegram") -> None:
    """Many outbox rows (chat, kind, payload, report id) in one Core statement: for the
    scheduler's batches, where building ORM objects would cost more than the writes. Due
    now in real time (delivery runs on the wall clock, whatever clock oversight runs on)."""
    if not rows:
        return
    session.info[QUEUED_KEY] = True
    now = utcnow()
    await session.execute(insert(Outbox.__table__), [  # type: ignore[attr-defined]
        {"channel": channel, "chat_id": str(chat), "kind": kind, "payload": payload,
         "report_id": report_id, "status": "pending", "attempts": 0, "next_attempt_at": now,
         "created_at": now} for chat, kind, payload, report_id in rows])


async def alert_admins(session: AsyncSession, deps: Deps, key: str, **params: Any) -> None:
    """One text to every super-admin, in the default language."""
    text = deps.translator(deps.default_language, key, **params)
    for admin in sorted(deps.admin_ids):
        enqueue(session, admin, "text", {"text": text, "no_alert": True})


async def notify_citizen(session: AsyncSession, deps: Deps, report: Report, key: str,
                         buttons: list[list[list[str]]] | None = None, **params: Any) -> None:
    """A notification in the citizen's own channel and language, linked to the report."""
    citizen = await session.get(Citizen, report.citizen_id)
    if citizen is None:
        if key in FOLLOWER_NOTICES:  # the reporter is gone; those following it are not
            await notify_followers(session, deps, report, params.get("note"))
        return
    opd = await session.get(Opd, report.opd_id)
    lang = citizen.language
    text = deps.translator(lang, key, code=report.code, opd=opd.name(lang) if opd else "-",
                           **params)
    payload: dict[str, Any] = {"text": text, "link": "notice"}
    if buttons:
        payload["buttons"] = buttons
    enqueue(session, citizen.external_id, "text", payload, report.id, channel=citizen.channel)
    if key in FOLLOWER_NOTICES:  # progress, not a question meant for the reporter alone
        await notify_followers(session, deps, report, params.get("note"))


# The reporter's notices that followers get too (as `follow-update`): not `notify-need-info`.
FOLLOWER_NOTICES = frozenset({"notify-dispatched", "notify-in-progress", "notify-resolved",
                              "notify-rejected", "notify-reassigned", "notify-auto-closed"})


async def notify_followers(session: AsyncSession, deps: Deps, report: Report,
                           detail: str | None = None) -> int:
    """The report's new status to each of its followers, in their own channel and language;
    returns how many were queued."""
    citizens = await followers.followers_of(session, report.id or 0)
    if not citizens:
        return 0
    opd = await deps.catalog.opd(session, report.opd_id)
    for citizen in citizens:
        lang = citizen.language
        text = deps.translator(lang, "follow-update", code=report.code,
                               status=deps.translator(lang, f"status-{report.status}"),
                               opd=opd.name(lang) if opd else "-")
        if detail:
            text += "\n" + detail[:CARD_NOTE_MAX]
        enqueue(session, citizen.external_id, "text", {"text": text, "link": "notice"},
                report.id, channel=citizen.channel)
    return len(citizens)


async def merge_followers(session: AsyncSession, deps: Deps, source: Report, target: Report,
                          tell_reporter: bool = True) -> int:
    """`source` is a duplicate of `target`: its reporter and followers follow the target
    (models/followers.py), each told so (the reporter only when `tell_reporter`: a caller
    that tells them itself says False); the target's card shows the new count. Not
    committed. Returns how many newly follow the target."""
    moved_ids = [c.id for c in await followers.followers_of(session, source.id or 0)]
    moved = await followers.move_followers(session, source, target)
    told = [source.citizen_id, *moved_ids] if tell_reporter else moved_ids
    for citizen_id in dict.fromkeys(told):
        if citizen_id == target.citizen_id:
            continue
        citizen = await session.get(Citizen, citizen_id)
        if citizen is None:
            continue
        text = deps.translator(citizen.language, "follow-merged", code=source.code,
                               target=target.code)
        enqueue(session, citizen.external_id, "text", {"text": text, "link": "notice"},
                target.id, channel=citizen.channel)
    await refresh_card(session, deps, target)
    return moved


# ---- the card -------------------------------------------------------------------------------


@dataclass
class CardView:
    """What an OPD card shows, as plain data; the Telegram adapter renders it
    (handlers/telegram/cards.py)."""

    report: Report
    category: Category | None
    opd: Opd | None
    citizen: Citizen | None
    media: int
    voices: int
    light: str
    actions: list[list[str]]  # rows of card actions for the report's state


def card_actions(report: Report) -> list[list[str]]:
    """Rows of the actions a PIC may take on the report in its current state."""
    status = report.status
    if status in (Status.RESOLVED, Status.CLOSED, Status.REJECTED):
        return []
    rows: list[list[str]] = []
    first = []
    if report.assignee_id is None:
        first.append("take")
    if status in ALLOWED["progress"]:
        first.append("progress")
    if first:
        rows.append(first)
    second = []
    if status in ALLOWED["info"]:
        second.append("info")
    second.append("resolve")
    rows.append(second)
    rows.append(["reject", "reassign"])
    return rows


async def card_view(session: AsyncSession, report: Report) -> CardView:
    """The card of a report in its current state."""
    category = await session.get(Category, report.category_id)
    opd = await session.get(Opd, report.opd_id)
    citizen = await session.get(Citizen, report.citizen_id)
    attachments = await repo.attachments_of(session, report.id or 0)
    media = sum(1 for a in attachments if a.kind in ("photo", "video"))
    voices = sum(1 for a in attachments if a.kind == "voice")
    return CardView(report, category, opd, citizen, media, voices, light(report),
                    card_actions(report))


async def refresh_card(session: AsyncSession, deps: Deps | None, report: Report) -> None:
    """Queue an edit of the card to the report's state at delivery time (if it was posted).

    The outbox is the only place that edits a card; it renders the newest state when it
    sends, and pending edits of the same card are coalesced into that one."""
    chat = report.card_chat_id
    if chat is None and awaiting_verification(report):
        chat = deps.operator_chat_id  # the operators' card, not posted yet
        if chat is None:
            return
    if chat is None:
        opd = await session.get(Opd, report.opd_id)
        if opd is None or opd.chat_id is None:
            return
        chat = opd.chat_id
    enqueue(session, chat, "edit_card", {}, report.id)


# ---- dispatch -------------------------------------------------------------------------------


async def _opd_group(session: AsyncSession, opd_id: int | None) -> Any:
    """The OPD's code, group and topic as this transaction sees them: the session's own Opd
    when it holds one (changes not flushed yet, e.g. a group just bound), else one Core read
    (an ORM load was ~10 % of Send's CPU)."""
    if opd_id is None:
        return None
    held = session.sync_session.identity_map.get(identity_key(Opd, opd_id))
    if held is not None:
        if _GROUP_ATTRS & sa_inspect(held).unloaded:
            # Expired (a rollback, `expire`): reading it would be a lazy load outside
            # SQLAlchemy's greenlet; `get` refreshes it, as before.
            return await session.get(Opd, opd_id)
        return held
    rows = await repo.core_rows(session, _OPD_GROUP, {"id": opd_id})
    return rows[0] if rows else None


_GROUP_ATTRS = frozenset({"code", "chat_id", "thread_id"})
_OPD_GROUP = select(Opd.code, Opd.chat_id, Opd.thread_id).where(col(Opd.id) == bindparam("id"))


# Another report of the OPD waiting for its group: built once (per Send it was built and its
# cache key computed each time).
_WAITING = select(Report.id).where(
    col(Report.opd_id) == bindparam("opd"), col(Report.status) == Status.RECEIVED.value,
    col(Report.id) != bindparam("rid")).limit(1)


async def dispatch(session: AsyncSession, deps: Deps, report: Report,
                   notify: bool = True, new: bool = False) -> bool:
    """Queue the card, its album and its pin for the OPD's group (and tell the citizen);
    False if the OPD has no group yet. `new`: the report was written in this transaction,
    so it has no older card in the outbox to supersede."""
    opd = await _opd_group(session, report.opd_id)
    if report.card_chat_id is not None or report.card_message_id is not None:
        # (Set only when there is one: setting None over None still marks the report
        # modified, and the commit then flushes it for nothing.)
        report.card_chat_id, report.card_message_id = None, None
    session.add(report)
    if opd is None or opd.chat_id is None:
        # Told once per OPD while its reports wait, not once per report: after a flood that
        # would be hundreds of identical alerts.
        # Whether another one waits, not how many: the same cost with 10 or 10,000 waiting.
        waiting = await repo.core_rows(session, _WAITING,
                                       {"opd": report.opd_id, "rid": report.id})
        if not waiting:
            await alert_admins(session, deps, "alert-opd-no-group", code=report.code,
                               opd=opd.code if opd else "?")
        return False
    # An older card of this report that never went out (group unreachable, rebound since)
    # is replaced by this one, never posted twice.
    if not new:
        await session.execute(
            update(Outbox)
            .where(col(Outbox.report_id) == report.id,
                   col(Outbox.kind).in_(("card", "album", "location", "voice")),
                   col(Outbox.status).in_(("pending", "undeliverable")))
            .values(status="superseded").execution_options(synchronize_session=False))
    if report.status in (Status.RECEIVED, Status.VERIFIED):
        await set_status(session, deps, report, Status.DISPATCHED, "system", None, None,
                          note=opd.code)
        if notify:
            await notify_citizen(session, deps, report, "notify-dispatched")
    await session.flush()
    thread = {"thread_id": opd.thread_id} if opd.thread_id else {}
    # Rendered by the outbox when it is sent, from the report's state at that moment.
    enqueue(session, opd.chat_id, "card", {"link": "card", **thread}, report.id)
    attachments = await repo.attachments_of(session, report.id or 0)  # read once
    media = [a for a in attachments if a.kind in ("photo", "video")]
    if media:
        enqueue(session, opd.chat_id, "album",
                {"files": [[a.kind, a.path] for a in media[:10]], "reply_to": "card",
                 "link": "album", **thread}, report.id)
    for voice in [a for a in attachments if a.kind == "voice"]:
        enqueue(session, opd.chat_id, "voice", {"path": voice.path, "reply_to": "card",
                                                "link": "album", **thread}, report.id)
    if report.latitude is not None and report.longitude is not None:
        enqueue(session, opd.chat_id, "location",
                {"latitude": report.latitude, "longitude": report.longitude,
                 "reply_to": "card", "link": "location", **thread}, report.id)
    return True


async def dispatch_waiting(session: AsyncSession, deps: Deps, opd: Opd) -> int:
    """After an OPD gets a group: dispatch its reports that were waiting, and re-route
    messages that could not reach its old group."""
    result = await session.exec(select(Report).where(
        Report.opd_id == opd.id, col(Report.status).in_([Status.RECEIVED, Status.VERIFIED])))
    # Reports still awaiting an operator's verification stay in the operators' group.
    waiting = [r for r in result.all() if not awaiting_verification(r)]
    for report in waiting:
        await dispatch(session, deps, report)
    stuck = await session.exec(select(Report).where(
        Report.opd_id == opd.id, col(Report.status).in_(list(OPEN_STATUSES)),
        col(Report.card_message_id).is_(None), col(Report.status) == Status.DISPATCHED))
    for report in stuck.all():
        if report not in waiting:
            await dispatch(session, deps, report)
    return len(waiting)


# ---- PIC permissions and actions ------------------------------------------------------------


async def is_pic(session: AsyncSession, deps: Deps, actor: Actor, opd_id: int) -> bool:
    """Admins, and PICs registered for the OPD (a username-only PIC is bound on first use)."""
    if deps.roles is not None and await deps.roles.is_admin(session, actor.user_id):
        return True
    result = await session.exec(select(Pic).where(Pic.opd_id == opd_id,
                                                  Pic.user_id == actor.user_id))
    if result.first() is not None:
        return True
    if actor.username:
        pending = (await session.exec(select(Pic).where(
            Pic.opd_id == opd_id, col(Pic.user_id).is_(None),
            col(Pic.username) == actor.username.lower()))).first()
        if pending is not None:
            pending.user_id, pending.name = actor.user_id, actor.name
            session.add(pending)
            return True
    return False


async def set_status(session: AsyncSession, deps: Deps, report: Report, to: Status,
                      actor_kind: str, actor_id: str | None, actor_name: str | None,
                      note: str | None = None, kind: str = "status") -> None:
    """Record the change as an event and keep the report's clocks: a PIC's action is the
    follow-up; `need_info` pauses the deadlines (they move by the time spent waiting on the
    citizen); resolving starts the auto-close countdown; the light is recomputed."""
    now = deps.now()
    session.add(ReportEvent(
        report_id=report.id or 0, at=now, kind=kind, actor_kind=actor_kind, actor_id=actor_id,
        actor_name=actor_name, from_status=report.status, to_status=to.value, note=note))
    leaving = report.status
    report.status = to.value
    report.updated_at = now
    if leaving == Status.NEED_INFO and to != Status.NEED_INFO:
        resume_clock(report, now)
    if to == Status.NEED_INFO and report.paused_at is None:
        report.paused_at = now
    if actor_kind == "pic":
        mark_followup(report, now)
    if to == Status.RESOLVED:
        report.resolve_secs = int((now - report.created_at).total_seconds())
        report.close_due_at = deps.cal.add_working_days(now, deps.auto_close_days)
    elif leaving == Status.RESOLVED:
        report.close_due_at = None
    relight(report, deps, now)


# ---- deadlines and the light ---------------------------------------------------------------


def start_clocks(report: Report, category: Category, calendar: WorkCalendar, now: datetime,
                 share: float) -> None:
    """A new report's deadlines (first follow-up and resolution, from its category) and its
    light, counted from `now`."""
    report.created_at = report.updated_at = now
    report.followup_due_at = calendar.due(now, category.followup_deadline)
    report.resolve_due_at = calendar.due(now, category.resolve_deadline)
    _plan(report, now, share)


def mark_followup(report: Report, now: datetime) -> None:
    """The OPD's first action on the report (take, in progress, question, reply, resolve,
    reject): whether it came in time is kept for the report card."""
    if report.first_action_at is not None:
        return
    report.first_action_at = now
    # With verification on, the OPD's follow-up clock started when the report was verified.
    started = report.verified_at or report.created_at
    report.followup_secs = max(0, int((now - started).total_seconds()))
    due = report.followup_due_at
    report.followup_on_time = due is None or now <= due


def resume_clock(report: Report, now: datetime) -> None:
    """Leaving need_info: the deadlines move by the time the clock stood still."""
    if report.paused_at is None:
        return
    waited = max(now - report.paused_at, timedelta(0))
    if report.followup_due_at is not None and report.first_action_at is None:
        report.followup_due_at += waited
    if report.resolve_due_at is not None:
        report.resolve_due_at += waited
    report.paused_at = None


def awaiting_verification(report: Report) -> bool:
    """Whether the report waits for an operator's verification (VERIFY_REPORTS)."""
    return (report.status == Status.RECEIVED and report.verify_due_at is not None
            and report.verified_at is None)


def _plan(report: Report, now: datetime, share: float) -> None:
    if awaiting_verification(report):  # the operators' verification deadline runs
        start, due = report.created_at, report.verify_due_at
    elif report.first_action_at is None:  # waiting for the first follow-up
        start, due = report.verified_at or report.created_at, report.followup_due_at
    else:  # followed up: the resolution deadline runs
        start, due = report.first_action_at, report.resolve_due_at
        if due is not None and due <= start:
            start = report.created_at
    if report.status == Status.NEED_INFO:
        # The clock stands still: the light holds what the running deadline gave when it
        # stopped (after a question, the follow-up made, that is the resolution deadline's).
        held = plan_light(report.status, start, due, report.paused_at or now, share)
        report.light, report.yellow_at, report.red_at = held.light, None, None
        return
    plan = plan_light(report.status, start, due, now, share, current=report.light)
    red_at = plan.red_at
    if plan.light == "red" and report.light != "red" and due is not None:
        # Turned red by this action (a re-open past the deadline), not by the clock: the moment
        # is left for the tick, which sends the transition's reminder and escalation.
        red_at = due
    report.light, report.yellow_at, report.red_at = plan.light, plan.yellow_at, red_at


def relight(report: Report, deps: Deps, now: datetime | None = None) -> None:
    """Recompute the report's light and the next moments it changes (what the scheduler's
    tick looks for). A report past its deadline stays red until the OPD acts."""
    _plan(report, now or deps.now(), deps.yellow_share)


async def claim(session: AsyncSession, report: Report, version: int) -> bool:
    """Compare-and-set on the report's version: True for the one writer that wins."""
    result = await session.execute(
        update(Report).where(col(Report.id) == report.id, col(Report.version) == version)
        .values(version=version + 1).execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    report.version = version + 1
    # The scheduler's tick turns lights by a Core UPDATE that leaves the version alone: the
    # caller's copy of them may predate it (read before this transaction, or before the tick
    # committed on PostgreSQL). Re-read now that the row is ours, so `relight` compares with
    # what is stored and the ORM writes the light it computes.
    await session.refresh(report, attribute_names=["light", "yellow_at", "red_at"])
    return True


async def press(session: AsyncSession, deps: Deps, actor: Actor, report_id: int, action: str,
                version: int, arg: str, chat_id: int, message_id: int) -> Outcome:
    """A card button press; validates everything, then changes state or asks for more."""
    t = deps.translator.bind(deps.default_language)
    report = await session.get(Report, report_id)
    about_ticket(report.code if report is not None else None)
    link = (await session.exec(select(MessageLink).where(
        MessageLink.chat_id == chat_id, MessageLink.message_id == message_id))).first()
    # The button must sit on a message about this report, or at least in the report's own
    # group (the card's link may still be committing when a quick PIC presses).
    opd = await session.get(Opd, report.opd_id) if report is not None else None
    in_own_group = report is not None and chat_id in (report.card_chat_id,
                                                      opd.chat_id if opd else None)
    if report is None or not (link is not None and link.report_id == report_id
                              or link is None and in_own_group):
        log.warning("forged card press by %s: report %s in chat %s", actor.user_id, report_id,
                    chat_id)
        return Outcome(False, t("pic-invalid-button"))
    if not await is_pic(session, deps, actor, report.opd_id):
        await session.commit()
        return Outcome(False, t("pic-not-allowed"))
    if version != report.version:
        return Outcome(False, t("pic-stale"), keyboard="card", report=report)
    if action == "back":
        return Outcome(True, "", keyboard="card", report=report)
    if action == "reject":
        return _check(t, report, "reject") or Outcome(True, "", keyboard="reject", report=report)
    if action == "reassign":
        return _check(t, report, "reassign") or Outcome(True, "", keyboard="reassign",
                                                        report=report)
    if action in ("info", "resolve"):
        return _check(t, report, action) or Outcome(True, "", prompt=action, report=report)
    if action == "rj":
        if arg not in REJECT_REASONS:
            return Outcome(False, t("pic-invalid-button"))
        if arg in ("other", "duplicate"):
            return _check(t, report, "reject") or Outcome(
                True, "", prompt="reject_other" if arg == "other" else "duplicate",
                report=report)
        return await reject(session, deps, actor, report, arg, None)
    if action == "ra":
        if not arg.isdigit():
            return Outcome(False, t("pic-invalid-button"))
        return await reassign(session, deps, actor, report, int(arg))
    if action == "take":
        return await take(session, deps, actor, report)
    if action == "progress":
        return await progress(session, deps, actor, report)
    return Outcome(False, t("pic-invalid-button"))


def _check(t: Any, report: Report, action: str) -> Outcome | None:
    if report.status not in ALLOWED[action]:
        return Outcome(False, t("pic-wrong-state", status=t(f"status-{report.status}")),
                       keyboard="card", report=report)
    return None


async def _won(session: AsyncSession, t: Any, report: Report) -> Outcome | None:
    rid = report.id
    if not await claim(session, report, report.version):
        await session.rollback()
        fresh = await session.get(Report, rid, populate_existing=True)
        who = fresh.assignee_name if fresh and fresh.assignee_name else "-"
        return Outcome(False, t("pic-race-lost", name=who), report=fresh)
    return None


async def take(session: AsyncSession, deps: Deps, actor: Actor, report: Report) -> Outcome:
    t = deps.translator.bind(deps.default_language)
    if (bad := _check(t, report, "take")) is not None:
        return bad
    if report.assignee_id is not None:
        return Outcome(False, t("pic-already-taken", name=report.assignee_name or "-"),
                       keyboard="card", report=report)
    if (lost := await _won(session, t, report)) is not None:
        return lost
    report.assignee_id, report.assignee_name = actor.user_id, actor.name
    if report.status != Status.IN_PROGRESS:
        await set_status(session, deps, report, Status.IN_PROGRESS, "pic", str(actor.user_id),
                          actor.name, kind="status")
    session.add(ReportEvent(report_id=report.id or 0, kind="assigned", actor_kind="pic",
                            at=deps.now(), actor_id=str(actor.user_id), actor_name=actor.name,
                            from_status=report.status, to_status=report.status))
    mark_followup(report, deps.now())
    relight(report, deps)
    session.add(report)
    await notify_citizen(session, deps, report, "notify-in-progress")
    await refresh_card(session, deps, report)
    await session.commit()
    return Outcome(True, t("pic-taken"), report=report)


async def progress(session: AsyncSession, deps: Deps, actor: Actor, report: Report) -> Outcome:
    t = deps.translator.bind(deps.default_language)
    if (bad := _check(t, report, "progress")) is not None:
        return bad
    if (lost := await _won(session, t, report)) is not None:
        return lost
    await set_status(session, deps, report, Status.IN_PROGRESS, "pic", str(actor.user_id),
                      actor.name)
    session.add(report)
    await notify_citizen(session, deps, report, "notify-in-progress")
    await refresh_card(session, deps, report)
    await session.commit()
    return Outcome(True, t("pic-done"), report=report)


async def ask_info(session: AsyncSession, deps: Deps, actor: Actor, report: Report,
                   question: str, commit: bool = True) -> Outcome:
    t = deps.translator.bind(deps.default_language)
    if (bad := _check(t, report, "info")) is not None:
        return bad
    if (lost := await _won(session, t, report)) is not None:
        return lost
    question = question.strip()[:NOTE_MAX]
    await set_status(session, deps, report, Status.NEED_INFO, "pic", str(actor.user_id),
                      actor.name, note=question)
    session.add(report)
    await notify_citizen(session, deps, report, "notify-need-info", question=question)
    await refresh_card(session, deps, report)
    if commit:
        await session.commit()
    return Outcome(True, t("pic-question-sent"), report=report)


async def resolve(session: AsyncSession, deps: Deps, actor: Actor, report: Report, note: str,
                  proof: dict[str, Any] | None, commit: bool = True) -> Outcome:
    """Resolved with a closing note (and proof photo, required where the category says so);
    `commit=False`: the caller commits (with the answer it keeps)."""
    t = deps.translator.bind(deps.default_language)
    if (bad := _check(t, report, "resolve")) is not None:
        return bad
    category = await session.get(Category, report.category_id)
    if category is not None and category.requires_photo and proof is None:
        return Outcome(False, t("pic-proof-required"), prompt="resolve", report=report)
    if (lost := await _won(session, t, report)) is not None:
        return lost
    note = note.strip()[:NOTE_MAX]
    report.resolution_note, report.resolved_at = note, deps.now()
    await set_status(session, deps, report, Status.RESOLVED, "pic", str(actor.user_id),
                      actor.name, note=note)
    if proof is not None:
        session.add(Attachment(report_id=report.id or 0, kind="proof", path=proof["path"],
                               size=proof["size"], sha256=proof["sha256"],
                               mime=proof.get("mime"), source_ref=proof.get("source_ref")))
    session.add(report)
    citizen = await session.get(Citizen, report.citizen_id)
    lang = citizen.language if citizen else deps.default_language
    tc = deps.translator.bind(lang)
    if proof is not None and citizen is not None:
        enqueue(session, citizen.external_id, "photo",
                {"path": proof["path"], "caption": tc("notify-proof", code=report.code),
                 "link": "notice"}, report.id, channel=citizen.channel)
    rid = report.id
    buttons = [[[tc("btn-feedback-yes"), f"fb:{rid}:yes"], [tc("btn-feedback-no"),
                                                            f"fb:{rid}:no"]]]
    await notify_citizen(session, deps, report, "notify-resolved", buttons=buttons, note=note)
    await refresh_card(session, deps, report)
    if commit:
        await session.commit()
    return Outcome(True, t("pic-resolved"), report=report)


async def reject(session: AsyncSession, deps: Deps, actor: Actor, report: Report, reason: str,
                 text: str | None, merge_into: Report | None = None, commit: bool = True
                 ) -> Outcome:
    t = deps.translator.bind(deps.default_language)
    if (bad := _check(t, report, "reject")) is not None:
        return bad
    if (lost := await _won(session, t, report)) is not None:
        return lost
    note = (text or "").strip()[:NOTE_MAX] or None
    report.reject_reason, report.resolution_note = reason, note
    shown = t(f"reject-{reason}") + (f": {note}" if note else "")
    await set_status(session, deps, report, Status.REJECTED, "pic", str(actor.user_id),
                      actor.name, note=shown)
    session.add(report)
    citizen = await session.get(Citizen, report.citizen_id)
    lang = citizen.language if citizen else deps.default_language
    reason_text = deps.translator(lang, f"reject-{reason}") + (f": {note}" if note else "")
    if merge_into is not None:  # a duplicate: its followers (and reporter) follow the original
        await merge_followers(session, deps, report, merge_into)
    await notify_citizen(session, deps, report, "notify-rejected", reason=reason_text)
    await refresh_card(session, deps, report)
    if commit:
        await session.commit()
    return Outcome(True, t("pic-rejected"), report=report)


async def reject_duplicate(session: AsyncSession, deps: Deps, actor: Actor, report: Report,
                           code_text: str, prefix: str, commit: bool = True) -> Outcome:
    t = deps.translator.bind(deps.default_language)
    code = normalize_ticket(code_text, prefix)
    original = await repo.report_by_code(session, code) if code else None
    if original is None or original.id == report.id:
        return Outcome(False, t("pic-duplicate-unknown"), prompt="duplicate", report=report)
    return await reject(session, deps, actor, report, "duplicate", original.code,
                        merge_into=original, commit=commit)


async def reassign(session: AsyncSession, deps: Deps, actor: Actor, report: Report,
                   opd_id: int, commit: bool = True) -> Outcome:
    """Move the report to another OPD: old card closed, new card posted, both groups told
    (committed unless `commit=False`)."""
    t = deps.translator.bind(deps.default_language)
    if (bad := _check(t, report, "reassign")) is not None:
        return bad
    target = await session.get(Opd, opd_id)
    if target is None or target.id == report.opd_id or not target.active:
        return Outcome(False, t("pic-invalid-button"))
    old = await session.get(Opd, report.opd_id)
    if (lost := await _won(session, t, report)) is not None:
        return lost
    old_chat = report.card_chat_id or (old.chat_id if old else None)
    old_card = report.card_message_id
    session.add(ReportEvent(report_id=report.id or 0, kind="reassigned", actor_kind="pic",
                            actor_id=str(actor.user_id), actor_name=actor.name,
                            from_status=report.status, to_status=Status.DISPATCHED.value,
                            note=f"{old.code if old else '?'} → {target.code}"))
    if old_chat is not None:
        text = t("group-reassigned-away", code=report.code, opd=target.name(t.lang),
                 name=actor.name)
        enqueue(session, old_chat, "close_card", {"text": text, "message_id": old_card},
                report.id)
        enqueue(session, old_chat, "text", {"text": text, "reply_to": old_card, "link": "notice"},
                report.id)
    report.opd_id, report.assignee_id, report.assignee_name = target.id, None, None
    report.status = Status.RECEIVED.value
    # The new OPD's follow-up clock starts now; the light follows it.
    category = await session.get(Category, report.category_id)
    now = deps.now()
    resume_clock(report, now)  # leaving need_info: the time waited on the citizen is not lost
    report.first_action_at = report.followup_on_time = report.followup_secs = None
    if category is not None:
        report.followup_due_at = deps.cal.due(now, category.followup_deadline)
    relight(report, deps, now)
    session.add(report)
    await session.flush()
    posted = await dispatch(session, deps, report, notify=False)
    if posted and target.chat_id is not None:
        enqueue(session, target.chat_id, "text",
                {"text": t("group-reassigned-here", code=report.code,
                           opd=old.name(t.lang) if old else "-"), "reply_to": "card",
                 "link": "notice",
                 **({"thread_id": target.thread_id} if target.thread_id else {})}, report.id)
    await notify_citizen(session, deps, report, "notify-reassigned")
    if commit:
        await session.commit()
    return Outcome(True, t("pic-reassigned", opd=target.name(t.lang)), report=report)


# ---- conversation between the PIC and the citizen -------------------------------------------


async def relay_to_citizen(session: AsyncSession, deps: Deps, actor: Actor, report: Report,
                           content: dict[str, Any], commit: bool = True) -> None:
    """A PIC's reply in the group, sent to the citizen as an answer from the OPD (committed
    unless `commit=False`)."""
    # The adapter read the report before downloading the PIC's media, in an earlier
    # transaction: read it again under the row lock, or a tick or another PIC's action since
    # then would be overwritten with that copy.
    await session.refresh(report, with_for_update=True)
    citizen = await session.get(Citizen, report.citizen_id)
    opd = await session.get(Opd, report.opd_id)
    if citizen is None:
        return
    lang = citizen.language
    header = deps.translator(lang, "relay-from-opd", code=report.code,
                             opd=opd.name(lang) if opd else "-")
    note = content.get("text") or content.get("caption") or f"[{content.get('type')}]"
    session.add(ReportEvent(report_id=report.id or 0, kind="pic_reply", actor_kind="pic",
                            at=deps.now(), actor_id=str(actor.user_id), actor_name=actor.name,
                            from_status=report.status, to_status=report.status,
                            note=note[:NOTE_MAX]))
    if report.first_action_at is None:  # a reply is a follow-up: the light goes green
        report.version += 1  # a PIC's press on the old version now loses its compare-and-set
        mark_followup(report, deps.now())
        relight(report, deps)
        session.add(report)
        await refresh_card(session, deps, report)
    _enqueue_relay(session, citizen.external_id, header, content, report, citizen.channel,
                   {"link": "notice"})
    if commit:
        await session.commit()


def accepts_answers(report: Report) -> bool:
    """Whether the citizen may still write to the OPD about this report."""
    return report.status not in (Status.CLOSED, Status.REJECTED)


async def own_report(session: AsyncSession, deps: Deps, citizen: Citizen, args: str
                     ) -> tuple[Report | None, str]:
    """`CODE text` (what follows /balas) -> the citizen's own report and the text, or
    (None, "") when the code is unknown, someone else's, or the text is missing."""
    code_text, _, text = args.strip().partition(" ")
    code = normalize_ticket(code_text, deps.ticket_prefix) if code_text else None
    report = await repo.report_by_code(session, code) if code else None
    if report is None or report.citizen_id != citizen.id or not text.strip():
        return None, ""
    return report, text.strip()


async def answer_opd(session: AsyncSession, deps: Deps, citizen: Citizen, report: Report,
                     content: dict[str, Any] | None) -> str:
    """The citizen's answer about a report (reply or /balas, on any channel): queued for the
    OPD group, not committed. Returns what to tell the citizen, in their language."""
    t = deps.translator.bind(citizen.language)
    # The adapter may have read the report before downloading the citizen's photo: decide on
    # what is stored now (a PIC may have asked a question meanwhile), under the row lock.
    await session.refresh(report, with_for_update=True)
    if not accepts_answers(report):
        return t("answer-closed", code=report.code)
    if content is None or content.get("type") == "document":
        return t("answer-unsupported")
    opd = await session.get(Opd, report.opd_id)
    await relay_to_group(session, deps, citizen, report, content, commit=False)
    return t("answer-sent", opd=opd.name(t.lang) if opd else "-")


async def relay_to_group(session: AsyncSession, deps: Deps, citizen: Citizen, report: Report,
                         content: dict[str, Any], commit: bool = True) -> None:
    """The citizen's answer, posted in the OPD group as a reply to the card."""
    opd = await session.get(Opd, report.opd_id)
    t = deps.translator.bind(deps.default_language)
    note = content.get("text") or content.get("caption") or f"[{content.get('type')}]"
    session.add(ReportEvent(report_id=report.id or 0, kind="citizen_reply",
                            actor_kind="citizen", actor_id=citizen.external_id,
                            actor_name=None if report.identity_hidden else citizen.display_name,
                            from_status=report.status, to_status=report.status,
                            note=note[:NOTE_MAX]))
    if report.status == Status.NEED_INFO:
        if await claim(session, report, report.version):
            await set_status(session, deps, report, Status.IN_PROGRESS, "citizen",
                              citizen.external_id, None, note=t("event-info-given"))
            session.add(report)
            await refresh_card(session, deps, report)
        else:  # a PIC moved the report meanwhile: keep their change, still pass the answer on
            await session.refresh(report)
    header = t("relay-from-citizen", code=report.code)
    extra: dict[str, Any] = {"reply_to": "card", "link": "relay"}
    if awaiting_verification(report) and deps.operator_chat_id is not None:
        # Not verified yet: the OPD has not got the report; its operators hear the answer.
        _enqueue_relay(session, report.card_chat_id or deps.operator_chat_id, header, content,
                       report, "telegram", extra)
    elif opd is not None and opd.chat_id is not None:
        if opd.thread_id:
            extra["thread_id"] = opd.thread_id
        _enqueue_relay(session, report.card_chat_id or opd.chat_id, header, content, report,
                       "telegram", extra)
    else:
        # No group yet: kept undeliverable for this OPD, sent when /opd_bind gives it one.
        _enqueue_relay(session, waiting_chat(report.opd_id), header, content, report,
                       "telegram", extra)
        for row in session.new:
            if isinstance(row, Outbox) and row.chat_id == waiting_chat(report.opd_id):
                row.status = "undeliverable"
        await alert_admins(session, deps, "alert-opd-no-group", code=report.code,
                           opd=opd.code if opd else "?")
    if commit:
        await session.commit()


def waiting_chat(opd_id: int) -> str:
    """Outbox address of messages for an OPD whose group is not bound yet."""
    return f"opd:{opd_id}"


def _enqueue_relay(session: AsyncSession, chat: int | str, header: str, content: dict[str, Any],
                   report: Report, channel: str, extra: dict[str, Any]) -> None:
    """Text as text; a stored photo uploaded from MEDIA_DIR; other Telegram media copied."""
    if content.get("type") == "text":
        enqueue(session, chat, "text", {"text": f"{header}\n{content['text']}", **extra},
                report.id, channel=channel)
        return
    caption = header + (f"\n{content['caption']}" if content.get("caption") else "")
    if content.get("path"):
        enqueue(session, chat, "photo", {"path": content["path"], "caption": caption[:1024],
                                         **extra}, report.id, channel=channel)
        return
    enqueue(session, chat, "copy", {"from_chat_id": content["chat_id"],
                                    "message_id": content["message_id"],
                                    "caption": caption[:1024], **extra},
            report.id, channel=channel)


async def feedback(session: AsyncSession, deps: Deps, citizen: Citizen, report_id: int,
                   choice: str, commit: bool = True) -> str:
    """'Sudah selesai?' answers: yes -> ask rating; 1-5 -> closed; no -> re-opened.
    Returns the translation key of the answer to show the citizen."""
    report = await session.get(Report, report_id)
    if report is None or report.citizen_id != citizen.id:
        return "button-stale-alert"
    if choice == "yes":
        return "feedback-rate" if report.status == Status.RESOLVED else "button-stale-alert"
    if choice == "no":
        if report.status != Status.RESOLVED or not await claim(session, report,
                                                                   report.version):
            return "button-stale-alert"
        report.reopen_count += 1
        await set_status(session, deps, report, Status.IN_PROGRESS, "citizen",
                          citizen.external_id, None, kind="reopened")
        session.add(report)
        await notify_followers(session, deps, report)
        await refresh_card(session, deps, report)
        opd = await session.get(Opd, report.opd_id)
        if opd is not None and opd.chat_id is not None:
            t = deps.translator.bind(deps.default_language)
            enqueue(session, report.card_chat_id or opd.chat_id, "text",
                    {"text": t("group-reopened", code=report.code), "reply_to": "card",
                     "link": "notice"},
                    report.id)
        if commit:
            await session.commit()
        return "feedback-reopened"
    if choice.isdigit() and 1 <= int(choice) <= 5:
        if report.status != Status.RESOLVED or not await claim(session, report,
                                                                   report.version):
            return "button-stale-alert"
        report.rating = int(choice)
        await set_status(session, deps, report, Status.CLOSED, "citizen",
                          citizen.external_id, None, note="⭐" * report.rating)
        session.add(report)
        await notify_followers(session, deps, report)
        await refresh_card(session, deps, report)
        if commit:
            await session.commit()
        return "feedback-thanks"
    return "button-stale-alert"


async def report_for_link(session: AsyncSession, chat_id: int, message_id: int
                          ) -> tuple[Report, str] | None:
    """The report (and link kind) a message in a chat is about, if it is one of ours."""
    link = (await session.exec(select(MessageLink).where(
        MessageLink.chat_id == chat_id, MessageLink.message_id == message_id))).first()
    if link is None:
        return None
    report = await session.get(Report, link.report_id)
    return (report, link.kind) if report is not None else None


async def report_in_own_group(session: AsyncSession, report_id: int, chat_id: int
                              ) -> Report | None:
    """The report, if `chat_id` is its own group (its card's chat, or its OPD's): what a
    card of ours whose message link is not committed yet can be taken as being about."""
    report = await session.get(Report, report_id)
    if report is None:
        return None
    opd = await session.get(Opd, report.opd_id)
    return report if chat_id in (report.card_chat_id, opd.chat_id if opd else None) else None


def link_message(session: AsyncSession, chat_id: int, message_id: int, report_id: int,
                 kind: str) -> None:
    session.add(MessageLink(chat_id=chat_id, message_id=message_id, report_id=report_id,
                            kind=kind))
