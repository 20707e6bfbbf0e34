"""Turns core `Reply` objects into Telegram messages, keyboards and callback answers."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters.callback_data import MAX_CALLBACK_LENGTH
from aiogram.methods import EditMessageText, SendMessage
from aiogram.methods.base import TelegramMethod
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.replies import Reply, split_text
from handlers.telegram.callbacks import IntakeCb
from handlers.telegram.files import QueuedForLater, outbox_item
from handlers.telegram.middlewares import current_session
from models import inbox

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None


_INTAKE_HEAD = IntakeCb.__prefix__ + IntakeCb.__separator__


def pack_intake(action: str, arg: str) -> str:
    """`IntakeCb(action=action, arg=arg).pack()` without building the model: the same string
    and, for a value holding the separator or data too long, the same ValueError."""
    sep = IntakeCb.__separator__
    data = f"{_INTAKE_HEAD}{action}{sep}{arg}"
    if sep in action or sep in arg or len(data.encode()) > MAX_CALLBACK_LENGTH:
        return IntakeCb(action=action, arg=arg).pack()  # raises as aiogram does
    return data


def markup_for(reply: Reply) -> Markup:
    """The one keyboard a Telegram message can carry for this reply."""
    if reply.request:
        button = KeyboardButton(
            text=reply.request_label or "📍",
            request_location=reply.request == "location",
            request_contact=reply.request == "contact",
        )
        rows = [[button]]
        if reply.skip_label:
            rows.append([KeyboardButton(text=reply.skip_label)])
        # Hidden once used, so the next step's inline buttons stand alone in one message.
        return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, one_time_keyboard=True)
    if reply.choices:
        # Buttons built without validation: their two fields are plain strings made here
        # (validating each button was ~3 % of the bot's CPU on the intake path).
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton.model_construct(
                        text=str(c.label[:64]), callback_data=pack_intake(c.action, c.arg))
                    for c in row
                ]
                for row in reply.choices
            ]
        )
    if reply.remove_keyboard:
        return ReplyKeyboardRemove()
    return None


def _markup_dict(reply: Reply) -> dict[str, Any] | None:
    """`dump_markup(markup_for(reply))` built as plain data: this runs on every step, and
    aiogram's models cost ~20 µs a button to build and dump. Sent as it is (`send_replies`)."""
    if reply.request:
        rows: list[list[dict[str, Any]]] = [[{
            "text": reply.request_label or "📍",
            "request_contact": reply.request == "contact",
            "request_location": reply.request == "location"}]]
        if reply.skip_label:
            rows.append([{"text": reply.skip_label}])
        return {"type": "reply", "data": {"keyboard": rows, "resize_keyboard": True,
                                          "one_time_keyboard": True}}
    if reply.choices:
        return {"type": "inline", "data": {"inline_keyboard": [
            [{"text": str(c.label[:64]), "callback_data": pack_intake(c.action, c.arg)}
             for c in row] for row in reply.choices]}}
    if reply.remove_keyboard:
        return {"type": "remove", "data": {"remove_keyboard": True}}
    return None


def _with_markup(method: Any, markup: dict[str, Any] | None) -> Any:
    """`method` carrying `markup` as the plain JSON object the Bot API takes: the request
    goes as JSON (bot/telegram.py KeepingSession), so no aiogram keyboard model is built,
    validated and dumped again for it (~25 µs a button)."""
    if markup is not None:
        method.__dict__["reply_markup"] = markup["data"]
    return method


def answer_items(chat_id: int | str, replies: list[Reply]) -> list[dict[str, Any]]:
    """The replies as outbox text rows (chat, payload), as `send_replies` sends them: the
    form they are kept in until sent (an edit becomes a new message if it has to be resent)."""
    items: list[dict[str, Any]] = []
    for reply in replies:
        if not reply.text:
            continue
        markup = _markup_dict(reply)
        pieces = split_text(reply.text, TEXT_LIMIT)
        for i, piece in enumerate(pieces):
            payload: dict[str, Any] = {"text": piece}
            if markup is not None and i == len(pieces) - 1:
                payload["markup"] = markup
            items.append({"chat": str(chat_id), "payload": payload})
    return items


