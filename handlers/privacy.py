"""Who sees a reporter's identity, what a citizen can see and erase of their own data
(/dataku, /hapus_dataku), and the retention purge of closed reports' personal data.

Transport-neutral: returns `Reply` views and plain counts; adapters render. Writes are bulk
UPDATEs in the caller's one transaction (they leave the report's `version` alone, so a PIC
pressing a button meanwhile is not refused; cards are drawn from the database when sent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.i18n import Tr
from handlers.replies import Choice, Reply
from models.domain import Status
from models.identity import mask_nik
from models.tables import Citizen, Draft, Report, ReportEvent

FINISHED = (Status.CLOSED.value, Status.REJECTED.value)
PURGE_BATCH = 200  # reports per short transaction in the retention purge
MY_DATA_REPORTS = 30  # reports listed by /dataku (the newest)


# ---- who sees what -----------------------------------------------------------------------


def opd_reporter(report: Report, citizen: Citizen | None, t: Tr, vault: Any) -> str:
    """The reporter as an OPD (group card, PIC texts) may see it: 'Anonim' / 'Rahasia' /
    the name, @username, phone and 'NIK terverifikasi format' of a named reporter."""
    if report.personal_purged_at is not None:
        return t("reporter-erased")
    if report.anonymous or report.identity_mode == "anonymous":
        return t("card-anonymous")
    if report.identity_mode == "confidential":
        return t("reporter-confidential")
    parts = [report.reporter_name or (citizen.display_name if citizen else None) or "-"]
    if citizen and citizen.username and report.channel == "telegram":
        parts.append("@" + citizen.username)
    phone = reporter_phone(report, vault)
    if phone:
        parts.append(phone)
    if report.reporter_nik_enc:
        parts.append(t("nik-format-verified"))
    return " · ".join(parts)


def admin_reporter(report: Report, t: Tr, vault: Any) -> str:
    """The reporter as an admin or operator may see it (/cari): name, phone and the NIK
    masked, marked confidential where it is; never the NIK in full."""
    if report.personal_purged_at is not None:
        return t("reporter-erased")
    if report.anonymous or report.identity_mode == "anonymous":
        return t("search-anonymous")
    parts = [report.reporter_name or "-"]
    phone = reporter_phone(report, vault)
    if phone:
        parts.append(phone)
    nik = vault.decrypt(report.reporter_nik_enc) if vault is not None else None
    if nik:
        parts.append("NIK " + mask_nik(nik))
    text = " · ".join(parts)
    if report.identity_mode == "confidential":
        text += " (" + t("reporter-confidential") + ")"
    return text


def reporter_phone(report: Any, vault: Any) -> str | None:
    """A report's (or Core row's) phone, decrypted; a legacy plain value not yet converted."""
    enc = getattr(report, "reporter_phone_enc", None)
    if enc and vault is not None:
        return vault.decrypt(enc)
    return getattr(report, "reporter_phone", None)


# ---- /dataku -------------------------------------------------------------------------------


async def my_data_reply(session: AsyncSession, t: Tr, citizen: Citizen, vault: Any,
                        tz: ZoneInfo) -> Reply:
    """Everything held about the citizen: language, first seen, their phone (unmasked, it is
    theirs), NIK masked, and their reports with status and whether identity is kept."""
    row = (await session.execute(select(Citizen.phone_enc, Citizen.created_at)
                                 .where(col(Citizen.id) == citizen.id))).first()
    phone = vault.decrypt(row.phone_enc) if row and row.phone_enc and vault else None
    first = (row.created_at if row else citizen.created_at).astimezone(tz)
    reports = (await session.exec(
        select(Report).where(col(Report.citizen_id) == citizen.id)
        .order_by(col(Report.created_at).desc()).limit(MY_DATA_REPORTS))).scalars().all()
    niks = {vault.decrypt(r.reporter_nik_enc) for r in reports
            if r.reporter_nik_enc and vault is not None}
    lines = [t("mydata-head"),
             t("mydata-channel", channel=citizen.channel, id=citizen.external_id),
             t("mydata-language", language=t(f"language-name-{citizen.language}")
               if citizen.language in ("id", "en") else citizen.language),
             t("mydata-first-seen", at=first.strftime("%d-%m-%Y")),
             t("mydata-name", name=citizen.display_name or "-"),
             t("mydata-phone", phone=phone or t("mydata-none")),
             t("mydata-nik", nik=", ".join(mask_nik(n) for n in sorted(n for n in niks if n))
               or t("mydata-none"))]
    if reports:
        lines += ["", t("mydata-reports")]
        for r in reports:
            lines.append(t("mydata-report", code=r.code, status=t(f"status-{r.status}"),
                           identity=t(f"mydata-identity-{_identity_kind(r)}")))
    else:
        lines.append(t("mydata-no-reports"))
    lines += ["", t("mydata-foot")]
    return Reply("\n".join(lines), choices=[[Choice(t("btn-erase-mydata"), "erase", "ask")]])


def _identity_kind(report: Report) -> str:
    if report.personal_purged_at is not None:
        return "erased"
    if report.anonymous or report.identity_mode == "anonymous":
        return "anonymous"
    return report.identity_mode if report.identity_mode == "confidential" else "named"


# ---- /hapus_dataku -----------------------------------------------------------------------


def erase_prompt(t: Tr) -> Reply:
    """The confirmation asked before erasing."""
    return Reply(t("erase-confirm"), choices=[
        [Choice(t("btn-erase-yes"), "erase", "yes")],
        [Choice(t("btn-erase-no"), "erase", "no")]])


@dataclass
class Erased:
    reports: int = 0  # reports whose reporter data was erased
    open_reports: int = 0  # of them, still being handled
    phone: bool = False
    draft: bool = False
    report_ids: list[int] = field(default_factory=list)


async def erase_citizen(session: AsyncSession, citizen: Citizen, now: datetime) -> Erased:
    """The citizen's personal data erased from their row, their draft and every report of
    theirs (which stay, anonymised); in the caller's transaction."""
    out = Erased()
    assert citizen.id is not None
    # Anonymous reports too: their timeline still names the citizen's chat id (on WhatsApp,
    # their phone number).
    held = (await session.execute(
        select(Report.id, Report.status).where(col(Report.citizen_id) == citizen.id,
                                               col(Report.personal_purged_at).is_(None)))).all()
    out.report_ids = [r.id for r in held]
    out.reports = len(held)
    out.open_reports = sum(1 for r in held if r.status not in FINISHED)
    if out.report_ids:
        await _anonymise(session, out.report_ids, now)
    phone = (await session.execute(select(Citizen.phone_enc, Citizen.phone)
                                   .where(col(Citizen.id) == citizen.id))).first()
    out.phone = bool(phone and (phone.phone_enc or phone.phone))
    # The chat id and the profile name the channel sends with every message stay: they are
    # how open reports still reach the citizen (said so in the answer).
    await session.execute(update(Citizen).where(col(Citizen.id) == citizen.id).values(
        phone_enc=None, phone_hash=None, phone=None))
    result = await session.execute(
        Draft.__table__.delete().where(Draft.__table__.c.channel == citizen.channel,
                                       Draft.__table__.c.external_id == citizen.external_id))
    out.draft = bool(result.rowcount)  # type: ignore[attr-defined]
    return out


