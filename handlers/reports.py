"""Oversight reports for admins: the OPD report card (rapor), statistics, overdue lists, a
report's timeline and exports. Transport-neutral (no aiogram); every aggregate is computed in
SQL, the same statements on SQLite and PostgreSQL (medians by window functions over the stored
integer seconds), so they stay fast over a million reports.

The report card, per OPD, over the reports *received* in the period:

- received: reports created in the period;
- on time: of the reports whose follow-up is decided (the OPD acted, or the follow-up deadline
  has passed without action), the share followed up by the deadline;
- median time to first follow-up and to resolution (created -> first PIC action / resolved);
- re-open rate: of the reports resolved at least once, the share the citizen re-opened;
- average rating (1-5) given by citizens;
- open reds: the OPD's open reports that are red *now*, whenever they came in.

Score (0-100), each part a share between 0 and 1:

    score = 100 x (40 x T + 20 x B + 20 x R + 20 x Q) / (sum of the weights of the parts known)

    T = on-time share of decided follow-ups
    B = 1 - min(1, open reds / max(received, 1))      (red backlog against the period's intake)
    R = 1 - re-open rate                              (known when something was resolved)
    Q = (average rating - 1) / 4                      (known when someone rated)

A part with no data (no decided follow-up, nothing resolved, no rating) is left out and the
others are scaled up, so an OPD is neither rewarded nor punished for what cannot be measured;
an OPD that received nothing and has no reds gets no score. Follow-up in time weighs most: it
is the rule OPD heads are held to (a report stays red until the OPD acts). The red backlog
keeps old neglected reports from hiding behind one good week. The citizen's verdict (ratings,
re-opens) weighs as much as the OPD's speed, and re-opens catch fixes done only on paper. The
medians are shown but not scored: they depend on the kind of work (a pothole against an ID
card), while the on-time share already measures speed against each category's own deadline.
Ranked by score, then received, then OPD code.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from calendar import monthrange
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select, union_all
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.i18n import Tr
from handlers.lifecycle import Deps
from handlers.privacy import admin_reporter, reporter_phone
from handlers.replies import split_text
from models import repo
from models.domain import LIGHT_EMOJI, OPEN_STATUSES, Status
from models.tables import Attachment, Category, Citizen, Opd, Report, ReportEvent

R = Report.__table__.c
E = ReportEvent.__table__.c
OPEN = sorted(s.value for s in OPEN_STATUSES)
WEIGHTS = {"on_time": 40, "backlog": 20, "reopen": 20, "rating": 20}
TEXT_LIMIT = 4096
OVERDUE_LIST = 10  # tickets listed per OPD in /terlambat (the counts cover all)
EXPORT_MAX = 20_000  # rows per export: a month of a large regency; more is cut and said
TIMELINE_MAX = 50


# ---- periods ----------------------------------------------------------------------------------


class PeriodError(ValueError):
    """The text is not a period this module understands."""


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC, and the local dates it covers (inclusive) for display."""

    start: datetime
    end: datetime
    first: date
    last: date

    def label(self) -> str:
        if self.first == self.last:
            return self.first.strftime("%d-%m-%Y")
        return f"{self.first.strftime('%d-%m-%Y')} – {self.last.strftime('%d-%m-%Y')}"


_DAYS_RE = re.compile(r"^(\d{1,3})\s*(d|h|hari|days?)$")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
_DATE = r"(\d{4}-\d{2}-\d{2})"
_RANGE_RE = re.compile(rf"^{_DATE}(?:\s*(?:\.\.|–|—)\s*{_DATE})?$")


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _span(first: date, last: date, tz: ZoneInfo, now: datetime | None = None) -> Period:
    end = _midnight(last + timedelta(days=1), tz)
    if now is not None and now < end:
        end = now
    return Period(_midnight(first, tz), end, first, last)


