"""OPD cards as Telegram renders them: HTML with every citizen-typed field escaped, and
inline buttons whose callback data are `CardCb`s (well under 64 bytes)."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.lifecycle import (
    CARD_NOTE_MAX,
    REJECT_REASONS,
    CardView,
    Deps,
    awaiting_verification,
    card_view,
)
from handlers.privacy import admin_reporter, opd_reporter
from handlers.telegram.callbacks import CardCb, VerifyCb
from models import repo
from models.domain import LIGHT_EMOJI, OPEN_STATUSES, Status
from models.tables import Report


def card_text(deps: Deps, view: CardView) -> str:
    """The OPD group card, HTML; everything the citizen typed is escaped."""
    report, category, opd, citizen = view.report, view.category, view.opd, view.citizen
    t = deps.translator.bind(deps.default_language)
    e = html.escape
    verifying = awaiting_verification(report)
    # Operators (before verification) may know a confidential reporter; an OPD never does.
    reporter = (admin_reporter(report, t, deps.pii) if verifying
                else opd_reporter(report, citizen, t, deps.pii))
    if report.latitude is not None and report.longitude is not None:
        url = f"https://maps.google.com/?q={report.latitude:.6f},{report.longitude:.6f}"
        place = report.address or f"{report.latitude:.5f}, {report.longitude:.5f}"
        where = f'{e(place)} (<a href="{e(url)}">{e(t("card-map"))}</a>)'
    else:
        where = e(t("card-no-location"))
    due = report.followup_due_at if report.first_action_at is None else report.resolve_due_at
    deadline = due_text(deps, due)
    if verifying:
        deadline = t("card-deadline-verify", due=due_text(deps, report.verify_due_at))
    elif report.first_action_at is None:
        deadline = t("card-deadline-followup", due=deadline)
    else:
        deadline = t("card-deadline-resolve", due=deadline)
    lines = [
        f"{view.light} <b>{e(report.code)}</b> — {e(t(f'status-{report.status}'))}",
        f"{e(t('card-category'))}: {e(category.name(t.lang) if category else '-')}",
        f"{e(t('card-opd'))}: {e(opd.name(t.lang) if opd else '-')}",
        f"{e(t('card-description'))}: {e(report.description)}",
        f"{e(t('card-location'))}: {where}",
        f"{e(t('card-reporter'))}: {e(reporter)}",
        f"{e(t('card-deadline'))}: {e(deadline)}",
        f"{e(t('card-media'))}: {view.media}",
    ]
    if view.voices:
        lines.append(f"{e(t('card-voice'))}: {view.voices}")
    if verifying:
        from handlers.verification import spam_text  # the card module stays import-light

        spam = spam_text(t, report)
        lines.append(f"{e(t('card-spam'))}: {e(spam or t('card-spam-none'))}")
    if report.verified_by:
        lines.append(f"{e(t('card-verified-by'))}: {e(report.verified_by)}")
    if report.supporters:  # citizens following it (models/followers.py)
        lines.append(e(t("card-supporters", count=report.supporters)))
    if report.assignee_name:
        lines.append(f"{e(t('card-assignee'))}: {e(report.assignee_name)}")
    if report.status == Status.RESOLVED and report.resolution_note:
        lines.append(f"{e(t('card-resolution'))}: {e(report.resolution_note[:CARD_NOTE_MAX])}")
    if report.status == Status.REJECTED and report.reject_reason:
        reason = t(f"reject-{report.reject_reason}")
        if report.resolution_note:
            reason += f" — {report.resolution_note[:CARD_NOTE_MAX]}"
        lines.append(f"{e(t('card-rejected'))}: {e(reason)}")
    if report.rating:
        lines.append(f"{e(t('card-rating'))}: {'⭐' * report.rating}")
    return "\n".join(lines)


def due_text(deps: Deps, due: datetime | None) -> str:
    """A deadline as the deployment's local date and time ('28-11-2026 23:59')."""
    return due.astimezone(deps.tz).strftime("%d-%m-%Y %H:%M") if due else "-"


def _button(label: str, report: Report, action: str, arg: str = "") -> InlineKeyboardButton:
    data = CardCb(r=report.id or 0, a=action, v=report.version, x=arg).pack()
    return InlineKeyboardButton(text=label, callback_data=data)


def card_markup(deps: Deps, view: CardView) -> InlineKeyboardMarkup:
    """The card's buttons for the report's current state (none once it is finished)."""
    t = deps.translator.bind(deps.default_language)
    return InlineKeyboardMarkup(inline_keyboard=[
        [_button(t(f"card-btn-{action}"), view.report, action) for action in row]
        for row in view.actions])


