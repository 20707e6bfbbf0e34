"""Tools for admins and PICs: response templates (`/templat`), broadcasts (`/siaran`,
`/siaran_batal`) and bans (`/blokir`, `/buka_blokir`), with their buttons."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import SendMessage
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import bans, lifecycle, templates
from handlers import broadcast as bcast
from handlers.admin import UsageError
from handlers.i18n import Tr
from handlers.telegram.admin import IsAdmin
from handlers.telegram.files import QueuedForLater, queued_link
from handlers.telegram.render import commit_and_send, keep_sends
from models import inbox
from models.citizens import CitizenCache
from models.tables import Report

log = logging.getLogger(__name__)

GROUPS = ("group", "supergroup")
TEMPLATE_COMMANDS = ("templat", "templates")
BROADCAST_COMMANDS = ("siaran", "broadcast")
CANCEL_COMMANDS = ("siaran_batal", "broadcast_cancel")
BAN_COMMANDS = ("blokir", "ban")
UNBAN_COMMANDS = ("buka_blokir", "unban")
ADMIN_ONLY = BROADCAST_COMMANDS + CANCEL_COMMANDS + BAN_COMMANDS + UNBAN_COMMANDS


class TplCb(CallbackData, prefix="tp"):
    """A template button: report id, template id, what it answers (i/r/m)."""

    r: int
    t: int
    w: str


class BcCb(CallbackData, prefix="bc"):
    """The cancel button of a broadcast's progress message."""

    b: int
    a: str


def _actor(user: Any) -> lifecycle.Actor:
    return lifecycle.Actor(user.id, user.full_name, (user.username or "").lower() or None)


# ---- response templates -------------------------------------------------------------------


def template_markup(report_id: int, what: str, offers: list[tuple[int, str]]
                    ) -> InlineKeyboardMarkup:
    """One button per template (its number and title)."""
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=title[:64], callback_data=TplCb(r=report_id, t=tid,
                                                                   w=what).pack())]
        for tid, title in offers])


def _offer_link(what: str) -> str:
    return "notice" if what == "reply" else f"prompt:{what}"


async def template_offer(session: AsyncSession, deps: lifecycle.Deps, chat_id: int,
                         thread_id: int | None, reply_to: int, report: Report, what: str
                         ) -> SendMessage | None:
    """The OPD's templates as buttons under a prompt (`what`: info | resolve) or for a reply
    (`reply`), built and not sent; None when the OPD has none. Reads only."""
    offers = templates.offers(await templates.of_opd(session, report.opd_id))
    if not offers:
        return None
    t = deps.translator.bind(deps.default_language)
    code = {v: k for k, v in templates.USES.items()}[what]
    key = "tpl-offer-reply" if what == "reply" else "tpl-offer"
    return SendMessage(
        chat_id=chat_id, text=t(key, code=report.code), message_thread_id=thread_id,
        reply_parameters=ReplyParameters(message_id=reply_to, allow_sending_without_reply=True),
        reply_markup=template_markup(report.id or 0, code, offers))


async def send_offer(session: AsyncSession, bot: Bot, offer: SendMessage, report: Report,
                     what: str) -> None:
    """Send a built offer and link it to the report, so that typing a reply to it works as
    well (committed); an offer that cannot go is only logged: the prompt itself stands."""
    link = _offer_link(what)
    token = queued_link.set((report.id or 0, link))
    try:
        sent = await bot(offer)
    except QueuedForLater:
        return  # the outbox sends it later, and links it then
    except TelegramAPIError as exc:  # an extra: the prompt itself stands
        log.warning("templates not offered for %s: %s", report.code, exc)
        return
    finally:
        queued_link.reset(token)
    lifecycle.link_message(session, int(offer.chat_id), sent.message_id, report.id or 0, link)
    await session.commit()


async def offer_templates(session: AsyncSession, deps: lifecycle.Deps, bot: Bot, chat_id: int,
                          thread_id: int | None, reply_to: int, report: Report, what: str
                          ) -> None:
    """Post the OPD's templates as buttons (`template_offer`), kept with the update before
    the commit that ends the read, then sent and linked (`send_offer`)."""
    offer = await template_offer(session, deps, chat_id, thread_id, reply_to, report, what)
    await keep_sends(session, offer, link=(report.id or 0, _offer_link(what)))
    await session.commit()
    if offer is not None:
        await send_offer(session, bot, offer, report, what)