def parse_period(text: str | None, tz: ZoneInfo, now: datetime, default_days: int = 7
                 ) -> Period:
    """'' (the last 7 days), 'minggu'/'week' (this week from Monday), 'minggu-lalu'/
    'last-week' (Monday to Sunday before), 'bulan'/'month' (this month), 'bulan-lalu'/
    'last-month', '30d'/'30 hari' (the last 30 days), '2026-11' (a month), '2026-11-01..2026-11-23'
    (inclusive dates, local time in tz) -> Period; PeriodError otherwise."""
    raw = (text or "").strip().lower()
    today = now.astimezone(tz).date()
    if not raw:
        return last_days(default_days, tz, now)
    if raw in ("minggu", "week", "pekan"):
        return _span(today - timedelta(days=today.weekday()), today, tz, now)
    if raw in ("bulan", "month"):
        return _span(today.replace(day=1), today, tz, now)
    if raw in ("minggu-lalu", "minggu lalu", "last-week", "last week"):
        monday = today - timedelta(days=today.weekday())
        return _span(monday - timedelta(days=7), monday - timedelta(days=1), tz)
    if raw in ("bulan-lalu", "bulan lalu", "last-month", "last month"):
        last = today.replace(day=1) - timedelta(days=1)
        return _span(last.replace(day=1), last, tz)
    if (m := _DAYS_RE.match(raw)) is not None:
        days = int(m.group(1))
        if not 1 <= days <= 366:
            raise PeriodError(raw)
        return last_days(days, tz, now)
    try:
        if (m := _MONTH_RE.match(raw)) is not None:
            year, month = int(m.group(1)), int(m.group(2))
            first = date(year, month, 1)
            return _span(first, first.replace(day=monthrange(year, month)[1]), tz)
        if (m := _RANGE_RE.match(raw)) is not None:
            first = date.fromisoformat(m.group(1))
            last = date.fromisoformat(m.group(2) or m.group(1))
            if last < first or (last - first).days > 366:
                raise PeriodError(raw)
            return _span(first, last, tz)
    except ValueError as exc:  # 2026-13, 2026-02-30
        raise PeriodError(raw) from exc
    raise PeriodError(raw)


def last_days(days: int, tz: ZoneInfo, now: datetime) -> Period:
    """The `days` days up to now (a rolling window)."""
    start = now - timedelta(days=days)
    return Period(start, now, start.astimezone(tz).date(), now.astimezone(tz).date())


# ---- the report card --------------------------------------------------------------------------


@dataclass
class CardRow:
    """One OPD's line of the report card."""

    opd_id: int
    code: str
    name_id: str
    name_en: str
    received: int = 0
    decided: int = 0  # follow-ups done, or due and not done
    on_time: int = 0
    followup_median: float | None = None  # seconds
    resolve_median: float | None = None
    resolved: int = 0  # resolved at least once
    reopened: int = 0
    ratings: int = 0
    rating_avg: float | None = None
    open_reds: int = 0
    score: float | None = None
    rank: int = 0

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" and self.name_en else self.name_id

    @property
    def on_time_pct(self) -> float | None:
        return 100.0 * self.on_time / self.decided if self.decided else None

    @property
    def reopen_pct(self) -> float | None:
        return 100.0 * self.reopened / self.resolved if self.resolved else None


def score_of(row: CardRow) -> float | None:
    """The 0-100 score of the module docstring; None when there is nothing to judge."""
    if row.received == 0 and row.open_reds == 0:
        return None
    parts: dict[str, float] = {
        "backlog": 1.0 - min(1.0, row.open_reds / max(row.received, 1)),
    }
    if row.decided:
        parts["on_time"] = row.on_time / row.decided
    if row.resolved:
        parts["reopen"] = 1.0 - row.reopened / row.resolved
    if row.rating_avg is not None:
        parts["rating"] = (row.rating_avg - 1.0) / 4.0
    weight = sum(WEIGHTS[k] for k in parts)
    return 100.0 * sum(WEIGHTS[k] * v for k, v in parts.items()) / weight


def _in(start: datetime, end: datetime) -> Any:
    return and_(R.created_at >= start, R.created_at < end)


