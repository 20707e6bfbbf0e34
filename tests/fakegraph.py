"""The fake WhatsApp Cloud API used by the tests: one implementation, in
bot/playground/graphapi.py."""

from bot.playground.graphapi import *  # noqa: F403
from bot.playground.graphapi import __all__  # noqa: F401