async def cmd_templates(message: Message, command: CommandObject, bot: Bot,
                        session: AsyncSession, deps: lifecycle.Deps, t: Tr) -> None:
    """`/templat [OPD] [tambah Judul | teks | hapus N]`; as a reply to a card in the group:
    the templates as buttons that answer that report's citizen."""
    if message.from_user is None:
        return
    actor = _actor(message.from_user)
    in_group = message.chat.type in GROUPS
    thread = message.message_thread_id if message.is_topic_message else None
    try:
        parsed = templates.parse(command.args or "")
    except UsageError as exc:
        await message.reply(t(str(exc)))
        return
    if in_group and message.reply_to_message is not None and parsed.action == "list" \
            and parsed.opd_code is None:
        found = await lifecycle.report_for_link(session, message.chat.id,
                                                message.reply_to_message.message_id)
        if found is not None:
            report = found[0]
            if not await lifecycle.is_pic(session, deps, actor, report.opd_id):
                await commit_and_send(session, message.reply(t("pic-reply-not-allowed")))
                return
            if await templates.of_opd(session, report.opd_id):
                await offer_templates(session, deps, bot, message.chat.id, thread,
                                      message.message_id, report, "reply")
                return
    if parsed.opd_code is not None:
        opd = await templates.opd_by_code(session, parsed.opd_code)
        if opd is None:
            await message.reply(t("tpl-opd-unknown", code=parsed.opd_code.upper()))
            return
    elif in_group:
        opd = await templates.group_opd(session, message.chat.id, thread)
        if opd is None:
            await message.reply(t("tpl-no-opd"))
            return
    else:
        admin = deps.roles is not None and await deps.roles.is_admin(session, actor.user_id)
        await message.reply(t("tpl-usage" if admin else "tools-admin-only"))
        return
    if not await lifecycle.is_pic(session, deps, actor, opd.id or 0):
        log.warning("/templat refused for %s on %s", actor.user_id, opd.code)
        await commit_and_send(session, message.reply(t("tpl-not-allowed", opd=opd.code)))
        return
    if parsed.action == "add":
        number = await templates.add(session, opd, parsed.title, parsed.text, actor.user_id,
                                     commit=False)
        if not number:
            answer = message.reply(t("tpl-full", opd=opd.code, max=templates.LIST_MAX))
        else:
            answer = message.reply(t("tpl-added", n=number, title=parsed.title, opd=opd.code))
        await commit_and_send(session, answer)  # the answer commits with the template
        return
    if parsed.action == "delete":
        gone = await templates.delete(session, opd, parsed.number, commit=False)
        if gone is None:
            answer = message.reply(t("tpl-missing", opd=opd.code, n=parsed.number))
        else:
            answer = message.reply(t("tpl-deleted", title=gone.title, opd=opd.code))
        await commit_and_send(session, answer)
        return
    listed = await templates.of_opd(session, opd.id or 0)
    if not listed:
        await message.reply(t("tpl-none", opd=opd.code))
        return
    lines = [t("tpl-list", opd=opd.code)]
    for n, tp in enumerate(listed, 1):
        preview = tp.text if len(tp.text) <= 120 else tp.text[:119] + "…"
        lines.append(f"{n}. {tp.title} — {preview}")
    lines += ["", t("tpl-list-hint")]
    await message.reply("\n".join(lines))


async def on_template_tap(query: CallbackQuery, callback_data: TplCb, session: AsyncSession,
                          deps: lifecycle.Deps) -> None:
    """One tap: the template's text answers the citizen, as if the PIC had typed it."""
    msg = query.message
    t = deps.translator.bind(deps.default_language)
    if not isinstance(msg, Message):
        await query.answer()
        return
    cb = callback_data
    found = await lifecycle.report_for_link(session, msg.chat.id, msg.message_id)
    if found is None or found[0].id != cb.r:
        log.warning("forged template tap by %s: %r", query.from_user.id, query.data)
        await session.commit()
        await query.answer(t("pic-invalid-button"), show_alert=True)
        return
    actor = _actor(query.from_user)
    outcome, template = await templates.use(session, deps, actor, cb.r, cb.t, cb.w[:1],
                                            commit=False)
    edit = None
    if outcome.ok and template is not None and outcome.report is not None:
        edit = msg.edit_text(t("tpl-sent", name=actor.name, title=template.title,
                               code=outcome.report.code), reply_markup=None)
    await keep_sends(session, edit)  # committed with the template's use
    await session.commit()
    if edit is not None:
        try:
            await edit
        except TelegramAPIError as exc:
            log.debug("template offer not edited: %s", exc)
    await query.answer(outcome.alert[:200] or None, show_alert=not outcome.ok)


# ---- broadcasts ---------------------------------------------------------------------------


async def cmd_broadcast(message: Message, command: CommandObject, bot: Bot,
                        session: AsyncSession, deps: lifecycle.Deps, t: Tr,
                        broadcasts: Any) -> None:
    """`/siaran teks`: start a broadcast with a progress message that has a cancel button."""
    text = (command.args or "").strip()
    if not text or len(text) > bcast.TEXT_MAX or message.from_user is None:
        await message.reply(t("bc-usage"))
        return
    bc, started = await bcast.start(session, message.from_user.id, message.chat.id, text,
                                    broadcasts.channels, reader=deps.reader)
    if not started:
        await message.reply(t("bc-running", id=bc.id or 0))
        return
    numbers = bcast.counts(bc)
    sent = await message.answer(
        t("bc-progress", **numbers.params()),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=t("bc-btn-cancel"), callback_data=BcCb(b=bc.id or 0, a="x").pack())]]))
    await bcast.set_progress_message(session, bc.id or 0, sent.message_id)
    broadcasts.wake()


