"""What the bot keeps between updates stays bounded: the citizen cache lets go of rows it
would read again anyway; and what it loads at start-up leaves out libraries only rare paths
need."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from models.citizens import CitizenCache
from models.db import make_engine, make_sessionmaker, migrate

ROOT = Path(__file__).resolve().parent.parent


async def test_citizen_cache_lets_go_of_expired_rows(db_url: str) -> None:
    """Rows older than the TTL leave the cache as new citizens come, without waiting for it to
    fill up; the ones still fresh stay; many citizens at once each get their own row."""
    engine = make_engine(db_url)
    await migrate(engine)
    sm = make_sessionmaker(engine)
    now = [1000.0]
    cache = CitizenCache(size=5000, ttl=120.0, clock=lambda: now[0])

    async def resolve(user: int) -> int:
        async with sm() as session:
            citizen = await cache.resolve(session, "telegram", str(user), language="id",
                                          display_name=f"Warga {user}", username=None)
            return citizen.id or 0

    try:
        first = await asyncio.gather(*(resolve(u) for u in range(40)))
        assert len(set(first)) == 40 and all(first)
        assert all(cache.peek("telegram", str(u)) is not None for u in range(40))
        now[0] += 60
        await asyncio.gather(*(resolve(u) for u in range(40, 50)))
        assert cache.peek("telegram", "0") is not None  # 60 s old: still fresh
        now[0] += 70  # the first 40 are 130 s old now, the next 10 are 70 s old
        assert await resolve(50)
        assert all(cache.peek("telegram", str(u)) is None for u in range(40))
        assert all(cache.peek("telegram", str(u)) is not None for u in range(40, 51))
        assert await resolve(3) == first[3]  # read again: the same citizen
    finally:
        await engine.dispose()


# Builds the whole app as `aduan run` does (without polling), then uses the personal-data vault.
STARTUP_PROBE = """
import asyncio, base64, json, sys
from bot import lazy_types
lazy_types.defer()
from bot.settings import load_settings
from bot.app import build_app

RARE = ("shapely", "numpy", "geopy", "pywa", "httpx", "cryptography", "matplotlib", "openpyxl")


async def main():
    settings = load_settings()
    app = await build_app(settings)
    await app.close()
    loaded = [m for m in RARE if m in sys.modules]
    countries = sorted(m for m in sys.modules if m.startswith("holidays.countries."))
    vault = settings.vault()
    token = vault.encrypt("6281234567890")
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    key = settings.key_file().read_text().split()[0]
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"aduan-pii-lookup-hash").derive(base64.urlsafe_b64decode(key))
    import hmac, hashlib
    expected = hmac.new(derived, b"phone:6281234567890", hashlib.sha256).hexdigest()
    print(json.dumps({"loaded": loaded, "countries": countries,
                      "round_trip": vault.decrypt(token),
                      "hash_same": vault.hash("phone", "6281234567890") == expected}))

asyncio.run(main())
"""


def test_starting_the_bot_leaves_rare_libraries_unloaded(tmp_path: Path) -> None:
    """In a fresh interpreter the app is built as `aduan run` builds it (SQLite, no geocoder,
    no WhatsApp, no polygons): none of the libraries only rare paths need is imported, and of
    the holiday calendars only Indonesia's; the vault still encrypts, decrypts and hashes with
    the key HKDF derives, loading cryptography when first asked."""
    from bot.settings import Settings

    names = {f.alias or name.upper() for name, f in Settings.model_fields.items()}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(PYTHONPATH=str(ROOT), BOT_TOKEN="123456:PROBE", GEOCODER="none",
               DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'probe.db'}",
               MEDIA_DIR=str(tmp_path / "media"), TELEGRAM_API_URL="http://127.0.0.1:9",
               LOG_LEVEL="ERROR")
    out = subprocess.run([sys.executable, "-c", STARTUP_PROBE], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"loaded": [], "countries": ["holidays.countries.indonesia"],
                      "round_trip": "6281234567890", "hash_same": True}
