"""Operator verification, per-citizen daily limits and the spam score (VERIFY_REPORTS,
MAX_REPORTS_PER_DAY).

With verification on, a submitted report stays `received` with a verification deadline and
its card goes to the operators' group; an operator verifies it (then it is dispatched to the
OPD as without verification), rejects it with a reason, re-categorises it, or merges it into
another report. Transport-neutral like handlers/lifecycle.py: every message to another party
is an outbox row written in the transaction of the change.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, or_
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import lifecycle
from handlers.i18n import Tr
from handlers.lifecycle import (
    Actor,
    Deps,
    Outcome,
    awaiting_verification,
    claim,
    dispatch,
    enqueue,
    merge_followers,
    notify_citizen,
    refresh_card,
    relight,
    set_status,
)
from handlers.logctx import about_ticket
from models import repo
from models.domain import OPEN_STATUSES, Status, normalize_ticket
from models.tables import Attachment, Category, Citizen, Opd, Report, ReportEvent

log = logging.getLogger(__name__)

# Why an operator may refuse a report before it reaches an OPD (`reject-<reason>` labels).
VERIFY_REJECT_REASONS = ("hoax", "notpublic", "incomplete")

# Spam score: one weight per signal; the total is capped at 100.
SPAM_REPEAT, SPAM_NO_MEDIA, SPAM_NEW, SPAM_HOAX_EACH, SPAM_HOAX_MAX = 40, 15, 15, 20, 40
REPEAT_WINDOW = timedelta(days=30)
NEW_ACCOUNT = timedelta(hours=24)


# ---- at submit ------------------------------------------------------------------------------


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@dataclass
class Screening:
    """What Send needs to know about the citizen's earlier reports, read in one statement:
    whether the daily limit refuses this report, and the rows its spam score looks at."""

    refusal: str | None  # the polite refusal (MAX_REPORTS_PER_DAY), or None
    history: list[tuple[str, datetime, str, str | None]]  # description, created, status, why
    now: datetime

    def score(self, description: str, media: int, citizen_created_at: datetime | None
              ) -> tuple[int, list[str]]:
        """The spam score (0-100) and its signals for a report about to be filed with
        `media` photos and videos (see `spam_score`)."""
        return _score(self.history, self.now, description, media, citizen_created_at)


def _history_query(lock: bool) -> Any:
    """The citizen's reports the limit and the spam score look at (the last 30 days and the
    ones rejected as hoax), outer-joined to the citizen's row so that the row can be locked in
    the same statement (PostgreSQL; SQLite serialises writers anyway). Built once (building
    it and its cache key at every Send was ~1.5 % of the intake's CPU); parameters `cid` (the
    citizen) and `since` (`_history_params`)."""
    stmt = _HISTORY.get(lock)
    if stmt is None:
        recent = or_(col(Report.created_at) >= bindparam("since"),
                     and_(col(Report.status) == Status.REJECTED.value,
                          col(Report.reject_reason) == "hoax"))
        stmt = (select(Report.description, Report.created_at, Report.status,
                       Report.reject_reason)
                .select_from(Citizen)
                .outerjoin(Report, and_(col(Report.citizen_id) == col(Citizen.id), recent))
                .where(col(Citizen.id) == bindparam("cid")))
        stmt = _HISTORY[lock] = stmt.with_for_update(of=Citizen) if lock else stmt
    return stmt


def _history_params(citizen_id: int, now: datetime) -> dict[str, Any]:
    return {"cid": citizen_id, "since": now - REPEAT_WINDOW}


_HISTORY: dict[bool, Any] = {}  # locking? -> the statement


def _score(history: list[tuple[str, datetime, str, str | None]], now: datetime,
           description: str, media: int, citizen_created_at: datetime | None
           ) -> tuple[int, list[str]]:
    reasons: list[str] = []
    score = 0
    since = now - REPEAT_WINDOW
    text = _norm(description)
    if any(_norm(d) == text and _aware(at) >= since for d, at, _s, _r in history):
        score += SPAM_REPEAT
        reasons.append("repeat")
    if not media:
        score += SPAM_NO_MEDIA
        reasons.append("nomedia")
    if citizen_created_at is not None and now - _aware(citizen_created_at) < NEW_ACCOUNT:
        score += SPAM_NEW
        reasons.append("new")
    hoaxes = sum(1 for _d, _a, st, why in history
                 if st == Status.REJECTED.value and why == "hoax")
    if hoaxes:
        score += min(SPAM_HOAX_EACH * hoaxes, SPAM_HOAX_MAX)
        reasons.append(f"hoax:{hoaxes}")
    return min(score, 100), reasons


async def screen(session: AsyncSession, deps: Deps, citizen: Citizen, t: Tr) -> Screening:
    """At Send, before the report is written: the daily limit (`admit`) and what the spam
    score needs, in one statement that also locks the citizen's row when the limit is on (so
    concurrent submissions of one citizen are counted one after the other)."""
    now = deps.now()
    limit = deps.max_reports_per_day
    if citizen.id is None:
        return Screening(None, [], now)
    rows = await repo.core_rows(session, _history_query(lock=limit > 0),
                                _history_params(citizen.id, now))
    history = [(d, at, st, why) for d, at, st, why in rows if d is not None]
    refusal = None
    if limit > 0:
        midnight = _local_midnight(deps, now)
        filed = sum(1 for _d, at, _s, _r in history if _aware(at) >= midnight)
        refusal = _refusal(t, limit, midnight) if filed >= limit else None
    return Screening(refusal, history, now)


async def spam_score(session: AsyncSession, deps: Deps, report: Report) -> tuple[int, list[str]]:
    """The report's spam score (0-100) and its signals: the same text as one of the citizen's
    recent reports, no photo or video, a citizen first seen less than 24 h ago, and their
    earlier reports rejected as hoax. For a report already written (the intake scores before
    writing, from `screen`)."""
    now = deps.now()
    rows = (await session.exec(_history_query(lock=False).where(col(Report.id) != report.id),
                               params=_history_params(report.citizen_id, now))).all()
    history = [(d, at, st, why) for d, at, st, why in rows if d is not None]
    media = await session.scalar(select(func.count()).select_from(Attachment).where(
        Attachment.report_id == report.id, col(Attachment.kind).in_(("photo", "video"))))
    citizen = await session.get(Citizen, report.citizen_id)
    return _score(history, now, report.description, media or 0,
                  citizen.created_at if citizen is not None else None)


def spam_text(t: Tr, report: Report) -> str | None:
    """'55 (same text again, no photo)' for operators, or None for a clean report."""
    if not report.spam_reasons:
        return None
    parts = []
    for reason in report.spam_reasons.split(","):
        name, _, count = reason.partition(":")
        parts.append(t(f"spam-{name}", count=int(count or 0)))
    return f"{report.spam_score} ({', '.join(parts)})"


async def on_submitted(session: AsyncSession, deps: Deps, report: Report,
                       scored: bool = False) -> bool:
    """A new report, in the filing transaction: scored (unless `scored`: the intake scored it
    before writing it), then dispatched to its OPD, or with verification on held for the
    operators (deadline, light, card). True if dispatched."""
    if not scored:
        score, reasons = await spam_score(session, deps, report)
        report.spam_score, report.spam_reasons = score, ",".join(reasons) or None
        session.add(report)
    if not deps.verify_reports:
        return await dispatch(session, deps, report, notify=False, new=True)
    report.verify_due_at = deps.cal.due(report.created_at, deps.verify_deadline)
    relight(report, deps, report.created_at)
    report.card_chat_id, report.card_message_id = None, None
    await session.flush()
    chat = deps.operator_chat_id
    if chat is None:
        return False
    # The operators judge from what the OPD would see: the card, its photos, voice, the pin.
    enqueue(session, chat, "card", {"link": "card"}, report.id)
    attachments = await repo.attachments_of(session, report.id or 0)
    media = [a for a in attachments if a.kind in ("photo", "video")]
    if media:
        enqueue(session, chat, "album", {"files": [[a.kind, a.path] for a in media[:10]],
                                         "reply_to": "card", "link": "album"}, report.id)
    for voice in (a for a in attachments if a.kind == "voice"):
        enqueue(session, chat, "voice", {"path": voice.path, "reply_to": "card",
                                         "link": "album"}, report.id)
    if report.latitude is not None and report.longitude is not None:
        enqueue(session, chat, "location", {"latitude": report.latitude,
                                            "longitude": report.longitude,
                                            "reply_to": "card", "link": "location"}, report.id)
    return False


def _local_midnight(deps: Deps, now: datetime) -> datetime:
    local = now.astimezone(deps.tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


async def admit(session: AsyncSession, deps: Deps, citizen: Citizen, t: Tr,
                lock: bool = True) -> str | None:
    """None if the citizen may file another report today (MAX_REPORTS_PER_DAY, local day),
    else the polite refusal saying when they may report again. With `lock`, locks the
    citizen's row first, so concurrent submissions of one citizen are counted one after the
    other (not needed where nothing is filed, e.g. when a draft starts)."""
    limit = deps.max_reports_per_day
    if limit <= 0 or citizen.id is None:
        return None
    if lock:
        await session.exec(select(Citizen.id).where(Citizen.id == citizen.id)
                           .with_for_update())
    now = deps.now()
    midnight = _local_midnight(deps, now)
    filed = await session.scalar(select(func.count()).select_from(Report).where(
        Report.citizen_id == citizen.id, col(Report.created_at) >= midnight)) or 0
    if filed < limit:
        return None
    return _refusal(t, limit, midnight)


class FiledHere:
    """Citizens who passed Send's screening in this process lately (bounded, oldest
    forgotten). When a draft starts, the daily limit is a courtesy check (Send counts again
    under the citizen's row lock), so a citizen first seen today who has not reached Send here
    needs no count: the first report of a crowd of new citizens costs one statement less."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._ids: OrderedDict[int, None] = OrderedDict()

    def add(self, citizen_id: int) -> None:
        self._ids[citizen_id] = None
        self._ids.move_to_end(citizen_id)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)

    def __contains__(self, citizen_id: object) -> bool:
        return citizen_id in self._ids

    def surely_none_today(self, deps: Deps, citizen: Citizen) -> bool:
        """True when `citizen` was first seen today and has not reached Send here: no
        report of theirs today as far as this process can tell."""
        if citizen.id is None or citizen.id in self._ids or citizen.created_at is None:
            return False
        return _aware(citizen.created_at) >= _local_midnight(deps, deps.now())


