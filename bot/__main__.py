"""`aduan run | playground | migrate | seed FILE` (also `python -m bot`)."""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from bot.settings import (
    Settings,
    SettingsError,
    load_settings,
    operator_chat,
    require_token,
    require_webhook,
)
from models.db import AlreadyRunning


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aduan", description="Aduan complaint bot")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="migrate the database, then run the bot (long polling, "
                         "or a webhook with --webhook / TELEGRAM_MODE=webhook)")
    run.add_argument("--webhook", action="store_true",
                     help="receive Telegram updates by webhook (WEBHOOK_URL, WEBHOOK_SECRET)")
    play = sub.add_parser("playground", help="the real bot in your browser, no Telegram token "
                          "needed (also `run` without BOT_TOKEN)")
    play.add_argument("--port", type=int, default=None,
                      help="port of the page (default PLAYGROUND_PORT, 8765; 0 = a free one)")
    play.add_argument("--no-browser", action="store_true", help="do not open a browser")
    sub.add_parser("migrate", help="bring the database schema up to date")
    sub.add_parser("rotate-keys", help="re-encrypt every phone and NIK with the first key of "
                   "PII_KEYS and recompute their lookup hashes (after adding a new key)")
    seed = sub.add_parser("seed", help="load OPDs and categories from a TOML file")
    seed.add_argument("file", type=Path)
    return parser


class DatabaseUnreachable(Exception):
    """The database server could not be reached (refused, unknown host, timeout)."""


async def _connectable(settings: Settings) -> None:
    """Fail early, with one line naming DATABASE_URL, when the database cannot be reached."""
    from models.db import make_engine

    if not settings.database_url.startswith("postgresql"):
        return
    engine = make_engine(settings.database_url)
    try:
        async with asyncio.timeout(15):
            async with engine.connect():
                pass
    except (OSError, TimeoutError) as exc:  # refused, unresolvable host, unreachable
        raise DatabaseUnreachable(str(exc) or type(exc).__name__) from None
    finally:
        await engine.dispose()


