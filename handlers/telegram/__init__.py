"""aiogram adapter: routers included in one explicit order."""

from __future__ import annotations

from aiogram import Router

from handlers.telegram.admin import make_admin_routers
from handlers.telegram.citizen import make_citizen_router
from handlers.telegram.errors import make_errors_router


def setup_routers() -> Router:
    """Errors, then admin (filtered), the admin refusal, then the citizen conversation."""
    root = Router(name="aduan")
    admin, denied = make_admin_routers()
    root.include_routers(make_errors_router(), admin, denied, make_citizen_router())
    return root