async def _anonymise(session: AsyncSession, ids: list[int], now: datetime) -> None:
    """Reports' reporter data gone (identity_mode anonymous, marked purged) and the citizen's
    name and chat id gone from their timeline events; statuses and figures untouched."""
    await session.execute(
        update(Report).where(col(Report.id).in_(ids)).values(
            reporter_name=None, reporter_phone=None, reporter_phone_enc=None,
            reporter_phone_hash=None, reporter_nik_enc=None, reporter_nik_hash=None,
            anonymous=True, identity_mode="anonymous", personal_purged_at=now)
        .execution_options(synchronize_session=False))
    await session.execute(
        update(ReportEvent).where(col(ReportEvent.report_id).in_(ids),
                                  col(ReportEvent.actor_kind) == "citizen")
        .values(actor_name=None, actor_id=None)
        .execution_options(synchronize_session=False))


def erased_reply(t: Tr, erased: Erased) -> Reply:
    """What was erased, and that open reports keep going."""
    lines = [t("erase-done", reports=erased.reports)]
    if erased.phone:
        lines.append(t("erase-done-phone"))
    if erased.draft:
        lines.append(t("erase-done-draft"))
    if erased.open_reports:
        lines.append(t("erase-done-open", count=erased.open_reports))
    return Reply("\n".join(lines))


# ---- retention ---------------------------------------------------------------------------


async def purge_expired(session: AsyncSession, cutoff: datetime, now: datetime,
                        limit: int = PURGE_BATCH) -> int:
    """Up to `limit` reports closed or rejected before `cutoff` lose their reporter data
    (anonymised as by erasure), and their citizens' stored phone goes when they have no
    report still open; in the caller's transaction. Returns the reports purged."""
    # Anonymous reports too: their timeline still holds the citizen's chat id.
    rows = (await session.execute(
        select(Report.id, Report.citizen_id).where(
            col(Report.status).in_(FINISHED), col(Report.updated_at) < cutoff,
            col(Report.personal_purged_at).is_(None))
        # No ORDER BY: the purge index gives them in its own order and the LIMIT stops the
        # scan; sorting every candidate by id cost 20-45 ms a batch at a year's reports.
        .limit(limit))).all()
    if not rows:
        return 0
    await _anonymise(session, [r.id for r in rows], now)
    citizens = sorted({r.citizen_id for r in rows})
    still_open = exists().where(and_(col(Report.citizen_id) == Citizen.id,
                                     col(Report.status).not_in(FINISHED)))
    await session.execute(
        update(Citizen).where(col(Citizen.id).in_(citizens), ~still_open,
                              col(Citizen.phone_enc).is_not(None))
        .values(phone_enc=None, phone_hash=None, phone=None)
        .execution_options(synchronize_session=False))
    return len(rows)
