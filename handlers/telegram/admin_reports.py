"""Admin report commands (behind IsAdmin): /cari, /alihkan, /terlambat, /statistik, /rapor,
/ekspor, with English aliases. The numbers come from handlers/reports.py; this renders them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    BufferedInputFile,
    FSInputFile,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import reports
from handlers.i18n import Tr
from handlers.lifecycle import Actor, Deps, reassign
from handlers.replies import split_text
from handlers.telegram.admin import IsAdmin
from handlers.telegram.render import commit_and_send
from models import inbox, repo
from models.domain import normalize_ticket
from models.media import MediaStore

log = logging.getLogger(__name__)

# Indonesian name first, then the English alias.
REPORT_COMMANDS = {
    "search": ("cari", "search"),
    "reassign": ("alihkan", "reassign"),
    "overdue": ("terlambat", "overdue"),
    "stats": ("statistik", "stats"),
    "card": ("rapor", "report_card"),
    "export": ("ekspor", "export"),
}
PERSONAL_WORDS = ("pribadi", "personal")
ALBUM_MAX = 10  # Telegram's media group limit
CAPTION_MAX = 1024


async def _send_text(message: Message, text: str, html: bool = False) -> None:
    for piece in split_text(text, reports.TEXT_LIMIT):
        await message.answer(piece, parse_mode="HTML" if html else None)


@asynccontextmanager
async def reading(session: AsyncSession, deps: Deps) -> AsyncIterator[AsyncSession]:
    """A session for a long read that must not hold up citizens' writes: the update's own
    transaction is ended first, and on SQLite the read runs on the read-only engine (a WAL
    snapshot, no write lock). The update is not marked done here: its answer, once read,
    is kept with that (models/inbox.py `held`)."""
    with inbox.held(session):
        await session.commit()
    if deps.reader is None:
        yield session
        return
    async with deps.reader() as read:  # closing detaches what was read, still loaded
        yield read


async def cmd_search(message: Message, command: CommandObject, session: AsyncSession, t: Tr,
                     deps: Deps, media_store: MediaStore) -> None:
    """/cari CODE: the report with its whole timeline, then its photos and videos as albums."""
    args = (command.args or "").split()
    code = normalize_ticket(args[0], deps.ticket_prefix) if len(args) == 1 else None
    if code is None:
        await message.reply(t("search-usage"))
        return
    async with reading(session, deps) as rs:
        view = await reports.timeline(rs, code)
    if view is None:
        await message.reply(t("search-not-found", code=code))
        return
    await _send_text(message, reports.timeline_text(view, t, deps.tz, deps.pii))
    files = []
    for item in view.album:
        path = media_store.path(item.path)
        if await asyncio.to_thread(path.is_file):
            files.append((item.kind, path))
    code = view.report.code
    for i in range(0, len(files), ALBUM_MAX):
        group = files[i:i + ALBUM_MAX]
        if len(group) == 1:
            kind, path = group[0]
            if kind == "video":
                await message.answer_video(FSInputFile(path), caption=code)
            else:
                await message.answer_photo(FSInputFile(path), caption=code)
            continue
        await message.answer_media_group([
            (InputMediaVideo if kind == "video" else InputMediaPhoto)(
                media=FSInputFile(path), caption=code if n == 0 else None)
            for n, (kind, path) in enumerate(group)])


async def cmd_reassign(message: Message, command: CommandObject, session: AsyncSession, t: Tr,
                       deps: Deps) -> None:
    """/alihkan CODE OPD: the report moves to the OPD, the admin as the actor."""
    args = (command.args or "").split()
    if len(args) != 2:
        await message.reply(t("reassign-usage"))
        return
    code = normalize_ticket(args[0], deps.ticket_prefix)
    report = await repo.report_by_code(session, code) if code else None
    if report is None:
        await message.reply(t("reassign-unknown-report", code=code or args[0].upper()))
        return
    opd = await repo.opd_by_code(session, args[1])
    if opd is None or opd.id is None or not opd.active:
        await message.reply(t("reassign-unknown-opd", code=args[1].upper()))
        return
    if opd.id == report.opd_id:
        await message.reply(t("reassign-same-opd", code=report.code, opd=opd.name(t.lang)))
        return
    user = message.from_user
    assert user is not None  # IsAdmin let it through
    actor = Actor(user.id, user.full_name, user.username)
    outcome = await reassign(session, deps, actor, report, opd.id, commit=False)
    if outcome.ok:
        answer = message.reply(t("reassign-done", code=report.code, opd=opd.name(t.lang)))
    else:
        answer = message.reply(t("reassign-failed", code=report.code, reason=outcome.alert))
    await commit_and_send(session, answer)  # the answer commits with the move
    if outcome.ok:
        log.info("admin %s reassigned %s to %s", user.id, report.code, opd.code)


async def cmd_overdue(message: Message, command: CommandObject, session: AsyncSession, t: Tr,
                      deps: Deps) -> None:
    """/terlambat: open red and yellow reports per OPD."""
    async with reading(session, deps) as rs:
        groups = await reports.overdue(rs, deps)
    await _send_text(message, reports.overdue_text(groups, t, deps.tz))


def _period(command: CommandObject, deps: Deps) -> reports.Period | None:
    try:
        return reports.parse_period(command.args, deps.tz, deps.now())
    except reports.PeriodError:
        return None


async def cmd_stats(message: Message, command: CommandObject, session: AsyncSession, t: Tr,
                    deps: Deps) -> None:
    """/statistik [period]: counts by status, light and category."""
    period = _period(command, deps)
    if period is None:
        await message.reply(t("stats-usage"))
        return
    async with reading(session, deps) as rs:
        stats = await reports.statistics(rs, deps, period.start, period.end)
    await _send_text(message, reports.statistics_text(stats, t, period))


async def cmd_report_card(message: Message, command: CommandObject, session: AsyncSession,
                          t: Tr, deps: Deps) -> None:
    """/rapor [period]: the ranked table with the score formula, then the chart (the period
    against the one just before it)."""
    period = _period(command, deps)
    if period is None:
        await message.reply(t("rapor-usage"))
        return
    span = period.end - period.start
    async with reading(session, deps) as rs:
        rows = await reports.report_card(rs, deps, period.start, period.end)
        before = await reports.report_card(rs, deps, period.start - span, period.start)
    for page in reports.report_card_pages(rows, t, period):
        await message.answer(page, parse_mode="HTML")
    if rows:
        # matplotlib is imported on the first chart, not at start-up (~40 MB resident).
        from handlers.charts import ChartLabels, report_card_chart

        labels = ChartLabels.of(t, period.label(), weekly=span == timedelta(days=7))
        png = await asyncio.to_thread(report_card_chart, rows, before, labels, t.lang)
        await message.answer_photo(BufferedInputFile(png, "rapor.png"),
                                   caption=t("rapor-title", period=period.label()))


async def cmd_export(message: Message, command: CommandObject, session: AsyncSession, t: Tr,
                     deps: Deps) -> None:
    """/ekspor [period] [pribadi]: CSV and XLSX of the reports with their timelines."""
    words = (command.args or "").split()
    personal = any(w.lower() in PERSONAL_WORDS for w in words)
    rest = " ".join(w for w in words if w.lower() not in PERSONAL_WORDS)
    try:
        period = reports.parse_period(rest, deps.tz, deps.now())
    except reports.PeriodError:
        await message.reply(t("export-usage"))
        return
    async with reading(session, deps) as rs:
        export = await reports.export_rows(rs, deps, period.start, period.end, personal)
    if not export.rows:
        await message.reply(t("export-empty", period=period.label()))
        return
    user = message.from_user
    log.info("admin %s exported %d reports (personal=%s)", user.id if user else "?",
             len(export.rows), personal)
    name = f"aduan-{period.first.isoformat()}_{period.last.isoformat()}"
    if personal:
        name += "-pribadi" if t.lang == "id" else "-personal"
    caption = t("export-caption", count=len(export.rows), period=period.label())
    if personal:
        caption += "\n" + t("export-personal")
    if len(export.rows) < export.total:
        caption += "\n" + t("export-cut", count=len(export.rows), total=export.total)
    caption = caption[:CAPTION_MAX]
    # Files are built in a thread: an XLSX of 20,000 reports is seconds of CPU, and the
    # event loop keeps answering citizens meanwhile.
    csv_bytes = await asyncio.to_thread(reports.to_csv, export)
    await message.answer_document(BufferedInputFile(csv_bytes, f"{name}.csv"), caption=caption)
    xlsx_bytes = await asyncio.to_thread(reports.to_xlsx, export)
    await message.answer_document(BufferedInputFile(xlsx_bytes, f"{name}.xlsx"),
                                  caption=caption)


async def cmd_denied(message: Message, t: Tr) -> None:
    log.info("refused a report command from non-admin %s",
             message.from_user.id if message.from_user else "?")
    await message.reply(t("admin-only"))


def make_reports_router() -> Router:
    """The report commands behind IsAdmin, and the polite refusal for everyone else."""
    root = Router(name=__name__)
    admin = Router(name=__name__ + ".admin")
    admin.message.filter(IsAdmin())
    admin.message.register(cmd_search, Command(*REPORT_COMMANDS["search"]))
    admin.message.register(cmd_reassign, Command(*REPORT_COMMANDS["reassign"]))
    admin.message.register(cmd_overdue, Command(*REPORT_COMMANDS["overdue"]))
    admin.message.register(cmd_stats, Command(*REPORT_COMMANDS["stats"]))
    admin.message.register(cmd_report_card, Command(*REPORT_COMMANDS["card"]))
    admin.message.register(cmd_export, Command(*REPORT_COMMANDS["export"]))
    denied = Router(name=__name__ + ".denied")
    every = [name for names in REPORT_COMMANDS.values() for name in names]
    denied.message.register(cmd_denied, Command(*every), F.from_user)
    root.include_routers(admin, denied)
    return root
