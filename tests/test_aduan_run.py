"""`aduan run` as a real process: it migrates, polls the (fake) Bot API, serves the WhatsApp
webhook, answers a citizen, and stops cleanly on SIGINT."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

from tests import fakegraph as fg
from tests.fakebotapi import FakeBotAPI

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_aduan_run_end_to_end_and_clean_stop(tmp_path: Path) -> None:
    repo = REPO
    port = free_port()
    async with FakeBotAPI() as tg, fg.FakeGraphAPI() as graph:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WHATSAPP_"))}
        env.update({
            "BOT_TOKEN": "123456:RUN-TEST", "TELEGRAM_API_URL": tg.url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
            "MEDIA_DIR": str(tmp_path / "media"), "GEOCODER": "none",
            "WHATSAPP_TOKEN": fg.TOKEN, "WHATSAPP_PHONE_NUMBER_ID": fg.PHONE_ID,
            "WHATSAPP_APP_SECRET": fg.APP_SECRET, "WHATSAPP_VERIFY_TOKEN": fg.VERIFY_TOKEN,
            "WHATSAPP_API_URL": graph.api_base("v22.0"), "WEB_HOST": "127.0.0.1",
            "WEB_PORT": str(port), "PYTHONPATH": str(repo),
        })
        seed = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "seed", str(repo / "deploy" / "seed.example.toml"),
            cwd=tmp_path, env=env, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        assert await seed.wait() == 0
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            assert proc.stderr is not None
            while b"WhatsApp webhook on" not in (line := await asyncio.wait_for(
                    proc.stderr.readline(), 30)):
                assert line, "aduan run exited early"
            tg.push_update(tg.make_message(4242, 4242, "/start"))
            [hello] = await tg.wait_for("sendMessage", lambda c: c.chat_id == 4242, timeout=30)
            assert "Halo Budi" in (hello.text or "")
            # The webhook is up in the same process, next to Telegram polling.
            status, _ = await fg.post_webhook(f"http://127.0.0.1:{port}", "/whatsapp/webhook",
                                              fg.text_message("6281299990000", "halo"))
            assert status == 200
            await graph.wait_for(lambda c: c.is_send and c.to == "6281299990000", timeout=30)
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert b"Traceback" not in err
