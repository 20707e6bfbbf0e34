"""The citizen's private chat: a thin aiogram adapter over the transport-neutral intake."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import intake as core
from handlers import lifecycle
from handlers.i18n import Tr, Translator
from handlers.replies import Reply
from handlers.telegram.callbacks import FeedbackCb, IntakeCb, LangCb
from handlers.telegram.files import content_of, fetcher, outbox_item
from handlers.telegram.render import (
    answer_items,
    commit_and_send,
    keep,
    keep_sends,
    send_replies,
    stash_replies,
)
from models import repo
from models.citizens import CitizenCache
from models.tables import Citizen, Report

log = logging.getLogger(__name__)

PAGE_SIZE = 8
CONVERSATION_COMMANDS = (
    "lapor", "report", "new", "batal", "cancel", "status", "laporanku", "myreports", "help",
    "bantuan", "dataku", "mydata", "hapus_dataku", "erase_mydata", "berhenti_ikuti",
    "unfollow",
)


def _turn(citizen: Citizen, message: Message | None, admin_ids: frozenset[int]) -> core.Turn:
    user = message.from_user if message else None
    return core.Turn(
        citizen=citizen,
        page_size=PAGE_SIZE,
        profile_name=user.full_name if user else citizen.display_name,
        is_admin=int(citizen.external_id) in admin_ids,
    )


def to_event(message: Message) -> core.Event:
    """An aiogram Message as a plain intake event."""
    caption = message.caption
    group = message.media_group_id
    if message.photo:
        best = message.photo[-1]
        return core.Media("photo", best.file_id, best.file_size, "image/jpeg", None, group,
                          caption)
    if message.video:
        v = message.video
        return core.Media("video", v.file_id, v.file_size, v.mime_type, v.file_name, group,
                          caption)
    if message.animation:
        a = message.animation
        return core.Media("animation", a.file_id, a.file_size, a.mime_type, a.file_name, group,
                          caption)
    if message.document:
        d = message.document
        return core.Media("document", d.file_id, d.file_size, d.mime_type, d.file_name, group,
                          caption)
    if message.voice:
        vo = message.voice
        return core.Media("voice", vo.file_id, vo.file_size, vo.mime_type, None, None, caption)
    if message.audio:
        au = message.audio
        return core.Media("audio", au.file_id, au.file_size, au.mime_type, au.file_name, None,
                          caption)
    if message.venue:
        loc = message.venue.location
        title = ", ".join(p for p in (message.venue.title, message.venue.address) if p)
        return core.Location(loc.latitude, loc.longitude, title or None)
    if message.location:
        return core.Location(message.location.latitude, message.location.longitude)
    if message.contact:
        own = bool(message.from_user and message.contact.user_id == message.from_user.id)
        return core.Contact(message.contact.phone_number, own)
    if message.text is not None:
        return core.Text(message.text)
    kind = message.content_type
    return core.Unsupported(str(kind))


async def _run(
    bot: Bot, message: Message, event: core.Event, intake: core.Intake, session: AsyncSession,
    citizen: Citizen, admin_ids: frozenset[int],
) -> None:
    replies = await intake.handle(session, _turn(citizen, message, admin_ids), event,
                                  fetcher(bot), before_commit=_keeping(session, message.chat.id))
    await send_replies(bot, message.chat.id, replies)


def _keeping(session: AsyncSession, chat_id: int) -> Callable[[list[Reply]], Awaitable[None]]:
    """The turn's answers (as they will be sent) committed with it: none lost to a crash."""

    async def keep(replies: list[Reply]) -> None:
        stash_replies(session, chat_id, core.fold_replies(replies))

    return keep


async def cmd_start(message: Message, bot: Bot, intake: core.Intake, session: AsyncSession,
                    citizen: Citizen, admin_ids: frozenset[int]) -> None:
    replies = await intake.start(session, _turn(citizen, message, admin_ids),
                                 before_commit=_keeping(session, message.chat.id))
    await send_replies(bot, message.chat.id, replies)


async def cmd_bahasa(message: Message, t: Tr) -> None:
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="🇮🇩 Bahasa Indonesia", callback_data=LangCb(code="id").pack()),
        InlineKeyboardButton(text="🇬🇧 English", callback_data=LangCb(code="en").pack()),
    ]])
    await message.answer(t("choose-language"), reply_markup=keyboard)


async def on_language(query: CallbackQuery, callback_data: LangCb, bot: Bot,
                      session: AsyncSession, citizen: Citizen, translator: Translator,
                      intake: core.Intake, admin_ids: frozenset[int],
                      citizens: CitizenCache) -> None:
    citizen.language = translator.lang(callback_data.code)
    await repo.set_language(session, citizen.id or 0, citizen.language)
    t = translator.bind(citizen.language)
    edit = None
    if isinstance(query.message, Message):
        edit = query.message.edit_text(t("language-set"))
    chat = query.from_user.id

    async def keep_all(replies: list[Reply]) -> None:
        # The language and every answer in it commit together (the help turn's commit).
        items = [outbox_item(str(chat), edit)] if edit is not None else []
        await keep(session, items + answer_items(chat, core.fold_replies(replies)), whole=True)

    # Show the help and, if a report is in progress, its current step, in the new language.
    replies = await intake.handle(session, _turn(citizen, None, admin_ids), core.Command("help"),
                                  before_commit=keep_all)
    citizens.forget(citizen.channel, citizen.external_id)
    if edit is not None:
        await edit
    await send_replies(bot, chat, replies, query)


