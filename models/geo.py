"""Places: areas as GeoJSON polygons (routing by area, the service area) and reports near a pin.

Polygons are parsed with shapely and kept prepared in memory (`AreaIndex`, reloaded every
`ttl` seconds, so another process's `aduan seed` shows within that time). A point on an
edge (outer ring or hole) counts as inside: `covers`, not `contains`. shapely (and numpy,
~15 MB resident) is imported on the first polygon: a deployment without areas never loads it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.domain import OPEN_STATUSES
from models.tables import Area, Opd, Report

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry
    from shapely.prepared import PreparedGeometry

EARTH_RADIUS_M = 6_371_008.8
NEARBY_CANDIDATES = 500  # rows read from the latitude band at most, before exact distances


class GeoError(ValueError):
    """A GeoJSON document that is not a valid polygon area; the message says why."""


def _geometries(doc: Any) -> list[dict[str, Any]]:
    """The geometry objects of a FeatureCollection, a Feature or a bare geometry."""
    if not isinstance(doc, dict):
        raise GeoError("not a GeoJSON object")
    kind = doc.get("type")
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list) or not features:
            raise GeoError("a FeatureCollection without features")
        return [g for f in features for g in _geometries(f)]
    if kind == "Feature":
        geometry = doc.get("geometry")
        if geometry is None:
            raise GeoError("a Feature without a geometry")
        return _geometries(geometry)
    if kind == "GeometryCollection":
        return [g for item in doc.get("geometries") or [] for g in _geometries(item)]
    if kind in ("Polygon", "MultiPolygon"):
        return [doc]
    raise GeoError(f"{kind or 'no type'} is not a Polygon or MultiPolygon")


def parse_area(doc: Any) -> BaseGeometry:
    """A GeoJSON document (dict) -> one valid (Multi)Polygon, the union of its polygons."""
    from shapely.errors import ShapelyError
    from shapely.geometry import shape
    from shapely.ops import unary_union
    from shapely.validation import explain_validity

    parts: list[BaseGeometry] = []
    for i, geometry in enumerate(_geometries(doc)):
        try:
            geom = shape(geometry)
        except (ShapelyError, ValueError, TypeError, KeyError, IndexError) as exc:
            raise GeoError(f"polygon #{i + 1}: bad coordinates ({exc})") from None
        if geom.is_empty:
            raise GeoError(f"polygon #{i + 1}: empty")
        if not geom.is_valid:
            raise GeoError(f"polygon #{i + 1}: invalid ({explain_validity(geom)})")
        minx, miny, maxx, maxy = geom.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise GeoError(f"polygon #{i + 1}: coordinates are not longitude, latitude")
        parts.append(geom)
    if not parts:
        raise GeoError("no polygon")
    return parts[0] if len(parts) == 1 else unary_union(parts)


def load_area_text(text: str) -> BaseGeometry:
    """GeoJSON text -> a valid (Multi)Polygon, or GeoError."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GeoError(f"not JSON ({exc.msg} at line {exc.lineno})") from None
    return parse_area(doc)


def to_geojson(geom: BaseGeometry) -> str:
    """A geometry as compact GeoJSON text (what the `area` table stores)."""
    from shapely.geometry import mapping

    return json.dumps(mapping(geom), separators=(",", ":"))


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) holding every point within `radius_m` of the pin."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    cos = math.cos(math.radians(lat))
    dlon = 180.0 if cos < 1e-6 else min(180.0, dlat / cos)
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


async def nearby_open_reports(session: AsyncSession, category_id: int, lat: float, lon: float,
                              radius_m: float, limit: int = 3) -> list[tuple[Report, float]]:
    """Open reports of the category within `radius_m` of the pin, nearest first, with their
    distance in metres. The latitude band is read through (category_id, latitude)."""
    if radius_m <= 0:
        return []
    min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, radius_m)
    rows = (await session.exec(
        select(Report).where(
            Report.category_id == category_id,
            col(Report.latitude).between(min_lat, max_lat),
            col(Report.longitude).between(min_lon, max_lon),
            col(Report.status).in_([s.value for s in OPEN_STATUSES]))
        .limit(NEARBY_CANDIDATES))).all()
    found = []
    for report in rows:
        assert report.latitude is not None and report.longitude is not None
        distance = haversine_m(lat, lon, report.latitude, report.longitude)
        if distance <= radius_m:
            found.append((report, distance))
    found.sort(key=lambda pair: (pair[1], pair[0].id or 0))
    return found[:limit]


@dataclass(frozen=True)
class _Shape:
    opd_id: int | None
    name: str
    size: float  # in square degrees: only compared between areas of one deployment
    bounds: tuple[float, float, float, float]
    prepared: PreparedGeometry


class AreaIndex:
    """Every area in memory, prepared: which OPD covers a point, and the service area."""

    def __init__(self, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 service: BaseGeometry | None = None) -> None:
        self.ttl = ttl
        self.clock = clock
        self._loaded_at: float | None = None
        self._opd_areas: list[_Shape] = []
        self._service: list[_Shape] = []
        # SERVICE_AREA as a GeoJSON file: used instead of a seed's service_area polygons.
        self._fixed: _Shape | None = None
        if service is not None:
            from shapely.prepared import prep

            self._fixed = _Shape(None, "SERVICE_AREA", service.area, service.bounds,
                                 prep(service))

    def invalidate(self) -> None:
        """Forget the areas; the next question reloads them (after `aduan seed`)."""
        self._loaded_at = None

    async def _ensure(self, session: AsyncSession) -> None:
        if self._loaded_at is not None and self.clock() - self._loaded_at < self.ttl:
            return
        rows = (await session.exec(select(Area, Opd).join(
            Opd, col(Area.opd_id) == col(Opd.id), isouter=True))).all()
        opd_areas, service = [], []
        for area, opd in rows:
            try:
                geom = load_area_text(area.geojson)
            except GeoError:
                continue  # checked when seeded; a hand-edited bad row is skipped, not fatal
            from shapely.prepared import prep  # loaded by load_area_text already

            item = _Shape(area.opd_id, area.name, geom.area, geom.bounds, prep(geom))
            if area.opd_id is None:
                service.append(item)
            elif opd is not None and opd.active:
                opd_areas.append(item)
        opd_areas.sort(key=lambda s: s.size)  # the smallest covering area wins
        self._opd_areas, self._service = opd_areas, service
        self._loaded_at = self.clock()

    async def opd_at(self, session: AsyncSession, lat: float, lon: float) -> int | None:
        """The OPD of the smallest area covering the point (edges included), or None."""
        await self._ensure(session)
        point = None
        for item in self._opd_areas:
            minx, miny, maxx, maxy = item.bounds
            if minx <= lon <= maxx and miny <= lat <= maxy:
                if point is None:
                    point = _point(lon, lat)
                if item.prepared.covers(point):
                    return item.opd_id
        return None

    async def in_service_area(self, session: AsyncSession, lat: float, lon: float
                              ) -> bool | None:
        """Whether the point lies in the deployment's service polygons; None if there are
        none (then the SERVICE_AREA box, if any, decides)."""
        if self._fixed is not None:
            return self._fixed.prepared.covers(_point(lon, lat))
        await self._ensure(session)
        if not self._service:
            return None
        point = _point(lon, lat)
        return any(item.prepared.covers(point) for item in self._service)


def _point(lon: float, lat: float) -> Any:
    """A shapely Point (shapely is loaded by then: there are polygons to test it against)."""
    from shapely.geometry import Point

    return Point(lon, lat)
