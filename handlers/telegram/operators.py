"""The operators' group (VERIFY_REPORTS): verification card buttons, the merge prompt's
answer, and `/gabung ADU-XXXX ADU-YYYY`."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, ForceReply, InlineKeyboardMarkup, Message, ReplyParameters
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import lifecycle, verification
from handlers.telegram import cards
from handlers.telegram.callbacks import VerifyCb
from handlers.telegram.files import queued_link
from handlers.telegram.render import commit_and_send, keep_sends

log = logging.getLogger(__name__)

MERGE_COMMANDS = ("gabung", "merge")


def _actor(user: Any) -> lifecycle.Actor:
    return lifecycle.Actor(user.id, user.full_name, (user.username or "").lower() or None)


async def on_verify_press(query: CallbackQuery, callback_data: VerifyCb, session: AsyncSession,
                          deps: lifecycle.Deps) -> None:
    """A verification card button: a state change, a sub-keyboard or the merge prompt."""
    msg = query.message
    if not isinstance(msg, Message):
        await query.answer()
        return
    cb = callback_data
    press = verification.Press(cb.r, cb.a[:8], cb.v, cb.x[:16])
    outcome = await verification.press(session, deps, _actor(query.from_user), press,
                                       msg.chat.id)
    report = outcome.report
    markup: InlineKeyboardMarkup | None = None
    if report is not None and outcome.keyboard == "vreject":
        markup = cards.verify_reject_markup(deps, report)
    elif report is not None and outcome.keyboard == "vcategory":
        markup = await cards.verify_category_markup(session, deps, report)
    elif report is not None and outcome.keyboard == "verify":
        markup = cards.verify_markup(deps, report)
    prompt = None
    if outcome.prompt == "merge" and report is not None:
        prompt = _merge_prompt(deps, msg, report, query.from_user)
        await keep_sends(session, prompt, link=(report.id or 0, "prompt:merge"))
    await session.commit()
    if markup is not None:
        try:
            await msg.edit_reply_markup(reply_markup=markup)
        except TelegramAPIError as exc:  # e.g. "message is not modified"
            log.debug("verification keyboard edit: %s", exc)
    if prompt is not None and report is not None:
        token = queued_link.set((report.id or 0, "prompt:merge"))  # if it must be queued
        try:
            sent = await prompt
        finally:
            queued_link.reset(token)
        lifecycle.link_message(session, msg.chat.id, sent.message_id, report.id or 0,
                               "prompt:merge")
        await session.commit()
    await query.answer(outcome.alert[:200] or None, show_alert=not outcome.ok)


def _merge_prompt(deps: lifecycle.Deps, card: Message, report: Any, user: Any) -> SendMessage:
    """The ForceReply asking for the target ticket (built, not sent; linked `prompt:merge`
    once sent)."""
    t = deps.translator.bind(deps.default_language)
    mention = f"@{user.username} " if user.username else ""
    return SendMessage(
        chat_id=card.chat.id, text=mention + t("prompt-merge", code=report.code),
        message_thread_id=card.message_thread_id if card.is_topic_message else None,
        reply_parameters=ReplyParameters(message_id=card.message_id,
                                         allow_sending_without_reply=True),
        reply_markup=ForceReply(selective=True, input_field_placeholder="ADU-XXXX")
    ).as_(card.bot)


async def on_merge_answer(message: Message, session: AsyncSession, deps: lifecycle.Deps
                          ) -> None:
    """The answer to a merge prompt: the target's ticket code."""
    reply_to = message.reply_to_message
    if reply_to is None or message.from_user is None or message.from_user.is_bot:
        raise SkipHandler
    found = await lifecycle.report_for_link(session, message.chat.id, reply_to.message_id)
    if found is None or found[1] != "prompt:merge":
        raise SkipHandler  # another reply: the OPD groups' handlers look at it
    source, _ = found
    t = deps.translator.bind(deps.default_language)
    if not await verification.may_verify(session, deps, message.from_user.id):
        await commit_and_send(session, message.reply(t("verify-not-allowed")))
        return
    text = (message.text or "").strip()
    outcome = await verification.merge_codes(session, deps, _actor(message.from_user),
                                             source.code, text.split()[0] if text else "",
                                             commit=False)
    await commit_and_send(session, message.reply(outcome.alert))


async def cmd_merge(message: Message, command: CommandObject, session: AsyncSession,
                    deps: lifecycle.Deps) -> None:
    """`/gabung ADU-XXXX ADU-YYYY`: merge the first report into the second (operators)."""
    t = deps.translator.bind(deps.default_language)
    if message.from_user is None or not await verification.may_verify(
            session, deps, message.from_user.id):
        await commit_and_send(session, message.reply(t("verify-not-allowed")))
        return
    args = (command.args or "").split()
    if len(args) != 2:
        await message.reply(t("merge-usage"))
        return
    outcome = await verification.merge_codes(session, deps, _actor(message.from_user), *args,
                                             commit=False)
    await commit_and_send(session, message.reply(
        outcome.alert if outcome.ok or outcome.alert else t("merge-usage")))


def make_operators_router() -> Router:
    """Verification buttons (anywhere they are pressed: checked inside), merge answers in the
    operators' group, and /gabung."""
    router = Router(name=__name__)
    router.callback_query.register(on_verify_press, VerifyCb.filter())
    router.message.register(cmd_merge, Command(*MERGE_COMMANDS))
    router.message.register(on_merge_answer, F.chat.type.in_(("group", "supergroup")),
                            F.reply_to_message, F.text)
    return router
