"""Reverse geocoding through geopy (Nominatim-compatible), with a timeout and an LRU cache.

geopy is imported only when a real geocoder is built: with GEOCODER=none it stays out of the
process (a few MB resident).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


class ReverseGeocoder:
    """(lat, lon) -> address or None; answers from cache for points ~10 m apart."""

    def __init__(
        self, *, domain: str, scheme: str, timeout: float, user_agent: str, cache_size: int = 2048
    ) -> None:
        from geopy.adapters import AioHTTPAdapter
        from geopy.exc import GeopyError
        from geopy.geocoders import Nominatim

        self._errors = (GeopyError, OSError, TimeoutError)
        self.geolocator = Nominatim(
            user_agent=user_agent, domain=domain, scheme=scheme, timeout=timeout,
            adapter_factory=AioHTTPAdapter,
        )
        self.cache: OrderedDict[tuple[float, float], str | None] = OrderedDict()
        self.cache_size = cache_size

    def cached(self, latitude: float, longitude: float) -> str | None:
        """The address already known for this point (no network), or None."""
        return self.cache.get((round(latitude, 4), round(longitude, 4)))

    async def reverse(self, latitude: float, longitude: float) -> str | None:
        key = (round(latitude, 4), round(longitude, 4))
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        try:
            location = await self.geolocator.reverse((latitude, longitude), exactly_one=True,
                                                     language="id", zoom=18)
        except self._errors as exc:
            log.warning("geocoder unreachable, keeping coordinates: %s", exc)
            return None  # not cached: the next try may reach it
        address = location.address[:300] if location else None
        self.cache[key] = address
        if len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return address

    async def close(self) -> None:
        adapter = self.geolocator.adapter
        if "session" in adapter.__dict__:
            await adapter.__aexit__(None, None, None)


class NoGeocoder:
    """Geocoding switched off (GEOCODER=none): coordinates only."""

    async def reverse(self, latitude: float, longitude: float) -> str | None:
        return None

    def cached(self, latitude: float, longitude: float) -> str | None:
        return None

    async def close(self) -> None:
        return None


class GeocodeQueue:
    """Reverse geocoding off the citizen's turn, paced to the geocoder's policy.

    Public Nominatim allows one request per second for the whole application: with 300
    locations at once every citizen is answered at once with coordinates, and each address
    fills in on the draft, or on the report and its card, when its paced lookup returns.
    Lookups that wait are not persisted: after a restart a report keeps its coordinates."""

    def __init__(self, geocoder: ReverseGeocoder | NoGeocoder,
                 apply: Callable[[str, str, str, float, float, str], Awaitable[Any]],
                 min_delay: float = 1.0, size: int = 10_000) -> None:
        self.geocoder = geocoder
        self.apply = apply
        from geopy.extra.rate_limiter import AsyncRateLimiter

        self.limited = AsyncRateLimiter(geocoder.reverse, min_delay_seconds=min_delay,
                                        max_retries=0, swallow_exceptions=True)
        self.queue: asyncio.Queue[tuple[str, str, str, float, float] | None] = asyncio.Queue(
            maxsize=size)

    def submit(self, channel: str, user: str, nonce: str, lat: float, lon: float) -> None:
        try:
            self.queue.put_nowait((channel, user, nonce, lat, lon))
        except asyncio.QueueFull:
            log.warning("geocoding queue full: %s/%s keeps its coordinates", channel, user)

    def stop(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)

    async def run(self) -> None:
        while (job := await self.queue.get()) is not None:
            channel, user, nonce, lat, lon = job
            try:
                address = self.geocoder.cached(lat, lon) or await self.limited(lat, lon)
                if address:
                    await self.apply(channel, user, nonce, lat, lon, address)
            except Exception:  # one lookup must not stop the others
                log.exception("geocoding job for %s/%s failed", channel, user)