def _refusal(t: Tr, limit: int, midnight: datetime) -> str:
    tomorrow = (midnight + timedelta(days=1, hours=3)).replace(hour=0)  # DST-safe next day
    return t("limit-reached", max=limit, when=tomorrow.strftime("%d-%m-%Y %H:%M"))


# ---- operators' actions ---------------------------------------------------------------------


@dataclass
class Press:
    """An operator's button on a verification card."""

    report_id: int
    action: str  # ok | rj | rx | rc | rk | mg | back
    version: int
    arg: str


async def may_verify(session: AsyncSession, deps: Deps, user_id: int) -> bool:
    """Operators, admins and super-admins."""
    assert deps.roles is not None
    return await deps.roles.is_operator(session, user_id)


async def _handled_by(session: AsyncSession, report: Report) -> str:
    """Who last changed the report (for 'already handled by X')."""
    name = await session.scalar(
        select(ReportEvent.actor_name).where(ReportEvent.report_id == report.id,
                                             col(ReportEvent.actor_name).is_not(None))
        .order_by(col(ReportEvent.id).desc()).limit(1))
    return report.verified_by or name or "-"


async def _won(session: AsyncSession, t: Tr, report: Report) -> Outcome | None:
    """Still awaiting verification, and the compare-and-set on the report's version won;
    else who handled it first."""
    if not awaiting_verification(report):
        return Outcome(False, t("verify-already", name=await _handled_by(session, report)),
                       report=report)
    return await _claimed(session, t, report)