def _median_stmt(column: Any, start: datetime, end: datetime) -> Any:
    """Per OPD, the median of a non-null integer column over the period (average of the one or
    two middle values: portable window functions instead of percentile_cont)."""
    inner = (
        select(R.opd_id.label("opd_id"), column.label("v"),
               func.row_number().over(partition_by=R.opd_id, order_by=column).label("rn"),
               func.count().over(partition_by=R.opd_id).label("cnt"))
        .where(_in(start, end), column.is_not(None))
        .subquery()
    )
    return (select(inner.c.opd_id, func.avg(inner.c.v))
            .where(inner.c.rn >= (inner.c.cnt + 1) // 2, inner.c.rn <= (inner.c.cnt + 2) // 2)
            .group_by(inner.c.opd_id))


async def _opds(session: AsyncSession) -> dict[int, Opd]:
    return {o.id: o for o in (await session.exec(select(Opd))).scalars() if o.id is not None}


async def report_card(session: AsyncSession, deps: Deps, start: datetime, end: datetime
                      ) -> list[CardRow]:
    """Ranked report-card rows for the OPDs with reports in [start, end) or open reds now."""
    now = deps.now()
    conn = await session.connection()
    decided = or_(R.followup_on_time.is_not(None),
                  and_(R.first_action_at.is_(None), R.followup_due_at <= now))
    totals = await conn.execute(
        select(R.opd_id, func.count(),
               func.sum(case((R.followup_on_time == True, 1), else_=0)),  # noqa: E712
               func.sum(case((decided, 1), else_=0)),
               func.sum(case((R.resolved_at.is_not(None), 1), else_=0)),
               func.sum(case((R.reopen_count > 0, 1), else_=0)),
               func.count(R.rating), func.avg(R.rating))
        .where(_in(start, end)).group_by(R.opd_id))
    rows: dict[int, CardRow] = {}
    opds = await _opds(session)

    def row_for(opd_id: int) -> CardRow:
        if opd_id not in rows:
            opd = opds.get(opd_id)
            rows[opd_id] = CardRow(opd_id, opd.code if opd else str(opd_id),
                                   opd.name_id if opd else "?", opd.name_en if opd else "?")
        return rows[opd_id]

    for opd_id, received, on_time, dec, resolved, reopened, ratings, avg in totals:
        row = row_for(opd_id)
        row.received, row.on_time, row.decided = int(received), int(on_time), int(dec)
        row.resolved, row.reopened, row.ratings = int(resolved), int(reopened), int(ratings)
        row.rating_avg = float(avg) if avg is not None else None
    for attr, column in (("followup_median", R.followup_secs),
                         ("resolve_median", R.resolve_secs)):
        for opd_id, median in await conn.execute(_median_stmt(column, start, end)):
            setattr(row_for(opd_id), attr, float(median))
    reds = await conn.execute(
        select(R.opd_id, func.count()).where(R.light == "red", R.status.in_(OPEN))
        .group_by(R.opd_id))
    for opd_id, count in reds:
        row_for(opd_id).open_reds = int(count)
    ranked = list(rows.values())
    for row in ranked:
        row.score = score_of(row)
    ranked.sort(key=lambda r: (r.score is None, -(r.score or 0.0), -r.received, r.code))
    for i, row in enumerate(ranked, 1):
        row.rank = i
    return ranked


def duration(t: Tr, secs: float | None) -> str:
    """Seconds as '2h 4j' / '2d 4h' (days and hours), '5j 30m' under a day, '35m' under an
    hour, '-' for none."""
    if secs is None:
        return "-"
    minutes = int(round(secs / 60))
    if minutes < 60:
        return t("dur-m", m=minutes)
    if minutes < 24 * 60:
        hours, minutes = divmod(minutes, 60)
        return t("dur-hm", h=hours, m=minutes) if minutes else t("dur-h", h=hours)
    days, hours = divmod(int(round(secs / 3600)), 24)
    return t("dur-dh", d=days, h=hours) if hours else t("dur-d", d=days)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def report_card_lines(rows: Sequence[CardRow], t: Tr) -> list[str]:
    """The table's lines (two per OPD, ~38 characters: readable on a phone in <pre>)."""
    col = [t(f"rapor-col-{k}")[:5] for k in ("score", "in", "ontime", "red")]
    lines = [f"{'#':>2} {t('rapor-col-opd')[:11]:<11} " + " ".join(f"{c:>5}" for c in col),
             "-" * 38]
    for row in rows:
        score = "-" if row.score is None else f"{row.score:.0f}"
        lines.append(f"{row.rank:>2} {_short(row.code, 11):<11} {score:>5} {row.received:>5} "
                     f"{_pct(row.on_time_pct):>5} {row.open_reds:>5}")
        rating = "-" if row.rating_avg is None else f"{row.rating_avg:.1f}"
        lines.append("   " + t("rapor-table-detail", followup=duration(t, row.followup_median),
                                 resolve=duration(t, row.resolve_median),
                                 reopen=_pct(row.reopen_pct), rating=rating))
    return lines


def report_card_pages(rows: Sequence[CardRow], t: Tr, period: Period) -> list[str]:
    """The report card as HTML messages (each under Telegram's 4096): title, the table in
    <pre> (split between OPDs when long), the score formula under it."""
    title = t("rapor-title", period=period.label())
    foot = t("rapor-formula")
    if not rows:
        return [f"<b>{escape(title)}</b>\n\n{escape(t('rapor-empty'))}"]
    lines = report_card_lines(rows, t)
    head, body = lines[:2], lines[2:]
    pages: list[str] = []
    budget = TEXT_LIMIT - len(title) - len(foot) - 64
    chunk: list[str] = []
    for i in range(0, len(body), 2):
        pair = body[i:i + 2]
        size = sum(len(escape(x)) + 1 for x in head + chunk + pair)
        if chunk and size > budget:
            pages.append("\n".join(head + chunk))
            chunk = []
        chunk += pair
    pages.append("\n".join(head + chunk))
    out = []
    for n, table in enumerate(pages):
        top = f"<b>{escape(title)}</b>\n" if n == 0 else ""
        bottom = f"\n{escape(foot)}" if n == len(pages) - 1 else ""
        out.append(f"{top}<pre>{escape(table)}</pre>{bottom}")
    return out


# ---- statistics -------------------------------------------------------------------------------


@dataclass
class Stats:
    received: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_category: list[tuple[int, str, str, int]] = field(default_factory=list)  # id, id/en
    by_light: dict[str, int] = field(default_factory=dict)
    verification: VerifyStats | None = None

    @property
    def open(self) -> int:
        return sum(n for s, n in self.by_status.items() if s in OPEN)

    def count(self, status: Status) -> int:
        return self.by_status.get(status.value, 0)


async def statistics(session: AsyncSession, deps: Deps, start: datetime, end: datetime
                     ) -> Stats:
    """Counts of the reports received in [start, end): by status, category and light (one
    grouped scan)."""
    conn = await session.connection()
    result = await conn.execute(
        select(R.status, R.category_id, R.light, func.count()).where(_in(start, end))
        .group_by(R.status, R.category_id, R.light))
    stats = Stats()
    per_category: dict[int, int] = {}
    for status, category_id, light, count in result:
        stats.received += count
        stats.by_status[status] = stats.by_status.get(status, 0) + count
        stats.by_light[light] = stats.by_light.get(light, 0) + count
        per_category[category_id] = per_category.get(category_id, 0) + count
    if per_category:
        cats = {c.id: c for c in (await session.exec(
            select(Category).where(Category.id.in_(per_category)))).scalars()}  # type: ignore
        for cid, count in sorted(per_category.items(), key=lambda kv: (-kv[1], kv[0])):
            cat = cats.get(cid)
            stats.by_category.append((cid, cat.name_id if cat else "?",
                                      cat.name_en if cat else "?", count))
    if deps.verify_reports:
        stats.verification = await verification_stats(session, start, end)
    return stats


@dataclass
class VerifyStats:
    """Operator verification over a period: how many verified, on time, the median wait."""

    verified: int = 0
    on_time: int = 0
    median_secs: float | None = None

    @property
    def on_time_pct(self) -> float | None:
        return 100.0 * self.on_time / self.verified if self.verified else None


async def verification_stats(session: AsyncSession, start: datetime, end: datetime
                             ) -> VerifyStats:
    """The reports received in [start, end) that an operator verified: count, share within
    VERIFY_DEADLINE, median time from filing to verification (read row by row: only verified
    reports of the period, a week's worth for the digest)."""
    conn = await session.connection()
    result = await conn.execute(
        select(R.created_at, R.verified_at, R.verify_due_at)
        .where(_in(start, end), R.verified_at.is_not(None)))
    waits: list[float] = []
    on_time = 0
    for created, verified, due in result:
        created, verified, due = _aware(created), _aware(verified), _aware(due)
        waits.append(max(0.0, (verified - created).total_seconds()))
        on_time += due is None or verified <= due
    waits.sort()
    median = None
    if waits:
        mid = len(waits) // 2
        median = waits[mid] if len(waits) % 2 else (waits[mid - 1] + waits[mid]) / 2
    return VerifyStats(len(waits), on_time, median)


def verification_line(v: VerifyStats | None, t: Tr) -> str | None:
    """'Verification: 12 verified, median 5h 10m, 92% on time', or None when none were."""
    if v is None or not v.verified:
        return None
    return t("stats-verification", verified=str(v.verified), median=duration(t, v.median_secs),
             ontime=_pct(v.on_time_pct))


def statistics_text(stats: Stats, t: Tr, period: Period) -> str:
    """Plain text of /statistik."""
    lines = [t("stats-title", period=period.label()),
             t("stats-summary", total=str(stats.received), open=str(stats.open),
               resolved=str(stats.count(Status.RESOLVED)), closed=str(stats.count(Status.CLOSED)),
               rejected=str(stats.count(Status.REJECTED)))]
    if stats.received:
        lines += ["", t("stats-by-status")]
        lines += [f"• {t(f'status-{s.value}')}: {stats.by_status[s.value]}" for s in Status
                  if stats.by_status.get(s.value)]
        lines += ["", t("stats-by-light")]
        lines += [f"{LIGHT_EMOJI.get(k, '•')} {t(f'stats-light-{k}')}: {stats.by_light[k]}"
                  for k in ("red", "yellow", "green", "done") if stats.by_light.get(k)]
        lines += ["", t("stats-by-category")]
        lines += [f"• {en if t.lang == 'en' else name}: {n}"
                  for _cid, name, en, n in stats.by_category]
    if (line := verification_line(stats.verification, t)) is not None:
        lines += ["", line]
    return "\n".join(lines)


# ---- overdue ----------------------------------------------------------------------------------


@dataclass
class OverdueItem:
    code: str
    light: str
    created_at: datetime
    due: datetime | None


@dataclass
class OverdueGroup:
    opd_id: int
    code: str
    name_id: str
    name_en: str
    red: int = 0
    yellow: int = 0
    items: list[OverdueItem] = field(default_factory=list)

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" and self.name_en else self.name_id


async def overdue(session: AsyncSession, deps: Deps, per_opd: int = OVERDUE_LIST
                  ) -> list[OverdueGroup]:
    """Open red and yellow reports per OPD (most reds first): counts of all, and the oldest
    `per_opd` tickets of each (reds before yellows)."""
    conn = await session.connection()
    late = and_(R.light.in_(("red", "yellow")), R.status.in_(OPEN))
    opds = await _opds(session)
    groups: dict[int, OverdueGroup] = {}
    for opd_id, light, count in await conn.execute(
            select(R.opd_id, R.light, func.count()).where(late).group_by(R.opd_id, R.light)):
        if opd_id not in groups:
            opd = opds.get(opd_id)
            groups[opd_id] = OverdueGroup(opd_id, opd.code if opd else str(opd_id),
                                          opd.name_id if opd else "?", opd.name_en if opd else "?")
        setattr(groups[opd_id], light, int(count))
    if not groups:
        return []
    # The oldest of each (OPD, light), reds first: one LIMITed index seek each on (light,
    # opd_id, created_at, status), in one statement. (A window over all late reports lets
    # SQLite's planner walk the whole table in OPD order instead.)
    due = case((R.first_action_at.is_(None), R.followup_due_at), else_=R.resolve_due_at)
    parts = []
    for g in groups.values():
        reds = min(g.red, per_opd)
        for light, n in (("red", reds), ("yellow", min(g.yellow, per_opd - reds))):
            if n > 0:
                sub = (select(R.opd_id, R.code, R.light, R.created_at, due.label("due"))
                       .where(R.light == light, R.opd_id == g.opd_id, R.status.in_(OPEN))
                       .order_by(R.created_at).limit(n).subquery())
                parts.append(select(*sub.c))
    found = []
    for i in range(0, len(parts), 200):  # SQLite allows 500 parts to a compound select
        found += list(await conn.execute(union_all(*parts[i:i + 200])))
    red_first = {"red": 0, "yellow": 1}
    for opd_id, code, light, created, due_at in sorted(
            found, key=lambda r: (r[0], red_first[r[2]], _aware(r[3]))):
        groups[opd_id].items.append(OverdueItem(code, light, _aware(created), _aware(due_at)))
    return sorted(groups.values(), key=lambda g: (-g.red, -g.yellow, g.code))


def _aware(value: Any) -> Any:
    """Core statements bypass the ORM's UTC type on SQLite: naive values are UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def local(at: datetime | None, tz: ZoneInfo) -> str:
    return "-" if at is None else at.astimezone(tz).strftime("%d-%m-%Y %H:%M")


def overdue_text(groups: Sequence[OverdueGroup], t: Tr, tz: ZoneInfo) -> str:
    """Plain text of /terlambat."""
    if not groups:
        return t("overdue-none")
    lines = [t("overdue-title", red=str(sum(g.red for g in groups)),
               yellow=str(sum(g.yellow for g in groups)))]
    for g in groups:
        lines += ["", t("overdue-opd", opd=g.name(t.lang), code=g.code, red=str(g.red),
                        yellow=str(g.yellow))]
        for item in g.items:
            lines.append(f"{LIGHT_EMOJI[item.light]} {item.code} — "
                         + t("overdue-due", due=local(item.due, tz)))
        more = g.red + g.yellow - len(g.items)
        if more > 0:
            lines.append(t("overdue-more", count=more))
    return "\n".join(lines)


# ---- one report's timeline --------------------------------------------------------------------


@dataclass
class TimelineView:
    report: Report
    category: Category | None
    opd: Opd | None
    events: Sequence[ReportEvent]
    attachments: Sequence[Attachment]

    @property
    def album(self) -> list[Attachment]:
        """The photos and videos (the citizen's, then proof photos), for an album."""
        return [a for a in self.attachments if a.kind in ("photo", "video", "proof")]


async def timeline(session: AsyncSession, code: str) -> TimelineView | None:
    """A report by its ticket code, with its events and attachments; None if unknown."""
    report = await repo.report_by_code(session, code)
    if report is None or report.id is None:
        return None
    return TimelineView(report, await repo.get_category(session, report.category_id),
                        await repo.get_opd(session, report.opd_id),
                        await repo.events_of(session, report.id),
                        await repo.attachments_of(session, report.id))


def timeline_text(view: TimelineView, t: Tr, tz: ZoneInfo, vault: Any = None) -> str:
    """Plain text of /cari: the report, its deadlines and light, its whole timeline. The
    reporter is named only when not anonymous (admins may see it; OPDs never see anonymous
    reporters)."""
    r = view.report
    light = LIGHT_EMOJI["done"] if r.light == "done" else LIGHT_EMOJI.get(r.light, "")
    if r.status == Status.REJECTED:
        light = LIGHT_EMOJI["rejected"]
    reporter = admin_reporter(r, t, vault)  # admins only: phone, NIK masked, 'confidential'
    lines = [
        t("search-head", code=r.code, status=t(f"status-{r.status}"), light=light,
          category=view.category.name(t.lang) if view.category else "-",
          opd=view.opd.name(t.lang) if view.opd else "-", created=local(r.created_at, tz),
          reporter=reporter),
        t("search-deadlines", followup=local(r.followup_due_at, tz),
          resolve=local(r.resolve_due_at, tz)),
        t("search-description", text=r.description[:1500]),
    ]
    if r.address:
        lines.append(t("search-address", address=r.address))
    if r.rating:
        lines.append(t("search-rating", stars="⭐" * r.rating))
    if r.verify_due_at is not None:
        lines.append(t("search-verify", due=local(r.verify_due_at, tz),
                       verified=local(r.verified_at, tz), name=r.verified_by or "-"))
    if r.spam_reasons:
        from handlers.verification import spam_text

        lines.append(f"{t('card-spam')}: {spam_text(t, r)}")
    lines += ["", t("search-events")]
    for ev in view.events[-TIMELINE_MAX:]:
        what = t(f"status-{ev.to_status}") if ev.kind == "status" and ev.to_status \
            else t(f"event-{ev.kind}")
        who = f" ({ev.actor_name})" if ev.actor_name and ev.actor_kind != "citizen" else ""
        line = f"• {local(ev.at, tz)} — {what}{who}"
        if ev.note:
            line += f": {ev.note[:300]}"
        lines.append(line)
    if view.attachments:
        lines.append(t("search-media", count=len(view.attachments)))
    return "\n".join(lines)


# ---- export -----------------------------------------------------------------------------------

COLUMNS = ["code", "created_at", "status", "light", "opd", "category", "channel", "description",
           "address", "latitude", "longitude", "anonymous", "followup_due_at", "first_action_at",
           "followup_on_time", "resolve_due_at", "resolved_at", "reopen_count", "rating",
           "attachments", "timeline"]
PERSONAL = ["reporter_name", "reporter_phone", "citizen_id", "citizen_username"]
EVENT_COLUMNS = ["code", "at", "kind", "from_status", "to_status", "actor_kind", "actor_name",
                 "actor_id", "note"]


@dataclass
class Export:
    columns: list[str]
    rows: list[list[Any]]
    event_columns: list[str]
    events: list[list[Any]]
    total: int  # reports in the period (rows may be cut at EXPORT_MAX)


async def export_rows(session: AsyncSession, deps: Deps, start: datetime, end: datetime,
                      personal: bool = False, limit: int = EXPORT_MAX) -> Export:
    """The reports received in [start, end), oldest first, with their timelines. Personal
    data (reporter name and phone, the citizen's chat id and username, citizens' ids on
    events) only when `personal`; never for anonymous or confidential reports (a confidential
    reporter is for operators' and admins' eyes in the bot, never in a file)."""
    tz = deps.tz
    conn = await session.connection()
    total = int((await conn.execute(select(func.count()).where(_in(start, end)))).scalar_one())
    # Core rows, not ORM objects: a month of a large regency is tens of thousands of rows.
    wanted = [R.id, R.code, R.created_at, R.status, R.light, R.opd_id, R.category_id, R.channel,
              R.description, R.address, R.latitude, R.longitude, R.anonymous,
              R.followup_due_at, R.first_action_at, R.followup_on_time, R.resolve_due_at,
              R.resolved_at, R.reopen_count, R.rating, R.citizen_id, R.identity_mode]
    if personal:
        wanted += [R.reporter_name, R.reporter_phone, R.reporter_phone_enc]
    reports = list(await conn.execute(
        select(*wanted).where(_in(start, end)).order_by(R.created_at, R.id).limit(limit)))
    ids = [r.id for r in reports]
    opds = await _opds(session)
    cats = {c.id: c for c in (await session.exec(select(Category))).scalars()}
    citizens: dict[int, Any] = {}
    events: dict[int, list[Any]] = {}
    media: dict[int, int] = {}
    a = Attachment.__table__.c
    c = Citizen.__table__.c
    for i in range(0, len(ids), 1000):
        part = ids[i:i + 1000]
        for ev in await conn.execute(
                select(E.report_id, E.at, E.kind, E.from_status, E.to_status, E.actor_kind,
                       E.actor_id, E.actor_name, E.note)
                .where(E.report_id.in_(part)).order_by(E.report_id, E.at, E.id)):
            events.setdefault(ev.report_id, []).append(ev)
        for rid, n in await conn.execute(select(a.report_id, func.count())
                                         .where(a.report_id.in_(part)).group_by(a.report_id)):
            media[rid] = int(n)
        if personal:
            cids = {r.citizen_id for r in reports[i:i + 1000]}
            for who_ in await conn.execute(select(c.id, c.external_id, c.username)
                                           .where(c.id.in_(cids))):
                citizens[who_.id] = who_

    def when(at: datetime | None) -> str:
        return "" if at is None else at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")

    rows, event_rows = [], []
    for r in reports:
        hidden = r.anonymous or r.identity_mode != "named"

        def who(ev: Any, hidden: bool = hidden) -> tuple[str, str]:
            if ev.actor_kind == "citizen" and (hidden or not personal):
                return "", ""
            return ev.actor_name or "", ev.actor_id or ""

        opd, cat = opds.get(r.opd_id), cats.get(r.category_id)
        evs = events.get(r.id, [])
        line = []
        for ev in evs:
            name, _ = who(ev)
            step = f"{when(ev.at)} {ev.kind}"
            if ev.to_status:
                step += f" {ev.from_status or ''}->{ev.to_status}"
            if name:
                step += f" ({name})"
            if ev.note:
                step += f": {ev.note}"
            line.append(step)
            event_rows.append([r.code, when(ev.at), ev.kind, ev.from_status or "",
                               ev.to_status or "", ev.actor_kind, *who(ev), ev.note or ""])
        row: list[Any] = [
            r.code, when(r.created_at), r.status, r.light, opd.code if opd else "",
            cat.code if cat else "", r.channel, r.description, r.address or "",
            r.latitude if r.latitude is not None else "",
            r.longitude if r.longitude is not None else "", "yes" if r.anonymous else "no",
            when(r.followup_due_at), when(r.first_action_at),
            "" if r.followup_on_time is None else ("yes" if r.followup_on_time else "no"),
            when(r.resolve_due_at), when(r.resolved_at), r.reopen_count,
            r.rating if r.rating is not None else "", media.get(r.id, 0), "\n".join(line),
        ]
        if personal:
            person = citizens.get(r.citizen_id)
            row += ["" if hidden else (r.reporter_name or ""),
                    "" if hidden else (reporter_phone(r, deps.pii) or ""),
                    "" if hidden or person is None else person.external_id,
                    "" if hidden or person is None else (person.username or "")]
        rows.append(row)
    return Export(COLUMNS + (PERSONAL if personal else []), rows, EVENT_COLUMNS, event_rows,
                  total)


def to_csv(export: Export) -> bytes:
    """UTF-8 CSV with a BOM (Excel opens it right), one line per report, timeline in a cell."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(export.columns)
    writer.writerows(export.rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _cell(value: Any) -> Any:
    # Formula injection: a description starting with '=' must stay text in Excel.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def to_xlsx(export: Export, sheet: str = "reports", events_sheet: str = "timeline") -> bytes:
    """An XLSX workbook: the reports, and the timeline one event per row."""
    from openpyxl import Workbook  # only admins' exports need it

    book = Workbook(write_only=True)
    for title, columns, rows in ((sheet, export.columns, export.rows),
                                 (events_sheet, export.event_columns, export.events)):
        ws = book.create_sheet(title)
        ws.append(columns)
        for row in rows:
            ws.append([_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# ---- the Monday digest ------------------------------------------------------------------------


def digest_text(rows: Sequence[CardRow], t: Tr, period: Period) -> str:
    """The report card as one HTML message: as many OPDs as fit, then how many more."""
    pages = report_card_pages(rows, t, period)
    if len(pages) == 1:
        return pages[0]
    shown = len(rows)
    while shown > 1:
        shown -= 1
        text = report_card_pages(rows[:shown], t, period)
        note = "\n" + escape(t("rapor-more", count=len(rows) - shown))
        if len(text) == 1 and len(text[0]) + len(note) <= TEXT_LIMIT:
            return text[0] + note
    return split_text(pages[0], TEXT_LIMIT)[0]


async def weekly_digest(session: AsyncSession, deps: Deps, week_end: datetime
                        ) -> tuple[str, bytes]:
    """The 7 local days before `week_end`'s date (Monday to Sunday when called on a Monday):
    its report card as one HTML message (send with parse_mode HTML, under 4096 characters) in
    the default language, and the chart PNG (that week against the week before, the open red
    backlog beside)."""
    from handlers.charts import ChartLabels, report_card_chart

    t = deps.translator.bind(deps.default_language)
    day = week_end.astimezone(deps.tz).date()
    period = _span(day - timedelta(days=7), day - timedelta(days=1), deps.tz)
    this = await report_card(session, deps, period.start, period.end)
    before = await report_card(session, deps, _midnight(day - timedelta(days=14), deps.tz),
                               period.start)
    text = digest_text(this, t, period)
    if deps.verify_reports and (line := verification_line(
            await verification_stats(session, period.start, period.end), t)) is not None \
            and len(text) + len(escape(line)) + 1 <= TEXT_LIMIT:
        text += "\n" + escape(line)
    png = await asyncio.to_thread(report_card_chart, this, before,
                                  ChartLabels.of(t, period.label()), t.lang)
    return text, png
