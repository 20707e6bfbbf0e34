"""aiogram adapter: routers included in one explicit order."""

from __future__ import annotations

from aiogram import Router

from handlers.telegram.admin import make_admin_routers
from handlers.telegram.admin_reports import make_reports_router
from handlers.telegram.admin_tools import make_tools_router
from handlers.telegram.citizen import make_citizen_router
from handlers.telegram.errors import make_errors_router
from handlers.telegram.operators import make_operators_router
from handlers.telegram.staff import make_staff_router


def setup_routers() -> Router:
    """Errors, admin (filtered), the admin refusal, OPD groups, then the citizen chat."""
    root = Router(name="aduan")
    admin, denied = make_admin_routers()
    root.include_routers(make_errors_router(), make_operators_router(), admin, denied,
                         make_reports_router(), make_tools_router(),
                         make_staff_router(), make_citizen_router())
    return root