async def _migrate(settings: Settings) -> None:
    from models.db import make_engine, migrate

    await _connectable(settings)
    engine = make_engine(settings.database_url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


async def _rotate_keys(settings: Settings) -> int:
    from models.db import make_engine, make_sessionmaker, migrate
    from models.pii import convert_plaintext, rotate_all

    await _connectable(settings)
    engine = make_engine(settings.database_url)
    try:
        await migrate(engine)
        vault = settings.vault()
        sessionmaker = make_sessionmaker(engine)
        await convert_plaintext(sessionmaker, vault, settings.phone_region)
        return await rotate_all(sessionmaker, vault)
    finally:
        await engine.dispose()


async def _seed(settings: Settings, path: Path) -> tuple[int, int]:
    from models.db import make_engine, make_sessionmaker, migrate
    from models.seed import load_seed

    await _connectable(settings)
    engine = make_engine(settings.database_url)
    try:
        await migrate(engine)
        async with make_sessionmaker(engine)() as session:
            return await load_seed(session, path)
    finally:
        await engine.dispose()


def _writable(folder: Path) -> None:
    """MEDIA_DIR must be a folder the bot can write, or start-up stops with one line."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Unique per process: workers starting together must not remove each other's probe.
        probe = folder / f".aduan-write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise SettingsError(
            f"MEDIA_DIR {folder} is not a writable folder ({exc.strerror or exc}): set MEDIA_DIR "
            "to a folder the bot may write.") from None


def _fewer_malloc_arenas() -> None:
    """glibc gives every thread that allocates (aiosqlite's connection threads, the
    executor's) a malloc arena of its own, and freed memory stays in each: capping them
    keeps the resident size down at no measurable cost. No-op off glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


TRIM_EVERY_S = 10.0


async def _trim_memory(every: float = TRIM_EVERY_S) -> None:
    """Now and then, hand the heap glibc keeps after a burst (freed, not returned) back to the
    system: about 13 MB after 300 people at once. A few milliseconds each time, in a thread
    (ctypes lets go of the GIL), so the event loop does not stall; no-op off glibc."""
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return
    while True:
        await asyncio.sleep(every)
        await asyncio.to_thread(trim, 0)


async def _run(settings: Settings) -> None:
    from bot.app import build_app, run_polling, run_webhook

    _writable(settings.media_dir)
    await _connectable(settings)
    from models.db import hold_sqlite

    lock = hold_sqlite(settings.database_url)  # noqa: F841 - held while the bot runs
    app = await build_app(settings)
    # What start-up built (aiogram's ~160 MB of types and schemas, the app) lives as long as
    # the process: out of the collector's way, so its full collections stay short.
    gc.collect()
    gc.freeze()
    # Each update makes thousands of short-lived objects (pydantic models, SQL statements):
    # collect the young generation less often than every 700 allocations.
    gc.set_threshold(20_000, 20, 20)
    trimmer = asyncio.create_task(_trim_memory(), name="malloc-trim")
    try:
        if settings.telegram_mode == "webhook":
            await run_webhook(app)
        else:
            await run_polling(app)
    finally:
        trimmer.cancel()
        await app.close()


def _serve(main: Coroutine[Any, Any, Any]) -> None:
    """Run the bot's main coroutine on uvloop (aiogram's `fast` extra; its event loop and
    transports are cheaper per update than asyncio's), or on asyncio without it."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("run", "playground"):
        from bot import lazy_types

        lazy_types.defer()  # before anything imports aiogram: ~95 MB less resident
    try:
        overrides = {"TELEGRAM_MODE": "webhook"} if getattr(args, "webhook", False) else {}
        settings = load_settings(**overrides)
        from bot.ops import setup_logging

        setup_logging(settings.log_level, settings.log_format)
        if args.command == "migrate":
            asyncio.run(_migrate(settings))
            print("Database is up to date.")
        elif args.command == "rotate-keys":
            rows = asyncio.run(_rotate_keys(settings))
            print(f"Re-encrypted the personal data of {rows} rows with the first key of "
                  "PII_KEYS; older keys may now be removed.")
        elif args.command == "seed":
            from models.seed import SeedError

            try:
                opds, cats = asyncio.run(_seed(settings, args.file))
            except SeedError as exc:
                print(f"aduan: {exc}", file=sys.stderr)
                return 2
            print(f"Loaded {opds} OPDs and {cats} categories from {args.file}.")
        elif args.command == "playground" or (
                not (settings.bot_token and settings.bot_token.get_secret_value().strip())
                and settings.telegram_mode != "webhook"):
            if args.command == "run":
                print("aduan: BOT_TOKEN is not set: starting the playground instead (the bot "
                      "in your browser, no Telegram needed).", file=sys.stderr, flush=True)
            from bot.playground.server import run_playground

            port = getattr(args, "port", None)
            browser = False if getattr(args, "no_browser", False) else None
            asyncio.run(run_playground(settings, port, browser))
        else:
            require_token(settings)
            operator_chat(settings)
            if settings.telegram_mode == "webhook":
                require_webhook(settings)
            _fewer_malloc_arenas()
            from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError

            try:
                _serve(_run(settings))
            except TelegramUnauthorizedError:
                print("aduan: Telegram rejected BOT_TOKEN: check BOT_TOKEN.", file=sys.stderr)
                return 2
            except TelegramNetworkError as exc:
                print(f"aduan: cannot reach Telegram at TELEGRAM_API_URL ({exc}): check the "
                      "network or TELEGRAM_API_URL.", file=sys.stderr)
                return 2
    except SettingsError as exc:
        print(f"aduan: {exc}", file=sys.stderr)
        return 2
    except (OperationalError, DBAPIError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"aduan: cannot use DATABASE_URL ({first}): check DATABASE_URL.", file=sys.stderr)
        return 2
    except AlreadyRunning as exc:
        print(f"aduan: another aduan process is already running on the SQLite database {exc}: "
              "SQLite serves one process; stop the other one, or set DATABASE_URL to "
              "PostgreSQL to run several.", file=sys.stderr)
        return 2
    except DatabaseUnreachable as exc:
        print(f"aduan: cannot reach the database of DATABASE_URL ({exc}): check DATABASE_URL "
              "(host, port, and that the server is running).", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"aduan: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