async def cmd_conversation(message: Message, command: CommandObject, bot: Bot,
                           intake: core.Intake, session: AsyncSession, citizen: Citizen,
                           admin_ids: frozenset[int]) -> None:
    event = core.Command(command.command.lower(), (command.args or "").strip())
    await _run(bot, message, event, intake, session, citizen, admin_ids)


async def on_button(query: CallbackQuery, callback_data: IntakeCb, bot: Bot,
                    intake: core.Intake, session: AsyncSession, citizen: Citizen,
                    admin_ids: frozenset[int]) -> None:
    event = core.Button(callback_data.action[:32], callback_data.arg[:32])
    keep = _keeping(session, query.from_user.id)
    replies = await intake.handle(session, _turn(citizen, None, admin_ids), event,
                                  fetcher(bot), before_commit=keep)
    await send_replies(bot, query.from_user.id, replies, query)


async def on_unknown_button(query: CallbackQuery, t: Tr) -> None:
    """Forged or outdated callback data: refuse politely, change nothing."""
    log.info("unknown callback data from %s: %r", query.from_user.id, query.data)
    await query.answer(t("button-stale-alert"), show_alert=True)


async def on_unknown_command(message: Message, t: Tr) -> None:
    await message.answer(t("unknown-command"))


async def on_message(message: Message, bot: Bot, intake: core.Intake, session: AsyncSession,
                     citizen: Citizen, admin_ids: frozenset[int], deps: lifecycle.Deps,
                     t: Tr) -> None:
    if message.reply_to_message is not None:
        found = await lifecycle.report_for_link(session, message.chat.id,
                                                message.reply_to_message.message_id)
        if found is not None and found[0].citizen_id == citizen.id:
            await _answer(message, session, deps, citizen, found[0])
            return
    await _run(bot, message, to_event(message), intake, session, citizen, admin_ids)


async def _answer(message: Message, session: AsyncSession, deps: lifecycle.Deps,
                  citizen: Citizen, report: Report, text: str | None = None) -> None:
    """The citizen's answer about a report, passed to the OPD group (the core decides)."""
    content = {"type": "text", "text": text} if text else content_of(message)
    told = await lifecycle.answer_opd(session, deps, citizen, report, content)
    await commit_and_send(session, message.answer(told))


async def cmd_balas(message: Message, command: CommandObject, session: AsyncSession,
                    citizen: Citizen, deps: lifecycle.Deps, t: Tr) -> None:
    """`/balas CODE text`: answer the OPD about one of the citizen's reports."""
    report, text = await lifecycle.own_report(session, deps, citizen, command.args or "")
    if report is None:
        await message.answer(t("answer-usage"))
        return
    await _answer(message, session, deps, citizen, report, text)


async def on_feedback(query: CallbackQuery, callback_data: FeedbackCb, session: AsyncSession,
                      citizen: Citizen, deps: lifecycle.Deps, t: Tr) -> None:
    """'Sudah selesai?' buttons and the 1-5 rating."""
    key = await lifecycle.feedback(session, deps, citizen, callback_data.r, callback_data.a[:8],
                                   commit=False)
    if key == "button-stale-alert":
        await query.answer(t(key), show_alert=True)
        return
    markup = None
    if key == "feedback-rate":
        markup = InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text=f"{n}⭐", callback_data=FeedbackCb(r=callback_data.r,
                                                                          a=str(n)).pack())
            for n in range(1, 6)]])
    answer = None
    if isinstance(query.message, Message):
        answer = query.message.answer(t(key), reply_markup=markup)
    await keep_sends(session, answer)  # committed with the feedback's effects
    await session.commit()
    if isinstance(query.message, Message) and answer is not None:
        await query.message.edit_reply_markup(reply_markup=None)
        await answer
    await query.answer()


_INTAKE_PREFIX = IntakeCb.__prefix__ + IntakeCb.__separator__


async def _free_words(message: Message) -> bool:
    """A private message that no command handler can take: no text or caption starting
    with '/' (aiogram's Command reads either)."""
    if message.chat.type != "private":
        return False
    # As aiogram's Command reads it: `text or caption`, split on whitespace (so ' /batal'
    # and '\u00a0/batal' are commands too).
    words = message.text or message.caption
    return not (words or "").lstrip().startswith("/")


async def _intake_press(query: CallbackQuery) -> bool:
    """A press of an intake button in the citizen's chat (no other router knows its prefix)."""
    return (query.data or "").startswith(_INTAKE_PREFIX) and isinstance(
        query.message, Message) and query.message.chat.type == "private"


def make_citizen_fast_router() -> Router:
    """The citizen's own words and intake buttons, ahead of the routers of commands, groups
    and other buttons, none of which can take them: most updates in a crowd are these, and
    each router passed costs a middleware chain and its filters (about 8 % of the CPU of an
    intake step). Commands and everything else go down the full chain."""
    router = Router(name=__name__ + ".fast")
    router.message.register(on_message, _free_words)
    router.callback_query.register(on_button, _intake_press, IntakeCb.filter())
    return router


def make_citizen_router() -> Router:
    """The private-chat router; a new one each call so every Dispatcher gets its own."""
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(cmd_start, CommandStart())
    router.message.register(cmd_bahasa, Command("bahasa", "language", "lang"))
    router.message.register(cmd_balas, Command("balas", "reply"))
    router.callback_query.register(on_language, LangCb.filter())
    router.message.register(cmd_conversation, Command(*CONVERSATION_COMMANDS))
    router.callback_query.register(on_button, IntakeCb.filter())
    router.callback_query.register(on_feedback, FeedbackCb.filter())
    router.callback_query.register(on_unknown_button)
    router.message.register(on_unknown_command, F.text.startswith("/"))
    router.message.register(on_message)
    return router
