"""Composition root: builds every long-lived service once and wires them together."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from aiogram import Bot, Dispatcher
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.geocoding import NoGeocoder, ReverseGeocoder
from bot.outbox import OutboxWorker, Pacer
from bot.settings import Settings
from bot.telegram import make_bot
from handlers.i18n import Translator
from handlers.intake import Intake, IntakeConfig
from handlers.lifecycle import Deps, dispatch
from handlers.telegram import setup_routers
from handlers.telegram.middlewares import DbSession, PerUserOrder, Throttle
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

    async def close(self) -> None:
        self.worker.stop()
        await self.worker.bot.session.close()
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
                default_language=settings.default_language, holidays=settings.holidays,
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
    worker = OutboxWorker(
        make_bot(settings, retry=False), sessionmaker, media, deps,
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
    return App(settings, engine, sessionmaker, translator, geocoder, intake, bot, dispatcher,
               worker)


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
    worker = asyncio.create_task(app.worker.run(), name="outbox")
    try:
        await app.dispatcher.start_polling(app.bot, allowed_updates=used)
    finally:
        app.worker.stop()
        await worker
