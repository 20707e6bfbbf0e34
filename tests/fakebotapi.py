"""The fake Telegram Bot API used by the tests: one implementation, in bot/playground/botapi.py."""

from bot.playground.botapi import *  # noqa: F403
from bot.playground.botapi import __all__  # noqa: F401
