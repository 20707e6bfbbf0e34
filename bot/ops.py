"""Operations: `/healthz`, `/metrics` (prometheus-client), structured, redacted logs, and the
hourly housekeeping (rows past their retention, in short chunks).

Metrics live in a registry of the app's own (several apps in one test process never clash).
Counters and the latency histogram are updated where things happen (inbox, outbox); depths,
the oldest due message and reports by status and light are read from the database when
`/metrics` is scraped, so every process reports the same truth.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from handlers import logctx
from models import housekeeping as hk
from models.domain import utcnow

log = logging.getLogger(__name__)

STUCK_AFTER = 600.0  # seconds a due message may wait before /healthz says the outbox is stuck


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("aduan_updates_received", "Inbound updates recorded",
                                ["channel"], registry=r)
        self.processed = Counter("aduan_updates_processed", "Inbound updates processed",
                                 ["channel", "result"], registry=r)
        self.latency = Histogram("aduan_update_seconds", "Time to handle one update",
                                 ["channel"], registry=r,
                                 buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.deliveries = Counter("aduan_deliveries", "Outbox delivery attempts by result",
                                  ["channel", "result"], registry=r)
        self.rate_limited = Counter("aduan_rate_limited", "429 answers (retry_after)",
                                    ["channel"], registry=r)
        self.inbox_depth = Gauge("aduan_inbox_depth", "Updates recorded, not processed",
                                 registry=r)
        self.outbox_depth = Gauge("aduan_outbox_depth", "Messages waiting to be sent",
                                  registry=r)
        self.outbox_oldest = Gauge("aduan_outbox_oldest_due_seconds",
                                   "Age of the oldest message due and not sent", registry=r)
        self.reports = Gauge("aduan_reports", "Reports by status and light",
                             ["status", "light"], registry=r)

    async def refresh(self, sessionmaker: async_sessionmaker[Any]) -> None:
        """Read the depths and the report counts from the database."""
        async with sessionmaker() as session:
            inbox = (await session.execute(text(
                "SELECT count(*) FROM inbox WHERE status = 'new'"))).scalar_one()
            outbox, oldest = (await session.execute(text(
                "SELECT count(*), min(next_attempt_at) FROM outbox "
                "WHERE status = 'pending'"))).one()
            rows = (await session.execute(text(
                "SELECT status, light, count(*) FROM report GROUP BY status, light"))).all()
            await session.commit()
        self.inbox_depth.set(inbox)
        self.outbox_depth.set(outbox)
        self.outbox_oldest.set(_age(oldest))
        self.reports.clear()
        for status, light, count in rows:
            self.reports.labels(status, light).set(count)


def _age(moment: Any) -> float:
    """Seconds since a due moment (0 when none, or not due yet)."""
    if moment is None:
        return 0.0
    if isinstance(moment, str):  # SQLite returns text for an aggregate over a datetime
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (utcnow() - moment).total_seconds())


def ops_routes(app: web.Application, sessionmaker: async_sessionmaker[Any], metrics: Metrics,
               loops: Callable[[], dict[str, bool]],
               reader: async_sessionmaker[Any] | None = None) -> None:
    """GET /healthz (200 or 503 with the reasons) and GET /metrics. Their counts are read
    through `reader` (SQLite's read-only engine, on aiosqlite's threads: counting a year's
    reports on the main engine would hold every citizen up for tens of ms), else the main
    sessionmaker."""
    read = reader or sessionmaker

    async def healthz(request: web.Request) -> web.Response:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(metrics.refresh(read), 5)
            checks["database"] = "ok"
        except Exception as exc:  # any failure to read is the answer itself
            checks["database"] = f"unreachable: {type(exc).__name__}"
        for name, alive in loops().items():
            checks[f"loop:{name}"] = "ok" if alive else "stopped"
        oldest = metrics.outbox_oldest._value.get()  # noqa: SLF001
        if checks["database"] == "ok":
            checks["outbox"] = "ok" if oldest < STUCK_AFTER else (
                f"stuck: oldest due message waits {oldest:.0f} s")
        healthy = all(v == "ok" for v in checks.values())
        body = {"status": "ok" if healthy else "fail", "checks": checks}
        return web.json_response(body, status=200 if healthy else 503)

    async def metrics_view(request: web.Request) -> web.Response:
        try:
            await asyncio.wait_for(metrics.refresh(read), 5)
        except Exception:
            log.warning("metrics: the database could not be read")
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)


# ---- housekeeping ----------------------------------------------------------------------------

PERSONAL_CHUNK_SQLITE = 50  # reports anonymised per transaction on SQLite (~5 statements each)


async def purge_personal_data(sessionmaker: async_sessionmaker[Any], days: int,
                              now: datetime | None = None) -> int:
    """Reporter data of reports closed or rejected more than `days` ago (real time), in short
    batches; 0 days keeps everything. Returns the reports anonymised."""
    from handlers import privacy

    if days <= 0:
        return 0
    moment = now or utcnow()
    cutoff = moment - timedelta(days=days)
    chunk = hk.chunk_size(sessionmaker, sqlite=PERSONAL_CHUNK_SQLITE, other=privacy.PURGE_BATCH)
    total = await hk.in_chunks(
        sessionmaker, lambda s, n: privacy.purge_expired(s, cutoff, moment, limit=n), chunk)
    if total:
        log.info("retention: personal data of %d finished reports purged", total)
    return total


async def housekeeping(sessionmaker: async_sessionmaker[Any], *, outbox_days: float,
                       inbox_days: float, personal_days: int) -> dict[str, int]:
    """Delivered outbox rows and processed inbox rows past their retention, idle chats' inbox
    leases and reporters' data past theirs, in short chunks (real time: what the wall clock
    says is old). Returns how many of each went."""
    chunk = hk.chunk_size(sessionmaker)
    done: dict[str, int] = {}
    cutoff = utcnow() - timedelta(days=outbox_days)
    for status in hk.OUTBOX_PURGED:
        done[f"outbox {status}"] = await hk.in_chunks(
            sessionmaker, lambda s, n, st=status: hk.purge_outbox(s, st, cutoff, n), chunk)
    cutoff = utcnow() - timedelta(days=inbox_days)
    for status in hk.INBOX_PURGED:
        done[f"inbox {status}"] = await hk.in_chunks(
            sessionmaker, lambda s, n, st=status: hk.purge_inbox(s, st, cutoff, n), chunk)
    idle = utcnow() - timedelta(days=1)
    done["chat leases"] = await hk.in_chunks(
        sessionmaker, lambda s, n: hk.purge_chat_leases(s, idle, n), chunk)
    done["personal data"] = await purge_personal_data(sessionmaker, personal_days)
    if any(done.values()):
        log.info("housekeeping: %s", ", ".join(f"{k} {v}" for k, v in done.items() if v))
    return done


# ---- logs ----------------------------------------------------------------------------------

# Secrets and personal data never reach a log line: bot tokens (also inside Bot API URLs),
# Indonesian phone numbers, 16-digit NIKs.
_REDACTIONS = (
    (re.compile(r"(?<!\d)\d{6,12}:[A-Za-z0-9_-]{30,}"), "<token>"),
    (re.compile(r"(?<![\d.])(?:\+?62[ -]?|0)8[1-9][\d \-]{6,12}\d(?![\d.])"), "<phone>"),
    (re.compile(r"(?<!\d)\d{16}(?!\d)"), "<nik>"),
    # Any number in E.164 (every country), and a NIK typed in groups ("1471 0512 3456 0001").
    (re.compile(r"(?<![\w+])\+[1-9]\d{7,14}(?!\d)"), "<phone>"),
    (re.compile(r"(?<!\d)\d{4}[ .\-]\d{4}[ .\-]\d{4}[ .\-]\d{4}(?!\d)"), "<nik>"),
)


def redact(message: str) -> str:
    for pattern, replacement in _REDACTIONS:
        message = pattern.sub(replacement, message)
    return message


class ContextFilter(logging.Filter):
    """Adds the update id and ticket being handled, and redacts the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.update_id = logctx.update_id.get()
        record.ticket = logctx.ticket.get()
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is logged as it is
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, update_id, ticket, error."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("update_id", "ticket"):
            if getattr(record, key, None):
                line[key] = getattr(record, key)
        if record.exc_info:
            line["error"] = record.exc_text or redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        about = [f"{k}={getattr(record, k)}" for k in ("update_id", "ticket")
                 if getattr(record, k, None)]
        return base + (f" [{' '.join(about)}]" if about else "")


def setup_logging(level: str, fmt: str) -> None:
    """Root logging: text or JSON lines on stderr, with context and redaction."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)


class Timer:
    """Elapsed seconds of a block, for the latency histogram."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
