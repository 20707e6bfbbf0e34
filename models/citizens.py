"""The citizens seen lately, cached so that an update writes its citizen row only when
something about them changed (first contact, a new name, or once in a while `last_seen_at`)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from sqlmodel.ext.asyncio.session import AsyncSession

from models import repo
from models.tables import Citizen


class CitizenCache:
    """(channel, external id) -> a detached Citizen copy, least recently used dropped.

    A row costs ~2.6 kB resident (pydantic's and the ORM's state with it): 2,000 are ~5 MB.
    More would not help a crowd: the bot serves ~200 updates/s (bench/README.md), so with 2,000
    citizens mid-conversation each waits ~10 s per step anyway, and with many more than the
    cache holds every step misses whatever its size (least recently used, in turn)."""

    def __init__(self, size: int = 2000, ttl: float = 120.0, touch_every: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.size, self.ttl, self.touch_every, self.clock = size, ttl, touch_every, clock
        # Each entry is a detached Citizen shared by every update of that citizen: read it,
        # never add it to a session; a change goes through a statement and `forget()`.
        self._rows: OrderedDict[tuple[str, str], tuple[float, Citizen]] = OrderedDict()

    def peek(self, channel: str, external_id: str) -> Citizen | None:
        """The cached citizen, if any, without touching the database (may be stale)."""
        hit = self._rows.get((channel, external_id))
        return hit[1] if hit is not None else None

    def forget(self, channel: str, external_id: str) -> None:
        self._rows.pop((channel, external_id), None)

    async def resolve(self, session: AsyncSession, channel: str, external_id: str, *,
                      language: str, display_name: str | None, username: str | None
                      ) -> Citizen:
        """The citizen, created or updated (and committed, in a short transaction of its
        own) only when needed; a plain copy not attached to `session`."""
        key = (channel, external_id)
        now = self.clock()
        hit = self._rows.get(key)
        if hit is not None:
            loaded, row = hit
            same = (not display_name or row.display_name == display_name[:200]) and (
                username is None or row.username == (username[:64] or None))
            if same and now - loaded < min(self.ttl, self.touch_every):
                self._rows.move_to_end(key)
                return row
        # Not seen lately here: most likely a crowd's newcomer (the row is inserted first).
        citizen, _ = await repo.upsert_citizen(session, channel, external_id, language=language,
                                               display_name=display_name, username=username,
                                               likely_new=hit is None)
        await session.commit()
        session.expunge(citizen)
        self._rows[key] = (now, citizen)
        self._rows.move_to_end(key)
        while len(self._rows) > self.size:
            self._rows.popitem(last=False)
        self._expire(now)
        return citizen

    def _expire(self, now: float) -> None:
        """Drop the least recently used entries older than the TTL: they would be read again
        anyway, and 5,000 idle ORM rows are several MB."""
        limit = min(self.ttl, self.touch_every)
        while self._rows:
            loaded, _row = next(iter(self._rows.values()))
            if now - loaded < limit:
                return
            self._rows.popitem(last=False)
