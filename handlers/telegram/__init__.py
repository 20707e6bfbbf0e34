"""aiogram adapter: routers included in one explicit order."""

from __future__ import annotations

from aiogram import Router

from handlers.telegram.admin import make_admin_routers
from handlers.telegram.citizen import make_citizen_router


def setup_routers() -> Router:
    """Admin first (filtered), then the admin refusal, then the citizen conversation."""
    root = Router(name="aduan")
    admin, denied = make_admin_routers()
    root.include_routers(admin, denied, make_citizen_router())
    return root
