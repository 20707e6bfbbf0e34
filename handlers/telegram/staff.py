"""OPD groups: PICs press card buttons and reply to the bot's messages about a report."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.methods import SendMessage
from aiogram.types import (
    CallbackQuery,
    ForceReply,
    InlineKeyboardMarkup,
    Message,
    ReactionTypeEmoji,
    ReplyParameters,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import intake as core
from handlers import lifecycle
from handlers.i18n import Translator
from handlers.telegram import cards
from handlers.telegram.admin_tools import send_offer, template_offer
from handlers.telegram.callbacks import CardCb
from handlers.telegram.files import content_of, fetcher, queued_link
from handlers.telegram.render import commit_and_send, keep_sends
from models import inbox
from models.media import MediaRejected, MediaStore
from models.tables import Citizen, Report

log = logging.getLogger(__name__)

GROUPS = ("group", "supergroup")


def _actor(user: Any) -> lifecycle.Actor:
    return lifecycle.Actor(user.id, user.full_name, (user.username or "").lower() or None)


async def on_card_press(query: CallbackQuery, callback_data: CardCb, bot: Bot,
                        session: AsyncSession, deps: lifecycle.Deps) -> None:
    """A card button: state change, sub-keyboard (reject reasons, OPDs) or a reply prompt."""
    msg = query.message
    if not isinstance(msg, Message):
        await query.answer()
        return
    cb = callback_data
    outcome = await lifecycle.press(session, deps, _actor(query.from_user), cb.r, cb.a[:16],
                                    cb.v, cb.x[:16], msg.chat.id, msg.message_id)
    report = outcome.report
    markup: InlineKeyboardMarkup | None = None
    if outcome.keyboard == "reject" and report is not None:
        markup = cards.reject_markup(deps, report)
    elif outcome.keyboard == "reassign" and report is not None:
        markup = await cards.reassign_markup(session, deps, report)
    elif outcome.keyboard == "card" and report is not None:
        await lifecycle.refresh_card(session, deps, report)  # the outbox shows the newest card
    prompt = offer = None
    if outcome.prompt and report is not None:
        prompt = _prompt(deps, msg, report, outcome.prompt, query.from_user)
        if outcome.prompt in ("info", "resolve"):  # the OPD's saved answers, one tap each
            offer = await template_offer(session, deps, msg.chat.id, _thread(msg),
                                         msg.message_id, report, outcome.prompt)
        # Both linked to the report as `prompt:<what>` if the outbox has to send them.
        await keep_sends(session, prompt, offer, link=(report.id or 0, f"prompt:{outcome.prompt}"))
    await session.commit()
    if markup is not None:
        # Only the keyboard of the pressed card changes here (a sub-menu); its text and state
        # are edited by the outbox alone.
        try:
            await msg.edit_reply_markup(reply_markup=markup)
        except TelegramAPIError as exc:  # e.g. "message is not modified"
            log.debug("card keyboard edit: %s", exc)
    if prompt is not None and report is not None:
        await _send_prompt(session, msg, report, outcome.prompt, prompt)
        if offer is not None:
            await send_offer(session, bot, offer, report, outcome.prompt)
    await query.answer(outcome.alert[:200] or None, show_alert=not outcome.ok)


def _thread(card: Message) -> int | None:
    return card.message_thread_id if card.is_topic_message else None


def _prompt(deps: lifecycle.Deps, card: Message, report: Report, what: str, user: Any
            ) -> SendMessage:
    """The ForceReply message asking the PIC for text about the report (built, not sent)."""
    t = deps.translator.bind(deps.default_language)
    mention = f"@{user.username} " if user.username else ""
    return SendMessage(
        chat_id=card.chat.id, text=mention + t(f"prompt-{what}", code=report.code),
        message_thread_id=_thread(card),
        reply_parameters=ReplyParameters(message_id=card.message_id,
                                         allow_sending_without_reply=True),
        reply_markup=ForceReply(selective=True, input_field_placeholder=report.code)
    ).as_(card.bot)


async def _send_prompt(session: AsyncSession, card: Message, report: Report, what: str,
                       prompt: SendMessage) -> None:
    """Send the prompt after the press has committed, and link it to the report; the PIC's
    answer comes in the same chat, which the inbox processes in order, so the link is
    committed before the answer is looked at."""
    token = queued_link.set((report.id or 0, f"prompt:{what}"))  # if it must be queued
    try:
        sent = await prompt
    finally:
        queued_link.reset(token)
    lifecycle.link_message(session, card.chat.id, sent.message_id, report.id or 0,
                           f"prompt:{what}")
    await session.commit()


async def on_group_reply(message: Message, bot: Bot, session: AsyncSession,
                         deps: lifecycle.Deps, media_store: MediaStore,
                         translator: Translator) -> None:
    """A reply to one of our messages: a prompt's answer, or a message for the citizen."""
    reply_to = message.reply_to_message
    if reply_to is None or message.from_user is None or message.from_user.is_bot:
        return
    found = await lifecycle.report_for_link(session, message.chat.id, reply_to.message_id)
    if found is None:
        found = await _card_not_linked_yet(session, bot, message.chat.id, reply_to)
    if found is None:
        author = reply_to.from_user
        if author is not None and author.is_bot and author.id == (await bot.me()).id:
            # A reply to one of our messages that leads to no report (a reminder, a notice, or
            # a prompt sent twice after a crash): say so, or the PIC would think it was relayed.
            t = deps.translator.bind(deps.default_language)
            await commit_and_send(session, message.reply(t("pic-reply-unlinked")))
        return  # otherwise group chatter about something else: not ours
    report, kind = found
    actor = _actor(message.from_user)
    t = deps.translator.bind(deps.default_language)
    if not await lifecycle.is_pic(session, deps, actor, report.opd_id):
        await commit_and_send(session, message.reply(t("pic-reply-not-allowed")))
        return
    citizen = await session.get(Citizen, report.citizen_id)
    with inbox.held(session):  # nothing is held open over the downloads below; the update
        await session.commit()  # is done with the use case's commit, as one
    content = content_of(message)
    if kind.startswith("prompt:"):
        await _answer_prompt(message, bot, session, deps, media_store, report, actor,
                             kind.split(":", 1)[1], content)
        return
    if content is None:  # a location, contact, sticker, poll, dice…: say so, relay nothing
        await message.reply(t("pic-reply-unforwardable"))
        return
    if citizen is not None and citizen.channel != "telegram" and content["type"] != "text":
        # Telegram media cannot be copied to WhatsApp: keep the photo, upload it there.
        stored = await _store_photo(bot, message, media_store) if message.photo else None
        if stored is None:
            await message.reply(t("pic-wa-text-photo-only"))
            return
        content = {"type": "photo", "path": stored["path"], "caption": message.caption or ""}
    await lifecycle.relay_to_citizen(session, deps, actor, report, content)
    await _ack(bot, message)


