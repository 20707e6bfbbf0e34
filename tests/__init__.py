
# The bot runs with aiogram's type schemas built on first use (bot/lazy_types.py): so do the
# tests, before any test module imports aiogram.
from bot.lazy_types import defer as _defer_aiogram_types  # noqa: E402

_defer_aiogram_types()