async def _cancel(session: AsyncSession, deps: lifecycle.Deps, broadcasts: Any,
                  bc_id: int | None) -> bool:
    # The gate is taken with no transaction open (on SQLite the write lock, which the gate's
    # holder may be waiting for). That commit only ends the read: the update is marked done
    # with the cancellation's own commit, so a crash while waiting leaves it to be redone.
    with inbox.held(session):
        await session.commit()
    async with broadcasts.gate.lock:
        bc = await bcast.cancel(session, deps, bc_id)
    if bc is not None:
        broadcasts.wake()  # its progress message gets the final edit
    return bc is not None


async def cmd_broadcast_cancel(message: Message, session: AsyncSession, deps: lifecycle.Deps,
                               t: Tr, broadcasts: Any) -> None:
    """`/siaran_batal`: cancel the running broadcast; the final count follows."""
    if not await _cancel(session, deps, broadcasts, None):
        await message.reply(t("bc-none"))


async def on_broadcast_cancel(query: CallbackQuery, callback_data: BcCb, session: AsyncSession,
                              deps: lifecycle.Deps, t: Tr, broadcasts: Any) -> None:
    ok = await _cancel(session, deps, broadcasts, callback_data.b)
    await query.answer(t("bc-cancel-ok" if ok else "bc-none"), show_alert=not ok)


# ---- bans ---------------------------------------------------------------------------------


async def _ban_target(message: Message, command: CommandObject, session: AsyncSession,
                      deps: lifecycle.Deps, t: Tr) -> Any:
    try:
        target = await bans.find(session, deps, command.args or "")
    except UsageError as exc:
        await message.reply(t(str(exc)))
        return None
    if not target.citizens:
        await message.reply(t("ban-unknown", who=target.who))
        return None
    if len(target.citizens) > 1:
        await message.reply(t("ban-ambiguous", who=target.who))
        return None
    return target.citizens[0]


def _who(message: Message, command: CommandObject, citizen: Any) -> str:
    """The citizen as the answer names them: channel, id and name in a private chat; in a
    group (maybe an OPD's, where a confidential reporter must stay unknown) only what the
    admin typed."""
    if message.chat.type == "private":
        return bans.label(citizen)
    return (command.args or "").strip()


async def cmd_ban(message: Message, command: CommandObject, session: AsyncSession,
                  deps: lifecycle.Deps, t: Tr, citizens: CitizenCache) -> None:
    """`/blokir CODE | user id | WhatsApp number`."""
    citizen = await _ban_target(message, command, session, deps, t)
    if citizen is None:
        return
    who = _who(message, command, citizen)
    done = await bans.ban(session, citizen, commit=False)
    answer = message.reply(t("ban-done" if done else "ban-already", who=who))
    await keep_sends(session, answer)  # committed with the ban
    await session.commit()
    citizens.forget(citizen.channel, citizen.external_id)
    log.info("admin %s banned citizen %s", message.from_user.id if message.from_user else "?",
             citizen.id)
    await answer


async def cmd_unban(message: Message, command: CommandObject, session: AsyncSession,
                    deps: lifecycle.Deps, t: Tr, citizens: CitizenCache) -> None:
    """`/buka_blokir CODE | user id | WhatsApp number`."""
    citizen = await _ban_target(message, command, session, deps, t)
    if citizen is None:
        return
    who = _who(message, command, citizen)
    done = await bans.unban(session, deps, citizen, commit=False)
    answer = message.reply(t("unban-done" if done else "unban-not-banned", who=who))
    await keep_sends(session, answer)  # committed with the unban
    await session.commit()
    citizens.forget(citizen.channel, citizen.external_id)
    await answer


# ---- refusals -----------------------------------------------------------------------------


async def cmd_refused(message: Message, t: Tr) -> None:
    log.warning("admin command %r refused for %s", (message.text or "")[:40],
                message.from_user.id if message.from_user else "?")
    await message.reply(t("tools-admin-only"))


async def on_refused_button(query: CallbackQuery, t: Tr) -> None:
    log.warning("broadcast button refused for %s", query.from_user.id)
    await query.answer(t("tools-admin-only"), show_alert=True)


def make_tools_router() -> Router:
    """Templates for PICs and admins; broadcasts and bans for admins, refused to others."""
    router = Router(name=__name__)
    router.message.register(cmd_templates, Command(*TEMPLATE_COMMANDS))
    router.callback_query.register(on_template_tap, TplCb.filter(),
                                   F.message.chat.type.in_(GROUPS))
    admin = IsAdmin()
    router.message.register(cmd_broadcast, Command(*BROADCAST_COMMANDS), admin)
    router.message.register(cmd_broadcast_cancel, Command(*CANCEL_COMMANDS), admin)
    router.message.register(cmd_ban, Command(*BAN_COMMANDS), admin)
    router.message.register(cmd_unban, Command(*UNBAN_COMMANDS), admin)
    router.callback_query.register(on_broadcast_cancel, BcCb.filter(), admin)
    router.message.register(cmd_refused, Command(*ADMIN_ONLY), F.from_user)
    router.callback_query.register(on_refused_button, BcCb.filter())
    return router
