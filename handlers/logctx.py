"""What a log line is about: the update being processed and the report's ticket, carried in
context variables so every line logged while handling them says so (bot/ops.py renders it)."""

from __future__ import annotations

from contextvars import ContextVar

update_id: ContextVar[str | None] = ContextVar("aduan_update_id", default=None)
ticket: ContextVar[str | None] = ContextVar("aduan_ticket", default=None)


def about_ticket(code: str | None) -> None:
    """From here on (in this task), log lines name this report's ticket."""
    if code:
        ticket.set(code)