async def _card_not_linked_yet(session: AsyncSession, bot: Bot, chat_id: int, card: Message
                               ) -> tuple[Report, str] | None:
    """A reply to one of our cards whose message link is not committed (the outbox links a
    card just after sending it, and a quick PIC can be quicker; or the process died in
    between): the report its buttons are about, if this chat is that report's own group. The
    buttons are the bot's own message as Telegram quotes it, not text typed by anyone."""
    author = card.from_user
    markup = card.reply_markup
    if author is None or not author.is_bot or not isinstance(markup, InlineKeyboardMarkup) \
            or author.id != (await bot.me()).id:
        return None
    head = CardCb.__prefix__ + CardCb.__separator__
    for row in markup.inline_keyboard:
        for button in row:
            if not (button.callback_data or "").startswith(head):
                continue
            try:
                report_id = CardCb.unpack(button.callback_data or "").r
            except (TypeError, ValueError):
                continue
            report = await lifecycle.report_in_own_group(session, report_id, chat_id)
            return (report, "card") if report is not None else None
    return None


async def _store_photo(bot: Bot, message: Message, media_store: MediaStore
                       ) -> dict[str, Any] | None:
    """Download a group photo into MEDIA_DIR (GPS stripped); None if that fails."""
    if not message.photo:
        return None
    best = message.photo[-1]
    media = core.Media("photo", best.file_id, best.file_size, "image/jpeg")
    try:
        raw = await fetcher(bot)(media)
        stored = await asyncio.to_thread(media_store.store, raw, "photo", "image/jpeg",
                                         best.file_id)
    except (MediaRejected, TelegramAPIError, OSError) as exc:
        log.warning("photo not stored: %s", exc)
        return None
    return stored.to_dict()