def reject_markup(deps: Deps, report: Report) -> InlineKeyboardMarkup:
    t = deps.translator.bind(deps.default_language)
    rows = [[_button(t(f"reject-{r}"), report, "rj", r)] for r in REJECT_REASONS]
    rows.append([_button(t("card-btn-back"), report, "back")])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def reassign_markup(session: AsyncSession, deps: Deps, report: Report
                          ) -> InlineKeyboardMarkup:
    t = deps.translator.bind(deps.default_language)
    rows = [[_button(opd.name(t.lang)[:60], report, "ra", str(opd.id))]
            for opd in await repo.list_opds(session, active_only=True)
            if opd.id != report.opd_id]
    rows.append([_button(t("card-btn-back"), report, "back")])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def render(session: AsyncSession, deps: Deps, report: Report
                 ) -> tuple[str, InlineKeyboardMarkup]:
    """The card's HTML text and buttons for the report as it is now."""
    view = await card_view(session, report)
    if awaiting_verification(report):
        return card_text(deps, view), verify_markup(deps, report)
    return card_text(deps, view), card_markup(deps, view)


def _vbutton(label: str, report: Report, action: str, arg: str = "") -> InlineKeyboardButton:
    data = VerifyCb(r=report.id or 0, a=action, v=report.version, x=arg).pack()
    return InlineKeyboardButton(text=label, callback_data=data)


def verify_markup(deps: Deps, report: Report) -> InlineKeyboardMarkup:
    """The operators' card: verify, reject, re-categorise, merge as duplicate."""
    t = deps.translator.bind(deps.default_language)
    return InlineKeyboardMarkup(inline_keyboard=[
        [_vbutton(t("verify-btn-ok"), report, "ok")],
        [_vbutton(t("verify-btn-reject"), report, "rj"),
         _vbutton(t("verify-btn-category"), report, "rc")],
        [_vbutton(t("verify-btn-merge"), report, "mg")]])


def verify_reject_markup(deps: Deps, report: Report) -> InlineKeyboardMarkup:
    from handlers.verification import VERIFY_REJECT_REASONS

    t = deps.translator.bind(deps.default_language)
    rows = [[_vbutton(t(f"reject-{r}"), report, "rx", r)] for r in VERIFY_REJECT_REASONS]
    rows.append([_vbutton(t("card-btn-back"), report, "back")])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def verify_category_markup(session: AsyncSession, deps: Deps, report: Report
                                 ) -> InlineKeyboardMarkup:
    t = deps.translator.bind(deps.default_language)
    rows = [[_vbutton(c.name(t.lang)[:60], report, "rk", str(c.id))]
            for c in await repo.active_categories(session)
            if c.id != report.category_id]
    rows.append([_vbutton(t("card-btn-back"), report, "back")])
    return InlineKeyboardMarkup(inline_keyboard=rows)



def card_link(chat_id: int | None, message_id: int | None, thread_id: int | None = None
              ) -> str | None:
    """A t.me link to a card in a supergroup (basic groups have no message links)."""
    if chat_id is None or message_id is None or chat_id > -1_000_000_000_000:
        return None
    internal = -chat_id - 1_000_000_000_000
    return f"https://t.me/c/{internal}/{message_id}"


async def render_reminder(session: AsyncSession, deps: Deps, payload: dict[str, Any]) -> str:
    """A grouped reminder or escalation (handlers/oversight.py), HTML: the headline and one
    line per report with its ticket linked to its card, its category and deadline."""
    t = deps.translator.bind(deps.default_language)
    e = html.escape
    ids = [int(i) for i in payload.get("ids", [])]
    count = int(payload.get("count", len(ids)))
    reports = (await session.exec(select(Report).where(col(Report.id).in_(ids)))).all()
    by_id = {r.id: r for r in reports}
    params: dict[str, Any] = {"count": count}
    if payload.get("opd"):
        opd = await deps.catalog.opd(session, int(payload["opd"]))
        params["opd"] = opd.name(t.lang) if opd else "-"
    lines = [e(t(payload["key"], **params))]
    for rid in ids:
        report = by_id.get(rid)
        # Drawn when sent: a report followed up, finished or moved since is left out.
        if report is None or report.status not in OPEN_STATUSES or report.light == "green" \
                or ("opd" in payload and report.opd_id != int(payload["opd"])):
            continue
        category = await deps.catalog.category(session, report.category_id)
        due = report.followup_due_at if report.first_action_at is None else \
            report.resolve_due_at
        if awaiting_verification(report):
            due = report.verify_due_at
        code = e(report.code)
        link = card_link(report.card_chat_id, report.card_message_id)
        shown = f'<a href="{e(link)}">{code}</a>' if link else f"<b>{code}</b>"
        rest = t("reminder-line", code="\x00", category=category.name(t.lang) if category
                 else "-", due=due_text(deps, due))
        lines.append(LIGHT_EMOJI.get(report.light, "") + " " + e(rest).replace("\x00", shown))
    if count > len(ids):
        lines.append(e(t("reminder-more", count=count - len(ids))))
    return "\n".join(lines)
