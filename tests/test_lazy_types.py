"""aiogram's types built on first use (bot/lazy_types.py) and the kept Response classes."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

from aiogram import Bot
from aiogram.methods import SendMessage
from aiogram.methods.base import Response
from aiogram.types import Message

from bot.telegram import _KEPT, KeepingSession

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
from bot import lazy_types
first = lazy_types.defer()
again = lazy_types.defer()
from aiogram.types import Message, Update, ChatFullInfo
deferred = [not Message.__pydantic_complete__, not ChatFullInfo.__pydantic_complete__]
update = Update.model_validate({"update_id": 7, "callback_query": {
    "id": "q", "chat_instance": "c", "data": "in:new:",
    "from": {"id": 5, "is_bot": False, "first_name": "Budi"},
    "message": {"message_id": 3, "date": 1700000000, "chat": {"id": 5, "type": "private"},
                "text": "menu", "reply_markup": {"inline_keyboard": [[
                    {"text": "Lapor", "callback_data": "in:new:"}]]}}}})
failed = lazy_types.build_all()
print(json.dumps({"first": first, "again": again, "deferred": deferred, "failed": failed,
                  "data": update.callback_query.data,
                  "chat": update.callback_query.message.chat.id}))
"""


def test_types_are_built_on_first_use_and_every_one_can_be() -> None:
    """In a fresh interpreter: nothing is built at import; an update parses; then every one of
    aiogram's types builds against the namespace left for it (none would fail on first use)."""
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"first": True, "again": False, "deferred": [True, True], "failed": [],
                      "data": "in:new:", "chat": 5}


def test_the_session_keeps_each_response_class_it_used() -> None:
    bot = Bot("123:abc", session=KeepingSession())
    content = json.dumps({"ok": True, "result": {
        "message_id": 1, "date": 1700000000, "chat": {"id": 9, "type": "private"},
        "text": "hi"}})
    answer = bot.session.check_response(bot, SendMessage(chat_id=9, text="hi"), 200, content)
    assert isinstance(answer.result, Message) and answer.result.chat.id == 9
    kept = _KEPT[Message]
    gc.collect()
    assert Response[Message] is kept  # not collected and rebuilt
