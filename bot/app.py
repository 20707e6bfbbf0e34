"""Composition root: builds every long-lived service once and wires them together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import ops
from bot.broadcast import BroadcastRunner
from bot.geocoding import GeocodeQueue, NoGeocoder, ReverseGeocoder
from bot.inbox import (
    InboxProcessor,
    SharedInboxProcessor,
    TelegramPoller,
    TelegramWebhook,
)
from bot.ops import Metrics, ops_routes
from bot.outbox import OutboxWorker, Pacer
from bot.scheduler import Job, Scheduler, last_weekly, week_key
from bot.settings import Settings, operator_chat, require_webhook
from bot.telegram import DirectReplies, make_bot, outbox_item
from handlers import broadcast as broadcast_core
from handlers import lifecycle, oversight, verification
from handlers.downloads import Downloads
from handlers.i18n import Translator
from handlers.intake import Intake, IntakeConfig
from handlers.lifecycle import Deps
from handlers.telegram import setup_routers
from handlers.telegram.admin import register_admin_menus
from handlers.telegram.menu import CITIZEN_COMMANDS
from handlers.telegram.middlewares import DbSession, Throttle
from handlers.whatsapp import WhatsAppConversation
from models.catalog import Catalog
from models.citizens import CitizenCache
from models.db import make_engine, make_reader, make_sessionmaker, migrate
from models.domain import Clock, SystemClock
from models.geo import AreaIndex, load_area_text
from models.lean import LeanWriter
from models.media import MediaRejected, MediaStore
from models.pii import convert_plaintext
from models.tables import Report

if TYPE_CHECKING:  # pywa is imported only when WhatsApp is on (it costs ~10 MB resident)
    from bot.whatsapp import WhatsAppClient, WhatsAppInbound

log = logging.getLogger(__name__)

COMMANDS = CITIZEN_COMMANDS


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker  # type: ignore[type-arg]
    translator: Translator
    geocoder: ReverseGeocoder | NoGeocoder
    intake: Intake
    bot: Bot
    dispatcher: Dispatcher
    worker: OutboxWorker
    whatsapp: WhatsAppClient | None = None
    inbound: WhatsAppInbound | None = None
    web: web.Application | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    runner: web.AppRunner | None = None
    web_port: int = 0
    geocoding: GeocodeQueue | None = None
    poller: TelegramPoller | None = None
    polling: asyncio.Task[None] | None = None
    scheduler: Scheduler | None = None
    deps: Deps | None = None
    metrics: Metrics = field(default_factory=Metrics)
    webhook: TelegramWebhook | None = None  # webhook mode (TELEGRAM_MODE=webhook)
    reader_engine: AsyncEngine | None = None  # SQLite's engine for long reads
    redis: Any = None  # REDIS_URL's client: pacing and flood control shared by workers

    def loops(self) -> dict[str, bool]:
        """Whether each background loop this process started is still running."""
        alive = {task.get_name(): not task.done() for task in self.tasks}
        if self.polling is not None:
            alive["polling"] = not self.polling.done()
        return alive
    broadcasts: BroadcastRunner | None = None

    def make_poller(self, timeout: int = 25) -> TelegramPoller:
        """Long polling through the inbox (bot/inbox.py)."""
        processor = InboxProcessor(self.dispatcher, self.bot, self.sessionmaker, self.metrics)
        processor.on_queued = self.worker.wake
        used = self.dispatcher.resolve_used_update_types()
        return TelegramPoller(self.bot, self.sessionmaker, processor, used, timeout)

    def start_polling(self, poll_timeout: int = 25) -> None:
        """Poll in the background (tests, and `run_polling` below)."""
        self.poller = self.make_poller(poll_timeout)
        self.polling = asyncio.create_task(self.poller.run(), name="polling")

    async def stop_polling(self) -> None:
        if self.poller is not None and self.polling is not None:
            self.poller.stop()
            await asyncio.wait_for(self.polling, 30)
        self.poller, self.polling = None, None

    async def start_background(self, worker: bool = True, scheduler: bool = True) -> None:
        """The outbox worker, the geocoding queue, and with WhatsApp on: its inbound
        processor and webhook server."""
        if worker:
            self.tasks.append(asyncio.create_task(self.worker.run(), name="outbox"))
            if self.broadcasts is not None:  # resumes a broadcast a restart interrupted
                self.tasks.append(asyncio.create_task(self.broadcasts.run(), name="broadcast"))
        if scheduler and self.scheduler is not None:
            self.tasks.append(asyncio.create_task(self.scheduler.run(), name="scheduler"))
        if self.webhook is not None and isinstance(self.webhook.processor,
                                                   SharedInboxProcessor):
            self.tasks.append(asyncio.create_task(self.webhook.processor.run_sweeper(),
                                                  name="inbox-sweeper"))
        if self.geocoding is not None:
            self.tasks.append(asyncio.create_task(self.geocoding.run(), name="geocoding"))
        if self.inbound is not None:
            self.tasks.append(asyncio.create_task(self.inbound.run(), name="wa-inbound"))
        if self.web is not None:
            self.runner = web.AppRunner(self.web, handle_signals=False)
            await self.runner.setup()
            site = web.TCPSite(self.runner, self.settings.web_host, self.settings.web_port)
            await site.start()
            sockets = getattr(site._server, "sockets", None) or []  # noqa: SLF001
            self.web_port = sockets[0].getsockname()[1] if sockets else self.settings.web_port
            log.info("health and metrics on %s:%s/healthz and /metrics", self.settings.web_host,
                     self.web_port)
            if self.inbound is not None:
                log.info("WhatsApp webhook on %s:%s%s", self.settings.web_host, self.web_port,
                         self.settings.whatsapp_webhook_path)

    async def stop_background(self) -> None:
        self.worker.stop()
        if self.webhook is not None and isinstance(self.webhook.processor,
                                                   SharedInboxProcessor):
            self.webhook.processor.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.broadcasts is not None:
            self.broadcasts.stop()
        if self.geocoding is not None:
            self.geocoding.stop()
        if self.intake.downloads is not None:
            await self.intake.downloads.close()
        if self.inbound is not None:
            self.inbound.stop()
        for task in self.tasks:
            await asyncio.wait_for(task, 15)
        self.tasks.clear()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def close(self) -> None:
        await self.stop_polling()
        await self.stop_background()
        await self.worker.bot.session.close()
        if self.whatsapp is not None:
            await self.whatsapp.close()
        await self.geocoder.close()
        await self.bot.session.close()
        if self.redis is not None:
            await self.redis.aclose()
        if self.intake.lean is not None:
            self.intake.lean.close()
        await self.engine.dispose()
        if self.reader_engine is not None:
            await self.reader_engine.dispose()


async def build_app(settings: Settings, clock: Clock | None = None) -> App:
    """Everything `aduan run` needs; the schema is migrated first."""
    engine = make_engine(settings.database_url)
    await migrate(engine)
    sessionmaker = make_sessionmaker(engine)
    vault = settings.vault()  # PII_KEYS, or the generated key file
    # Phones stored in plain text before encryption: converted here, not in the migration
    # (which has no key); idempotent, a no-op once done.
    await convert_plaintext(sessionmaker, vault, settings.phone_region)
    reader_engine = make_reader(settings.database_url)
    translator = Translator(default=settings.default_language)
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    geocoder: ReverseGeocoder | NoGeocoder
    if settings.geocoder == "none":
        geocoder = NoGeocoder()
    else:
        geocoder = ReverseGeocoder(
            domain=settings.geocoder_domain, scheme=settings.geocoder_scheme,
            timeout=settings.geocoder_timeout, user_agent=settings.geocoder_user_agent,
        )
    media = MediaStore(settings.media_dir)
    catalog = Catalog()
    citizens = CitizenCache()
    deps = Deps(translator=translator, tz=settings.tz, admin_ids=settings.admin_ids,
                default_language=settings.default_language,
                ticket_prefix=settings.ticket_prefix, catalog=catalog,
                calendar=settings.calendar(), yellow_share=settings.light_yellow_share,
                auto_close_days=settings.auto_close_days, admin_chat_id=settings.admin_chat_id,
                clock=clock or SystemClock(),
                reader=make_sessionmaker(reader_engine) if reader_engine else sessionmaker,
                pii=vault,
                verify_reports=settings.verify_reports, operator_chat_id=operator_chat(settings),
                verify_deadline=settings.verify_deadline,
                max_reports_per_day=settings.max_reports_per_day)

    async def on_submitted(session: AsyncSession, report: Report) -> bool:
        # Scored; dispatched (or, with VERIFY_REPORTS, held for the operators). The citizen's
        # ticket message says where it went: no separate notice.
        # Scored by the intake before it was written (`screen` below).
        return await verification.on_submitted(session, deps, report, scored=True)

    intake = Intake(
        translator,
        media,
        geocoder,
        IntakeConfig(
            tz=settings.tz, holidays=settings.holidays, max_media=settings.max_media,
            calendar=deps.calendar, clock=deps.clock, yellow_share=settings.light_yellow_share,
            draft_ttl=timedelta(hours=settings.draft_ttl_hours),
            ticket_prefix=settings.ticket_prefix, service_area=settings.service_area,
            phone_region=settings.phone_region, identity_modes=settings.identity_modes,
            require_phone=settings.require_phone, require_nik=settings.require_nik,
            vault=vault,
            duplicate_radius_m=settings.duplicate_radius_m,
        ),
        on_submitted=on_submitted,
        catalog=catalog,
        areas=area_index(settings),
    )

    async def on_address(session: AsyncSession, report: Report) -> None:
        await lifecycle.refresh_card(session, deps, report)

    intake.on_address = on_address

    async def on_erased(session: AsyncSession, report_ids: list[int]) -> None:
        reports = await session.exec(select(Report).where(col(Report.id).in_(report_ids)))
        for report in reports.all():
            if report.card_message_id is not None:
                await lifecycle.refresh_card(session, deps, report)

    intake.on_erased = on_erased
    intake.lean = LeanWriter.for_engine(engine)

    filed_here = verification.FiledHere()

    async def admit(session: AsyncSession, citizen: Any, t: Any) -> str | None:
        # When a draft starts: nothing is filed, so no lock on the citizen's row (Send
        # checks again under the lock, in `screen`), and no count for a citizen first seen
        # today who has not reached Send here.
        if filed_here.surely_none_today(deps, citizen):
            return None
        return await verification.admit(session, deps, citizen, t, lock=False)

    async def screen(session: AsyncSession, citizen: Any, t: Any) -> verification.Screening:
        screening = await verification.screen(session, deps, citizen, t)
        if citizen.id is not None:
            filed_here.add(citizen.id)
        return screening

    intake.admit = admit
    intake.screen = screen

    # Photos and files are answered at once and downloaded after (handlers/downloads.py).
    downloads = Downloads(intake.download)

    async def media_failed(channel: str, user: str, ref: str, rejected: MediaRejected) -> None:
        async with sessionmaker() as session:
            if await intake.drop_file(session, channel, user, ref, rejected):
                worker.wake()

    downloads.on_failed = media_failed
    intake.downloads = downloads

    geocoding: GeocodeQueue | None = None
    if settings.geocoder != "none":

        async def apply_address(channel: str, user: str, nonce: str, lat: float, lon: float,
                                address: str) -> None:
            async with sessionmaker() as session:
                if await intake.apply_address(session, channel, user, nonce, lat, lon,
                                              address) is not None:
                    worker.wake()

        geocoding = GeocodeQueue(geocoder, apply_address, min_delay=settings.geocoder_min_delay)
        intake.geocode_later = geocoding.submit
    redis = None
    pacer: Any
    flood_store = None
    if settings.redis_url:
        from bot import shared_limits

        redis = await shared_limits.connect(settings.redis_url)
        pacer = shared_limits.RedisPacer(redis, settings.outbox_chat_interval,
                                         settings.outbox_group_per_minute,
                                         settings.outbox_global_per_second,
                                         prefix=settings.redis_prefix)
        flood_store = shared_limits.RedisBuckets(redis, prefix=settings.redis_prefix)
    else:
        pacer = Pacer(settings.outbox_chat_interval, settings.outbox_group_per_minute,
                      settings.outbox_global_per_second)
    bot = make_bot(settings)
    whatsapp: WhatsAppClient | None = None
    if settings.whatsapp_enabled:
        from bot.whatsapp import WhatsAppClient

        whatsapp = WhatsAppClient(settings)
    wa_names = ("WHATSAPP_TOKEN", "WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_APP_SECRET",
                "WHATSAPP_VERIFY_TOKEN")
    wa_values = (settings.whatsapp_token, settings.whatsapp_phone_number_id,
                 settings.whatsapp_app_secret, settings.whatsapp_verify_token)
    if any(wa_values) and whatsapp is None:
        missing = ", ".join(n for n, v in zip(wa_names, wa_values, strict=True) if not v)
        log.warning("WhatsApp is off: set %s too", missing)
    worker = OutboxWorker(
        make_bot(settings), sessionmaker, media, deps, whatsapp=whatsapp, pacer=pacer,
        max_attempts=settings.outbox_max_attempts, backoff_base=settings.outbox_backoff_base,
    )

    worker.on_blocked = citizens.forget
    # A worker that died mid-send leaves its row leased: retried once no send can still be
    # under way (twice the request timeout), not after a fixed two minutes.
    worker.lease = timedelta(seconds=max(10.0, 2 * settings.telegram_request_timeout))

    async def queue_direct(chat: str, method: TelegramMethod[Any]) -> bool:
        """A direct answer that could not go now, into the outbox (delivered later)."""
        item = outbox_item(chat, method)
        async with sessionmaker() as session:
            lifecycle.enqueue(session, chat, "text", item["payload"], item.get("report_id"))
            await session.commit()
        worker.wake()
        return True

    bot.session.middleware(DirectReplies(pacer, queue_direct))
    # Broadcasts: queued by the runner, sent by the worker, both under one gate.
    gate = broadcast_core.Gate()
    worker.broadcast_gate = gate
    broadcasts = BroadcastRunner(worker.bot, sessionmaker, deps, gate, worker.channels,
                                 worker.wake)
    dispatcher = Dispatcher(
        disable_fsm=True,  # conversation state lives in the database (drafts)
        intake=intake, translator=translator, settings=settings, deps=deps,
        admin_ids=settings.admin_ids, sessionmaker=sessionmaker, media_store=media,
        citizens=citizens, catalog=catalog, broadcasts=broadcasts,
    )
    # Flood control drops without queueing (Telegram here, WhatsApp in its conversation),
    # then the per-update DB session. Ordering per chat is the inbox processor's.
    throttle = Throttle(translator, settings.rate_limit_burst, settings.rate_limit_per_second,
                        flood_store)
    dispatcher.update.outer_middleware(throttle)
    dispatcher.update.outer_middleware(DbSession(sessionmaker, translator, citizens,
                                                 worker.wake))
    dispatcher.include_router(setup_routers())
    app = App(settings, engine, sessionmaker, translator, geocoder, intake, bot, dispatcher,
              worker, whatsapp, geocoding=geocoding, deps=deps, reader_engine=reader_engine,
              broadcasts=broadcasts)
    worker.metrics = app.metrics
    app.redis = redis
    app.web = web.Application(client_max_size=4 * 1024 * 1024)
    ops_routes(app.web, sessionmaker, app.metrics, app.loops, reader=deps.reader)
    if settings.telegram_mode == "webhook":
        _, secret = require_webhook(settings)
        # On PostgreSQL several webhook workers may share the database: chats are leased.
        processor = (SharedInboxProcessor(dispatcher, bot, sessionmaker, app.metrics)
                     if settings.database_url.startswith("postgresql")
                     else InboxProcessor(dispatcher, bot, sessionmaker, app.metrics))
        processor.on_queued = worker.wake
        app.webhook = TelegramWebhook(bot, sessionmaker, processor, secret)
        app.web.router.add_post(settings.webhook_path, app.webhook.handle)
    app.scheduler = make_scheduler(settings, sessionmaker, deps, worker)
    if whatsapp is not None:
        from bot.whatsapp import WhatsAppInbound, webhook_app

        conversation = WhatsAppConversation(intake, deps, throttle)
        app.inbound = WhatsAppInbound(sessionmaker, conversation, whatsapp, worker.wake,
                                      shared=settings.database_url.startswith("postgresql"))
        webhook_app(settings, sessionmaker, app.inbound, worker.wake, app=app.web)
    return app


def make_scheduler(settings: Settings, sessionmaker: async_sessionmaker[Any], deps: Deps,
                   worker: OutboxWorker) -> Scheduler:
    """The oversight tick (lights, reminders, escalation, auto-close, expired drafts) and the
    weekly digest, on the deps' clock."""
    draft_ttl = timedelta(hours=settings.draft_ttl_hours)
    digest_at = time.fromisoformat(settings.digest_time)

    async def run_tick(now: datetime) -> None:
        result = await oversight.tick(sessionmaker, deps, now, draft_ttl)
        if result.red or result.yellow or result.closed:
            worker.wake()

    def digest_period(now: datetime) -> str:
        return week_key(last_weekly(now, settings.tz, settings.digest_weekday, digest_at))

    async def queue_digest(session: AsyncSession, now: datetime, key: str) -> None:
        week_end = last_weekly(now, settings.tz, settings.digest_weekday, digest_at)
        targets = [deps.admin_chat_id] if deps.admin_chat_id else sorted(deps.admin_ids)
        for chat in targets:
            for part in ("text", "chart"):
                lifecycle.enqueue(session, chat, "digest",
                                  {"part": part, "week_end": week_end.isoformat(), "week": key})
        worker.wake()

    async def housekeeping(now: datetime) -> None:
        """Rows past their retention, in short chunks (bot/ops.py)."""
        await ops.housekeeping(sessionmaker, outbox_days=settings.outbox_retention_days,
                               inbox_days=settings.inbox_retention_days,
                               personal_days=settings.personal_data_retention_days)

    jobs = [Job("oversight", every=timedelta(seconds=settings.scheduler_interval), run=run_tick),
            Job("weekly_digest", period=digest_period, run_in=queue_digest),
            Job("housekeeping", every=timedelta(hours=1), run=housekeeping)]
    return Scheduler(sessionmaker, deps.clock, jobs,
                     poll=min(settings.scheduler_interval, 30.0))