async def _claimed(session: AsyncSession, t: Tr, report: Report) -> Outcome | None:
    """The compare-and-set on the report's version; the loser is told who won."""
    rid = report.id
    if await claim(session, report, report.version):
        return None
    await session.rollback()
    fresh = await session.get(Report, rid, populate_existing=True)
    name = await _handled_by(session, fresh) if fresh is not None else "-"
    return Outcome(False, t("verify-already", name=name), report=fresh)


async def press(session: AsyncSession, deps: Deps, actor: Actor, p: Press, chat_id: int
                ) -> Outcome:
    """A verification card button: validated, then verify / reject / re-categorise / merge
    prompt, or a sub-keyboard ('vreject', 'vcategory', 'verify')."""
    t = deps.translator.bind(deps.default_language)
    report = await session.get(Report, p.report_id)
    about_ticket(report.code if report is not None else None)
    if report is None or chat_id != deps.operator_chat_id:
        log.warning("forged verification press by %s: report %s in chat %s", actor.user_id,
                    p.report_id, chat_id)
        return Outcome(False, t("pic-invalid-button"))
    if not await may_verify(session, deps, actor.user_id):
        return Outcome(False, t("verify-not-allowed"))
    if not awaiting_verification(report):
        return Outcome(False, t("verify-already", name=await _handled_by(session, report)),
                       report=report)
    if p.version != report.version:
        return Outcome(False, t("pic-stale"), keyboard="verify", report=report)
    if p.action == "back":
        return Outcome(True, "", keyboard="verify", report=report)
    if p.action == "rj":
        return Outcome(True, "", keyboard="vreject", report=report)
    if p.action == "rc":
        return Outcome(True, "", keyboard="vcategory", report=report)
    if p.action == "mg":
        return Outcome(True, "", prompt="merge", report=report)
    if p.action == "rx":
        if p.arg not in VERIFY_REJECT_REASONS:
            return Outcome(False, t("pic-invalid-button"))
        return await reject(session, deps, actor, report, p.arg)
    if p.action == "rk":
        if not p.arg.isdigit():
            return Outcome(False, t("pic-invalid-button"))
        return await recategorise(session, deps, actor, report, int(p.arg))
    if p.action == "ok":
        return await verify(session, deps, actor, report)
    return Outcome(False, t("pic-invalid-button"))