def stash_replies(session: AsyncSession, chat_id: int | str, replies: list[Reply]) -> None:
    """`keep` for a use case about to commit (the intake's hot path, no await): its answers
    are written with the update's effects, so a crash between the commit and the send loses
    none (they go through the outbox after)."""
    inbox.stash(session, answer_items(chat_id, replies), whole=True)


async def keep(session: AsyncSession | None, items: list[dict[str, Any]],
               whole: bool = False) -> bool:
    """The one way a direct answer is kept with its update until sent: written with the
    update's flip if that is still to commit, else on its own (`inbox.save_late`, one more
    UPDATE, not committed; the fallback for a handler that committed first). `whole`: these
    are all of the update's answers (the sends need not keep themselves). False when there
    was nothing to keep: no update, or its answers are all kept already."""
    claim = inbox.claim_of(session) if session is not None else None
    if session is None or claim is None or claim.answer_whole or not items:
        return False
    if not inbox.stash(session, items, whole):
        claim.answer_whole = claim.answer_whole or whole
        await inbox.save_late(session, claim, items)
    return True


async def keep_sends(session: AsyncSession, *methods: TelegramMethod[Any] | None,
                     link: tuple[int, str] | None = None) -> None:
    """A handler's answers (built, not sent yet, e.g. `message.reply(text)`), all of them,
    kept before the handler's commit: then they commit with its effects. `link`: (report
    id, link kind) of the messages, if the outbox has to send them after a crash."""
    await keep(session, [outbox_item(str(m.chat_id), m, link)  # type: ignore[attr-defined]
                         for m in methods if m is not None], whole=True)


async def commit_and_send(session: AsyncSession, *methods: TelegramMethod[Any] | None) -> None:
    """Prepare, commit, send, losing nothing: the handler's answers (built, not sent, e.g.
    `message.reply(text)`) are kept with the update, the transaction commits (with the
    update's flip, if this is its first commit), then they go in order."""
    await keep_sends(session, *methods)
    await session.commit()
    for method in methods:
        if method is not None:
            await method


async def keep_answers(session: AsyncSession | None, chat_id: int | str,
                       replies: list[Reply]) -> None:
    """Before sending answers no use case stashed: `keep` them, committed before the send."""
    claim = inbox.claim_of(session) if session is not None else None
    if session is None or claim is None or claim.answer_whole:
        return
    if await keep(session, answer_items(chat_id, replies), whole=True) and claim.done:
        await session.commit()


async def send_replies(
    bot: Bot, chat_id: int, replies: list[Reply], callback: CallbackQuery | None = None
) -> None:
    """Send (or, for a pressed button, edit) each reply in order; answer the callback once.

    A text longer than Telegram allows goes as several messages (the keyboard on the last).
    An answer the retry policy had to queue in the outbox (bot/telegram.py) is delivered
    from there; the ones after it follow it there, in order. The answers are kept with the
    update (models/inbox.py `stash`) until sent, so a crash in between loses none."""
    await keep_answers(current_session.get(), chat_id, replies)
    alert: str | None = None
    edited = False
    for reply in replies:
        alert = alert or reply.alert
        if not reply.text:
            continue
        markup = _markup_dict(reply)
        pieces = split_text(reply.text, TEXT_LIMIT)
        target = callback.message if callback else None
        try:
            if len(pieces) == 1 and reply.edit and not edited and isinstance(target, Message) \
                    and (markup is None or markup["type"] == "inline"):
                try:
                    await bot(_with_markup(EditMessageText(
                        text=pieces[0], chat_id=chat_id, message_id=target.message_id), markup))
                    edited = True
                    continue
                except TelegramBadRequest as exc:  # too old to edit, or unchanged: send
                    log.debug("edit failed, sending: %s", exc)
            for i, piece in enumerate(pieces):
                last = i == len(pieces) - 1
                await bot(_with_markup(SendMessage(chat_id=chat_id, text=piece),
                                       markup if last else None))
        except QueuedForLater:
            continue  # queued; the pacer now holds this chat, so the rest queue behind it
    if callback is not None:
        await callback.answer(alert[:200] if alert else None, show_alert=False)
