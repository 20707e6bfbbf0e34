"""Citizen-facing views: the menu, help, `/status CODE` and `/laporanku`."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.i18n import Tr
from handlers.replies import Choice, Reply
from models import repo
from models.domain import LIGHT_EMOJI, OPEN_STATUSES, Status, normalize_ticket
from models.tables import Citizen, Report

TIMELINE_MAX = 15


def menu_reply(t: Tr, text: str, *, remove_keyboard: bool = False, alert: str | None = None
               ) -> Reply:
    """`text` followed by the main menu buttons."""
    rows = [
        [Choice(t("btn-new-report"), "new")],
        [Choice(t("btn-check-status"), "ask_status"), Choice(t("btn-my-reports"), "mine")],
        [Choice(t("btn-help"), "help")],
    ]
    return Reply(text, choices=rows, remove_keyboard=remove_keyboard, alert=alert)


def help_reply(t: Tr, is_admin: bool = False) -> Reply:
    """The citizen's help; for an admin, followed by every admin command with an example."""
    text = t("help")
    if is_admin:
        # Imported here: the one list of admin commands lives beside the Telegram adapter,
        # whose package imports this module.
        from handlers.telegram.menu import admin_help

        text += "\n\n" + admin_help(t)
    return menu_reply(t, text)


def light(report: Report) -> str:
    """The report's light as an emoji (✅ finished, ⛔ rejected)."""
    if report.status == Status.REJECTED:
        return LIGHT_EMOJI["rejected"]
    if report.status in (Status.RESOLVED, Status.CLOSED):
        return LIGHT_EMOJI["done"]
    return LIGHT_EMOJI.get(report.light, LIGHT_EMOJI["green"])


def _local(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%d-%m-%Y %H:%M")


async def status_reply(
    session: AsyncSession, t: Tr, citizen: Citizen, text: str, prefix: str, tz: ZoneInfo
) -> Reply:
    """A ticket's status and timeline, only for the citizen who filed it."""
    code = normalize_ticket(text, prefix) if text.strip() else None
    if not text.strip():
        return Reply(t("status-ask", example=f"{prefix}-7K3Q"))
    if code is None:
        return Reply(t("status-bad-code", example=f"{prefix}-7K3Q"))
    report = await repo.report_by_code(session, code)
    if report is None or report.citizen_id != citizen.id:
        return menu_reply(t, t("status-not-found", code=code))
    return Reply(await _report_text(session, t, report, tz))


async def _report_text(session: AsyncSession, t: Tr, report: Report, tz: ZoneInfo) -> str:
    category = await repo.get_category(session, report.category_id)
    opd = await repo.get_opd(session, report.opd_id)
    events = await repo.events_of(session, report.id or 0)
    lines = [
        light(report) + " " + t(
            "status-head",
            code=report.code,
            status=t(f"status-{report.status}"),
            category=category.name(t.lang) if category else "-",
            opd=opd.name(t.lang) if opd else "-",
            created=_local(report.created_at, tz),
        )
    ]
    if report.status in OPEN_STATUSES:
        followed = report.first_action_at is not None
        due = report.resolve_due_at if followed else report.followup_due_at
        if due is not None:
            key = "status-deadline-resolve" if followed else "status-deadline-followup"
            lines.append(t(key, due=_local(due, tz)))
    for ev in events[-TIMELINE_MAX:]:
        what = t(f"event-{ev.kind}")
        if ev.kind == "status" and ev.to_status:
            what = t(f"status-{ev.to_status}")
        line = f"• {_local(ev.at, tz)} — {what}"
        if ev.note:
            line += f": {ev.note[:200]}"
        lines.append(line)
    return "\n".join(lines)


async def my_reports_reply(session: AsyncSession, t: Tr, citizen: Citizen, tz: ZoneInfo
                           ) -> Reply:
    """The citizen's latest reports with their status."""
    reports = await repo.reports_of(session, citizen.id or 0)
    if not reports:
        return menu_reply(t, t("my-reports-empty"))
    total = await repo.count_reports_of(session, citizen.id or 0)
    lines = [t("my-reports-head", count=total)]
    for r in reports:
        lines.append(f"{light(r)} {r.code} — {t(f'status-{r.status}')} — "
                     f"{_local(r.created_at, tz)}")
        lines.append("   " + (r.description[:60] + ("…" if len(r.description) > 60 else "")))
    lines.append(t("my-reports-foot"))
    return Reply("\n".join(lines))


async def idle_text_reply(
    session: AsyncSession, t: Tr, citizen: Citizen, text: str, prefix: str, tz: ZoneInfo
) -> list[Reply]:
    """Free text with no report in progress: a ticket code shows its status, else the menu."""
    if normalize_ticket(text, prefix) is not None:
        return [await status_reply(session, t, citizen, text, prefix, tz)]
    return [menu_reply(t, t("idle-hint"))]
