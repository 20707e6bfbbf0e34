"""Telegram webhook mode: Telegram POSTs updates to the bot's own web server; each is checked
against the secret, recorded in the inbox, answered 200 at once and processed exactly as in
polling mode (one effect per update id, in order per chat)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.app import App, build_app, start_webhook
from bot.inbox import SECRET_HEADER
from models.tables import Inbox
from tests import test_load as load
from tests.conftest import SEED, FakeGeocoder, make_settings
from tests.fakebotapi import FakeBotAPI

SECRET = "s3cret-Token_42"
URL = "https://aduan.example.go.id/telegram/webhook"
_ids = itertools.count(5_000_000)


@pytest.fixture
async def hooked(db_url: str, fake_tg: FakeBotAPI, geocoder: FakeGeocoder, tmp_path: Path
                 ) -> AsyncIterator[App]:
    from models.seed import load_seed

    settings = make_settings(db_url, fake_tg, tmp_path / "media", geocoder.port,
                             TELEGRAM_MODE="webhook", WEBHOOK_URL=URL, WEBHOOK_SECRET=SECRET)
    app = await build_app(settings)
    async with app.sessionmaker() as session:
        await load_seed(session, SEED)
    await app.start_background(scheduler=False)
    await start_webhook(app)
    yield app
    await app.close()


async def post(app: App, update: dict[str, Any], secret: str | None = SECRET) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    if "update_id" not in update:
        update = {"update_id": next(_ids), **update}
    async with aiohttp.ClientSession() as http, http.post(
            f"http://127.0.0.1:{app.web_port}{app.settings.webhook_path}", json=update,
            headers=headers) as resp:
        return resp.status


async def inbox_rows(app: App) -> int:
    async with app.sessionmaker() as s:
        return int((await s.exec(select(func.count()).select_from(Inbox))).one())


async def test_webhook_is_registered_with_secret_and_update_types(hooked: App,
                                                                  fake_tg: FakeBotAPI) -> None:
    [call] = [c for c in fake_tg.calls if c.method == "setWebhook"]
    assert call.params["url"] == URL and call.params["secret_token"] == SECRET
    assert "message" in call.params["allowed_updates"]
    assert "callback_query" in call.params["allowed_updates"]


@pytest.mark.filterwarnings("ignore:Detected unknown update type:RuntimeWarning")
async def test_updates_are_answered_once_and_bad_secrets_record_nothing(
        hooked: App, fake_tg: FakeBotAPI) -> None:
    app, user = hooked, load.distinct_citizens(1)[0]
    update = {"update_id": next(_ids), **fake_tg.make_message(user, user, "/start")}
    assert await post(app, update, secret=None) == 401
    assert await post(app, update, secret="wrong") == 401
    assert await post(app, update, secret=SECRET + "x") == 401
    assert await inbox_rows(app) == 0
    assert await post(app, update) == 200
    await fake_tg.wait_for("sendMessage", lambda c: c.chat_id == user)
    # Telegram delivering it again (a lost 200): recorded once, answered once.
    assert await post(app, update) == 200
    # An update type this aiogram does not know is recorded and passed over, not refused
    # (a refused one would come back forever).
    assert await post(app, {"update_id": next(_ids), "bogus": {"x": 1}}) == 200
    assert await inbox_rows(app) == 2
    assert app.webhook is not None
    await app.webhook.processor.drain()
    assert len([c for c in fake_tg.calls if c.method == "sendMessage"
                and c.chat_id == user]) == 1


async def test_database_failure_is_503_then_redelivery_is_processed(
        hooked: App, fake_tg: FakeBotAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.inbox as inbox_module

    app, user = hooked, load.distinct_citizens(1)[0]
    update = {"update_id": next(_ids), **fake_tg.make_message(user, user, "/start")}

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("database is down")

    with monkeypatch.context() as patch:
        patch.setattr(inbox_module.inbox, "record", broken)
        assert await post(app, update) == 503
    assert await post(app, update) == 200
    await fake_tg.wait_for("sendMessage", lambda c: c.chat_id == user)


async def test_many_citizens_at_once_each_in_order(hooked: App, fake_tg: FakeBotAPI) -> None:
    """60 citizens, each sending /start then /bantuan then /laporanku as fast as the webhook
    takes them, all at once: every one answered, each chat's answers in its order."""
    app = hooked
    users = load.distinct_citizens(60)

    async def citizen(user: int) -> None:
        for text in ("/start", "/help", "/laporanku"):
            assert await post(app, fake_tg.make_message(user, user, text)) == 200

    await asyncio.gather(*(citizen(u) for u in users))
    await fake_tg.wait_for("sendMessage", lambda c: c.chat_id in set(users), count=180,
                           timeout=60)
    for user in users:
        texts = [c.text or "" for c in fake_tg.calls
                 if c.method == "sendMessage" and c.chat_id == user]
        assert len(texts) == 3
        assert "Halo" in texts[0] and "belum pernah membuat laporan" in texts[2]


async def test_two_workers_share_postgres_and_keep_each_chat_in_order(
        db_url: str, fake_tg: FakeBotAPI, geocoder: FakeGeocoder, tmp_path: Path) -> None:
    """Two webhook workers on one PostgreSQL behind a 'load balancer' that alternates: 40
    citizens send three commands each, every one answered once, each chat in its order."""
    if not db_url.startswith("postgresql"):
        pytest.skip("several workers need PostgreSQL (SQLite serves one process)")
    from bot.inbox import SharedInboxProcessor
    from models.seed import load_seed

    settings = make_settings(db_url, fake_tg, tmp_path / "media", geocoder.port,
                             TELEGRAM_MODE="webhook", WEBHOOK_URL=URL, WEBHOOK_SECRET=SECRET)
    workers = [await build_app(settings), await build_app(settings)]
    async with workers[0].sessionmaker() as session:
        await load_seed(session, SEED)
    try:
        for app in workers:
            assert app.webhook is not None
            assert isinstance(app.webhook.processor, SharedInboxProcessor)
            await app.start_background(scheduler=False)
            await start_webhook(app)
        users = load.distinct_citizens(40)
        turn = itertools.count()

        async def citizen(user: int) -> None:
            for text in ("/start", "/help", "/laporanku"):
                app = workers[next(turn) % 2]
                assert await post(app, fake_tg.make_message(user, user, text)) == 200

        await asyncio.gather(*(citizen(u) for u in users))
        await fake_tg.wait_for("sendMessage", lambda c: c.chat_id in set(users), count=120,
                               timeout=60)
        for app in workers:
            assert app.webhook is not None
            await app.webhook.processor.drain()
        for user in users:
            texts = [c.text or "" for c in fake_tg.calls
                     if c.method == "sendMessage" and c.chat_id == user]
            assert len(texts) == 3, texts
            assert "Halo" in texts[0] and "belum pernah membuat laporan" in texts[2]
        assert await inbox_rows(workers[0]) == 120
        async with workers[0].sessionmaker() as s:
            left = (await s.exec(select(func.count()).select_from(Inbox).where(
                Inbox.status == "new"))).one()
        assert left == 0
    finally:
        for app in workers:
            await app.close()