def _close_operator_card(session: AsyncSession, report: Report, text: str) -> None:
    """The operators' card, edited to its final line (buttons gone)."""
    if report.card_chat_id is None:
        return
    enqueue(session, report.card_chat_id, "close_card",
            {"text": text, "message_id": report.card_message_id}, report.id)


async def verify(session: AsyncSession, deps: Deps, actor: Actor, report: Report) -> Outcome:
    """Verified: the OPD's clocks start now, dispatched as without verification, the
    operators' card shows who verified, the citizen is told where it went."""
    t = deps.translator.bind(deps.default_language)
    if (lost := await _won(session, t, report)) is not None:
        return lost
    now = deps.now()
    await set_status(session, deps, report, Status.VERIFIED, "operator", str(actor.user_id),
                     actor.name)
    report.verified_at, report.verified_by = now, actor.name[:200]
    category = await session.get(Category, report.category_id)
    if category is not None:
        report.followup_due_at = deps.cal.due(now, category.followup_deadline)
        report.resolve_due_at = deps.cal.due(now, category.resolve_deadline)
    relight(report, deps, now)
    opd = await session.get(Opd, report.opd_id)
    _close_operator_card(session, report, t(
        "verify-card-verified", code=report.code, name=actor.name,
        opd=opd.name(t.lang) if opd else "-"))
    session.add(report)
    await session.flush()
    await dispatch(session, deps, report, notify=False)
    await notify_citizen(session, deps, report, "notify-verified")
    await session.commit()
    return Outcome(True, t("verify-done", code=report.code), report=report)


async def reject(session: AsyncSession, deps: Deps, actor: Actor, report: Report, reason: str
                 ) -> Outcome:
    """Refused before any OPD saw it; the citizen is told why in their own language."""
    t = deps.translator.bind(deps.default_language)
    if (lost := await _won(session, t, report)) is not None:
        return lost
    report.reject_reason = reason
    await set_status(session, deps, report, Status.REJECTED, "operator", str(actor.user_id),
                     actor.name, note=t(f"reject-{reason}"))
    session.add(report)
    citizen = await session.get(Citizen, report.citizen_id)
    lang = citizen.language if citizen else deps.default_language
    await notify_citizen(session, deps, report, "notify-verify-rejected",
                         reason=deps.translator(lang, f"verify-why-{reason}"))
    _close_operator_card(session, report, t(
        "verify-card-rejected", code=report.code, name=actor.name, reason=t(f"reject-{reason}")))
    await session.commit()
    return Outcome(True, t("verify-rejected"), report=report)