async def _answer_prompt(message: Message, bot: Bot, session: AsyncSession,
                         deps: lifecycle.Deps, media_store: MediaStore, report: Report,
                         actor: lifecycle.Actor, what: str, content: dict[str, Any] | None
                         ) -> None:
    t = deps.translator.bind(deps.default_language)
    text = (message.text or message.caption or "").strip()
    if what == "resolve":
        proof = None
        if message.photo:
            proof = await _store_photo(bot, message, media_store)
            if proof is None:
                await message.reply(t("media-download-failed"))
                return
        if not text and proof is None:
            await message.reply(t("pic-text-needed"))
            return
        outcome = await lifecycle.resolve(session, deps, actor, report, text or "-", proof,
                                          commit=False)
    elif not text:
        await message.reply(t("pic-text-needed"))
        return
    elif what == "info":
        outcome = await lifecycle.ask_info(session, deps, actor, report, text, commit=False)
    elif what == "reject_other":
        outcome = await lifecycle.reject(session, deps, actor, report, "other", text,
                                         commit=False)
    elif what == "duplicate":
        prefix = deps.ticket_prefix
        outcome = await lifecycle.reject_duplicate(session, deps, actor, report, text, prefix,
                                                   commit=False)
    else:
        return
    if not (outcome.prompt and outcome.report is not None):
        # The answer commits with the state change it tells of.
        await commit_and_send(session, message.reply(outcome.alert))
        return
    # Asked again (e.g. a proof photo is required): a reply to this must count as the answer.
    # Linked before this chat's next update is processed (the inbox keeps each chat in order).
    link = (report.id or 0, f"prompt:{outcome.prompt}")
    again = message.reply(outcome.alert)
    await keep_sends(session, again, link=link)
    await session.commit()
    token = queued_link.set(link)  # if it is queued
    try:
        sent = await again
    finally:
        queued_link.reset(token)
    lifecycle.link_message(session, message.chat.id, sent.message_id, *link)
    await session.commit()


async def _ack(bot: Bot, message: Message) -> None:
    """A quiet 👍 on the PIC's message instead of another line in a busy group."""
    try:
        await bot.set_message_reaction(message.chat.id, message.message_id,
                                       reaction=[ReactionTypeEmoji(emoji="👍")])
    except TelegramAPIError as exc:
        log.debug("reaction failed: %s", exc)


async def cmd_group_help(message: Message, deps: lifecycle.Deps) -> None:
    """How PICs work in the group: the card's buttons and replying to the bot's messages."""
    t = deps.translator.bind(deps.default_language)
    await message.reply(t("group-help"))


async def on_unknown_group_button(query: CallbackQuery, deps: lifecycle.Deps) -> None:
    """Forged or foreign callback data in a group: refused, logged, nothing changes."""
    log.warning("unknown group callback from %s: %r", query.from_user.id, query.data)
    t = deps.translator.bind(deps.default_language)
    await query.answer(t("pic-invalid-button"), show_alert=True)


def make_staff_router() -> Router:
    """Group-side router: card buttons and replies to the bot's messages."""
    router = Router(name=__name__)
    router.message.filter(F.chat.type.in_(GROUPS))
    router.callback_query.filter(F.message.chat.type.in_(GROUPS))
    router.callback_query.register(on_card_press, CardCb.filter())
    router.callback_query.register(on_unknown_group_button)
    router.message.register(cmd_group_help, Command("help", "bantuan"))
    router.message.register(on_group_reply, F.reply_to_message)
    return router
