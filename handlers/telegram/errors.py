"""Last line of defence: an update that raised is logged and the user gets a polite answer."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.types import ErrorEvent

from handlers.i18n import Translator
from handlers.telegram.files import QueuedForLater

log = logging.getLogger(__name__)


async def on_error(event: ErrorEvent, bot: Bot, translator: Translator) -> bool:
    """Log the exception; tell a private-chat user that something went wrong; swallow it."""
    update = event.update
    if isinstance(event.exception, QueuedForLater):
        return True  # the answer waits in the outbox: nothing went wrong for the user
    log.error("update %s failed", update.update_id, exc_info=event.exception)
    user = None
    chat_id = None
    if update.message:
        user, chat_id = update.message.from_user, update.message.chat.id
    elif update.callback_query:
        user = update.callback_query.from_user
        msg = update.callback_query.message
        chat_id = msg.chat.id if msg else None
    if user is None or chat_id is None or chat_id < 0:
        return True
    text = translator(translator.lang(user.language_code), "error-generic")
    try:
        if update.callback_query:
            await bot.answer_callback_query(update.callback_query.id, text[:200])
        else:
            await bot.send_message(chat_id, text)
    except Exception:  # telling the user is best effort; the error is already logged
        log.warning("could not report the error to %s", chat_id, exc_info=True)
    return True


def make_errors_router() -> Router:
    router = Router(name=__name__)
    router.errors.register(on_error)
    return router