async def register_commands(app: App) -> None:
    """The bot's command menu in Indonesian and English (and the default language); the
    admins' menu in their own chats."""
    scope = BotCommandScopeAllPrivateChats()
    for lang in ("id", "en", None):
        code = lang or app.settings.default_language
        commands = [BotCommand(command=c, description=app.translator(code, f"cmd-{c}"))
                    for c in COMMANDS]
        await app.bot.set_my_commands(commands, scope=scope, language_code=lang)
    # Each admin's own chat: the citizen's commands and the admin ones (a grant sets it too).
    async with app.sessionmaker() as session:
        await register_admin_menus(app.bot, app.translator, app.dispatcher["deps"], session)


async def start_webhook(app: App) -> None:
    """Register the webhook with Telegram (its secret and the update types the handlers use)
    and process what was recorded but not processed before the last stop."""
    assert app.webhook is not None
    url, secret = require_webhook(app.settings)
    await app.bot.set_webhook(url, secret_token=secret,
                              allowed_updates=app.dispatcher.resolve_used_update_types(),
                              drop_pending_updates=False)
    await app.webhook.processor.recover()


async def run_webhook(app: App) -> None:
    """Webhook mode until stopped (SIGINT/SIGTERM): the web server receives the updates.
    The webhook stays registered when the bot stops, so Telegram keeps updates meanwhile."""
    await register_commands(app)
    me = await app.bot.get_me()
    await app.start_background()
    await start_webhook(app)
    log.info("Aduan is running as @%s (webhook at %s)", me.username, app.settings.webhook_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        assert app.webhook is not None
        await app.stop_background()  # no new updates are accepted
        await app.webhook.processor.drain()


async def run_polling(app: App) -> None:
    """Long polling through the inbox until stopped (SIGINT/SIGTERM)."""
    await register_commands(app)
    me = await app.bot.get_me()
    log.info("Aduan is running as @%s", me.username)
    await app.start_background()
    poller = app.make_poller()
    app.poller = poller
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, poller.stop)
    try:
        await poller.run()
    finally:
        app.poller = None
        await app.stop_background()


def area_index(settings: Settings) -> AreaIndex:
    """The OPDs' areas and the service polygons (SERVICE_AREA as a GeoJSON file, checked
    when the settings were read, or a seed's service_area)."""
    fixed = None
    if settings.service_area_file is not None:
        fixed = load_area_text(settings.service_area_file.read_text(encoding="utf-8"))
    return AreaIndex(service=fixed)