async def recategorise(session: AsyncSession, deps: Deps, actor: Actor, report: Report,
                       category_id: int) -> Outcome:
    """Another category (and its OPD); still awaiting verification."""
    t = deps.translator.bind(deps.default_language)
    category = await session.get(Category, category_id)
    if category is None or not category.active or category.id == report.category_id:
        return Outcome(False, t("pic-invalid-button"))
    old = await session.get(Category, report.category_id)
    if (lost := await _won(session, t, report)) is not None:
        return lost
    session.add(ReportEvent(report_id=report.id or 0, at=deps.now(), kind="recategorised",
                            actor_kind="operator", actor_id=str(actor.user_id),
                            actor_name=actor.name, from_status=report.status,
                            to_status=report.status,
                            note=f"{old.code if old else '?'} → {category.code}"))
    report.category_id, report.opd_id = category.id or 0, category.opd_id
    report.updated_at = deps.now()
    session.add(report)
    await refresh_card(session, deps, report)
    await session.commit()
    return Outcome(True, t("verify-recategorised", category=category.name(t.lang)),
                   report=report)


async def merge_into(session: AsyncSession, deps: Deps, actor: Actor, source: Report,
                     target: Report, commit: bool = True) -> Outcome:
    """The one place a report is merged into another: the source closed as its duplicate
    (rejected, reason duplicate, `merged_into_id`), the target's supporters raised by the
    source's reporter and supporters, both cards edited, the source's citizen told the
    target's ticket. Committed, unless `commit=False` (the caller commits)."""
    t = deps.translator.bind(deps.default_language)
    if source.status not in OPEN_STATUSES:
        return Outcome(False, t("pic-wrong-state", status=t(f"status-{source.status}")),
                       report=source)
    if target.id == source.id or target.status in (Status.REJECTED, Status.CLOSED) \
            or target.merged_into_id is not None:
        return Outcome(False, t("verify-merge-bad-target"), prompt="merge", report=source)
    was_awaiting = awaiting_verification(source)
    # Both rows locked first, in id order: pointing the source at the target takes a key-share
    # lock on the target, so merges into one target at once would otherwise deadlock when
    # each then locks the target to move followers (PostgreSQL; SQLite serialises writers).
    await session.exec(select(Report.id).where(col(Report.id).in_([source.id, target.id]))
                       .order_by(col(Report.id)).with_for_update())
    if (lost := await _claimed(session, t, source)) is not None:
        return lost
    source.reject_reason, source.merged_into_id = "duplicate", target.id
    source.resolution_note = target.code
    await set_status(session, deps, source, Status.REJECTED, "operator", str(actor.user_id),
                     actor.name, note=f"→ {target.code}", kind="merged")
    session.add(source)
    # The source's reporter and followers follow the target; supporters recounted under the
    # target's row lock, so several merges into one target at once all count.
    await merge_followers(session, deps, source, target, tell_reporter=False)
    session.add(ReportEvent(report_id=target.id or 0, at=deps.now(), kind="merged_in",
                            actor_kind="operator", actor_id=str(actor.user_id),
                            actor_name=actor.name, from_status=target.status,
                            to_status=target.status, note=source.code))
    await notify_citizen(session, deps, source, "notify-merged", target=target.code)
    if was_awaiting:
        _close_operator_card(session, source, t("verify-card-merged", code=source.code,
                                                 name=actor.name, target=target.code))
    else:
        await refresh_card(session, deps, source)
    await refresh_card(session, deps, target)
    if commit:
        await session.commit()
    return Outcome(True, t("verify-merged", code=source.code, target=target.code),
                   report=source)


async def merge_codes(session: AsyncSession, deps: Deps, actor: Actor, source_text: str,
                      target_text: str, commit: bool = True) -> Outcome:
    """`/gabung ADU-XXXX ADU-YYYY` or a reply to the merge prompt: by ticket codes."""
    t = deps.translator.bind(deps.default_language)
    prefix = deps.ticket_prefix
    codes = [normalize_ticket(x, prefix) for x in (source_text, target_text)]
    found = [await repo.report_by_code(session, c) if c else None for c in codes]
    source, target = found
    if source is None or target is None:
        return Outcome(False, t("verify-merge-unknown"), prompt="merge", report=source)
    return await merge_into(session, deps, actor, source, target, commit)


__all__ = ["VERIFY_REJECT_REASONS", "Press", "Screening", "admit", "lifecycle", "merge_codes",
           "merge_into", "on_submitted", "press", "screen", "spam_score", "spam_text", "verify"]
