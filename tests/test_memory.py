"""What the bot keeps between updates stays bounded: the citizen cache lets go of rows it
would read again anyway."""

from __future__ import annotations

import asyncio

from models.citizens import CitizenCache
from models.db import make_engine, make_sessionmaker, migrate


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
