"""Composition root: builds every long-lived service once and wires them together."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from aiogram import Bot, Dispatcher
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.geocoding import NoGeocoder, ReverseGeocoder
from bot.outbox import OutboxWorker, Pacer
from bot.settings import Settings
from bot.telegram import make_bot
from bot.whatsapp import WhatsAppClient, WhatsAppInbound, webhook_app
from handlers.i18n import Translator
from handlers.intake import Intake, IntakeConfig
from handlers.lifecycle import Deps, dispatch
from handlers.telegram import setup_routers
from handlers.telegram.middlewares import DbSession, PerUserOrder, Throttle
from handlers.whatsapp import WhatsAppConversation
from models import repo
from models.db import make_engine, make_sessionmaker, migrate
from models.domain import utcnow
from models.media import MediaStore
from models.tables import Report

log = logging.getLogger(__name__)

COMMANDS = ("start", "lapor", "status", "laporanku", "batal", "bahasa", "help")


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

    async def start_background(self, worker: bool = True) -> None:
        """The outbox worker, and with WhatsApp on: its inbound processor and webhook server."""
        if worker:
            self.tasks.append(asyncio.create_task(self.worker.run(), name="outbox"))
        if self.inbound is not None:
            self.tasks.append(asyncio.create_task(self.inbound.run(), name="wa-inbound"))
        if self.web is not None:
            self.runner = web.AppRunner(self.web, handle_signals=False)
            await self.runner.setup()
            site = web.TCPSite(self.runner, self.settings.web_host, self.settings.web_port)
            await site.start()
            sockets = getattr(site._server, "sockets", None) or []  # noqa: SLF001
            self.web_port = sockets[0].getsockname()[1] if sockets else self.settings.web_port
            log.info("WhatsApp webhook on %s:%s%s", self.settings.web_host, self.web_port,
                     self.settings.whatsapp_webhook_path)

    async def stop_background(self) -> None:
        self.worker.stop()
        if self.inbound is not None:
            self.inbound.stop()
        for task in self.tasks:
            await asyncio.wait_for(task, 15)
        self.tasks.clear()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def close(self) -> None:
        await self.stop_background()
        await self.worker.bot.session.close()
        if self.whatsapp is not None:
            await self.whatsapp.close()
        await self.geocoder.close()
        await self.bot.session.close()
        await self.engine.dispose()


async def build_app(settings: Settings) -> App:
    """Everything `aduan run` needs; the schema is migrated first."""
    engine = make_engine(settings.database_url)
    await migrate(engine)
    sessionmaker = make_sessionmaker(engine)
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
    deps = Deps(translator=translator, tz=settings.tz, admin_ids=settings.admin_ids,
                default_language=settings.default_language,
                ticket_prefix=settings.ticket_prefix)

    async def on_submitted(session: AsyncSession, report: Report) -> None:
        await dispatch(session, deps, report)

    intake = Intake(
        translator,
        media,
        geocoder,
        IntakeConfig(
            tz=settings.tz, holidays=settings.holidays, max_media=settings.max_media,
            draft_ttl=timedelta(hours=settings.draft_ttl_hours),
            ticket_prefix=settings.ticket_prefix, service_area=settings.service_area,
        ),
        on_submitted=on_submitted,
    )
    bot = make_bot(settings)
    whatsapp = WhatsAppClient(settings) if settings.whatsapp_enabled else None
    wa_names = ("WHATSAPP_TOKEN", "WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_APP_SECRET",
                "WHATSAPP_VERIFY_TOKEN")
    wa_values = (settings.whatsapp_token, settings.whatsapp_phone_number_id,
                 settings.whatsapp_app_secret, settings.whatsapp_verify_token)
    if any(wa_values) and whatsapp is None:
        missing = ", ".join(n for n, v in zip(wa_names, wa_values, strict=True) if not v)
        log.warning("WhatsApp is off: set %s too", missing)
    worker = OutboxWorker(
        make_bot(settings, retry=False), sessionmaker, media, deps, whatsapp=whatsapp,
        pacer=Pacer(settings.outbox_chat_interval, settings.outbox_group_per_minute,
                    settings.outbox_global_per_second),
        max_attempts=settings.outbox_max_attempts, backoff_base=settings.outbox_backoff_base,
    )
    dispatcher = Dispatcher(
        intake=intake, translator=translator, settings=settings, deps=deps,
        admin_ids=settings.admin_ids, sessionmaker=sessionmaker, media_store=media,
    )
    # Order matters: flood control drops without queueing (it never suspends an update it
    # lets through), then the per-user ordering lock, then the DB session.
    dispatcher.update.outer_middleware(
        Throttle(translator, settings.rate_limit_burst, settings.rate_limit_per_second)
    )
    dispatcher.update.outer_middleware(PerUserOrder())
    dispatcher.update.outer_middleware(DbSession(sessionmaker, translator, worker.wake))
    dispatcher.include_router(setup_routers())
    app = App(settings, engine, sessionmaker, translator, geocoder, intake, bot, dispatcher,
              worker, whatsapp)
    if whatsapp is not None:
        conversation = WhatsAppConversation(intake, deps)
        app.inbound = WhatsAppInbound(sessionmaker, conversation, whatsapp, worker.wake)
        app.web = webhook_app(settings, sessionmaker, app.inbound, worker.wake)
    return app


async def register_commands(app: App) -> None:
    """The bot's command menu in Indonesian and English (and the default language)."""
    scope = BotCommandScopeAllPrivateChats()
    for lang in ("id", "en", None):
        code = lang or app.settings.default_language
        commands = [BotCommand(command=c, description=app.translator(code, f"cmd-{c}"))
                    for c in COMMANDS]
        await app.bot.set_my_commands(commands, scope=scope, language_code=lang)


async def purge_stale_drafts(app: App) -> None:
    cutoff = utcnow() - timedelta(hours=app.settings.draft_ttl_hours)
    async with app.sessionmaker() as session:
        removed = await repo.purge_drafts(session, cutoff)
        await session.commit()
    if removed:
        log.info("removed %d expired drafts", removed)


async def run_polling(app: App) -> None:
    """Long polling until stopped (SIGINT/SIGTERM)."""
    await purge_stale_drafts(app)
    await register_commands(app)
    me = await app.bot.get_me()
    log.info("Aduan is running as @%s", me.username)
    used = app.dispatcher.resolve_used_update_types()
    await app.start_background()
    try:
        await app.dispatcher.start_polling(app.bot, allowed_updates=used)
    finally:
        await app.stop_background()
