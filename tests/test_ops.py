"""Operations: /healthz, /metrics, and logs that carry the update and ticket but never a token,
a phone number or a NIK."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

import aiohttp
import pytest

from bot.ops import ContextFilter, JsonFormatter, redact
from models.domain import utcnow
from models.tables import Outbox
from tests import test_load as load
from tests.conftest import Harness, new_user

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


async def _get(h: Harness, path: str) -> tuple[int, str]:
    assert h.app is not None
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{h.app.web_port}{path}") as resp:
        return resp.status, await resp.text()


async def test_healthz_ok_then_stuck_outbox(harness: Harness) -> None:
    h = harness
    await h.say(new_user(), "/start")
    status, body = await _get(h, "/healthz")
    checks = json.loads(body)["checks"]
    assert status == 200, body
    assert checks["database"] == "ok" and checks["loop:outbox"] == "ok"
    assert checks["loop:polling"] == "ok" and checks["outbox"] == "ok"
    # No worker, and a message due for 20 minutes: 503, saying why.
    await h.restart(worker=False)
    async with h.sessionmaker() as s:
        s.add(Outbox(chat_id="1", kind="text", payload={"text": "x"},
                     next_attempt_at=utcnow() - timedelta(minutes=20)))
        await s.commit()
    status, body = await _get(h, "/healthz")
    assert status == 503
    assert json.loads(body)["checks"]["outbox"].startswith("stuck")


async def test_metrics_count_updates_deliveries_and_reports(harness: Harness) -> None:
    h = harness
    citizen = load.distinct_citizens(1)[0]
    await load.file_report(h, citizen)
    status, text = await _get(h, "/metrics")
    assert status == 200
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    assert values['aduan_updates_received_total{channel="telegram"}'] >= 9
    assert values['aduan_updates_processed_total{channel="telegram",result="ok"}'] >= 9
    assert values['aduan_update_seconds_count{channel="telegram"}'] >= 9
    assert values['aduan_reports{light="green",status="received"}'] == 1
    assert "aduan_inbox_depth" in values and "aduan_outbox_depth" in values
    assert "aduan_outbox_oldest_due_seconds" in values


def test_redaction() -> None:
    text = (f"GET https://api.telegram.org/bot{TOKEN}/getMe from 081234567890, "
            "+62 812-3456-7890 and NIK 3404075506990001; ticket ADU-7K3Q, 2026-11-23")
    clean = redact(text)
    assert TOKEN not in clean and "081234567890" not in clean
    assert "812-3456-7890" not in clean and "3404075506990001" not in clean
    assert "ADU-7K3Q" in clean and "2026-11-23" in clean


@pytest.mark.settings(BOT_TOKEN=TOKEN)
async def test_json_log_of_a_full_run_has_context_and_no_secrets(harness: Harness) -> None:
    h = harness
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        citizen = load.distinct_citizens(1)[0]
        await load.file_report(h, citizen)
        await h.say(citizen, "NIK saya 3404075506990001, HP 081234567890")
        logging.getLogger("probe").warning("calling https://api.telegram.org/bot%s/getMe",
                                           TOKEN)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    log = out.getvalue()
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    assert any("update_id" in x for x in lines)
    for secret in (TOKEN, TOKEN.split(":")[1], "3404075506990001", "081234567890"):
        assert secret not in log
