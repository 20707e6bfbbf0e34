"""Reverse geocoding through geopy (Nominatim-compatible), with a timeout and an LRU cache."""

from __future__ import annotations

import logging
from collections import OrderedDict

from geopy.adapters import AioHTTPAdapter
from geopy.exc import GeopyError
from geopy.geocoders import Nominatim

log = logging.getLogger(__name__)


class ReverseGeocoder:
    """(lat, lon) -> address or None; answers from cache for points ~10 m apart."""

    def __init__(
        self, *, domain: str, scheme: str, timeout: float, user_agent: str, cache_size: int = 2048
    ) -> None:
        self.geolocator = Nominatim(
            user_agent=user_agent, domain=domain, scheme=scheme, timeout=timeout,
            adapter_factory=AioHTTPAdapter,
        )
        self.cache: OrderedDict[tuple[float, float], str | None] = OrderedDict()
        self.cache_size = cache_size

    async def reverse(self, latitude: float, longitude: float) -> str | None:
        key = (round(latitude, 4), round(longitude, 4))
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        try:
            location = await self.geolocator.reverse((latitude, longitude), exactly_one=True,
                                                     language="id", zoom=18)
        except (GeopyError, OSError, TimeoutError) as exc:
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

    async def close(self) -> None:
        return None
