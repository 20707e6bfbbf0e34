"""Load OPDs and categories from a TOML seed file (idempotent: upserts by code)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from sqlalchemy import delete
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from models import repo
from models.domain import Deadline
from models.geo import GeoError, load_area_text, to_geojson
from models.tables import Area, Category, Opd


class SeedError(Exception):
    """The seed file is malformed; the message says where."""


async def load_seed(session: AsyncSession, path: Path) -> tuple[int, int]:
    """Upsert [[opd]] and [[category]] tables from `path`; returns (opds, categories)."""
    try:
        text = path.read_text(encoding="utf-8")  # noqa: ASYNC240 - one-shot CLI command
        doc: dict[str, Any] = tomllib.loads(text)
    except UnicodeDecodeError:
        raise SeedError(f"{path}: not UTF-8 text; save the seed file as UTF-8") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SeedError(f"{path}: {exc}") from exc
    opds = doc.get("opd", [])
    categories = doc.get("category", [])
    areas: list[tuple[Opd | None, list[Area]]] = []
    if "service_area" in doc:
        areas.append((None, _areas(path, "service_area", doc["service_area"])))
    for i, item in enumerate(opds):
        try:
            code = str(item["code"]).upper()
            opd = await repo.opd_by_code(session, code) or Opd(code=code, name_id="", name_en="")
            opd.name_id = str(item["name_id"])
            opd.name_en = str(item.get("name_en") or item["name_id"])
            if "chat_id" in item:
                opd.chat_id = int(item["chat_id"])
                opd.thread_id = int(item["thread_id"]) if "thread_id" in item else None
        except (KeyError, TypeError, ValueError) as exc:
            raise SeedError(f"{path}: opd #{i + 1}: missing or bad field {exc}") from exc
        if "area" in item:
            areas.append((opd, _areas(path, f"opd {code}", item["area"])))
        session.add(opd)
    await session.flush()
    for owner, shapes in areas:  # an OPD's areas (or the service area) replaced as a whole
        owner_id = owner.id if owner is not None else None
        await session.execute(delete(Area).where(
            col(Area.opd_id).is_(None) if owner_id is None else col(Area.opd_id) == owner_id))
        for shape in shapes:
            shape.opd_id = owner_id
            session.add(shape)
    for i, item in enumerate(categories):
        try:
            code = str(item["code"]).lower()
            opd = await repo.opd_by_code(session, str(item["opd"]))
            if opd is None or opd.id is None:
                raise SeedError(f"{path}: category {code}: unknown opd {item['opd']!r}")
            cat = await repo.category_by_code(session, code) or Category(
                code=code, opd_id=opd.id, name_id="", name_en=""
            )
            cat.opd_id = opd.id
            cat.name_id = str(item["name_id"])
            cat.name_en = str(item.get("name_en") or item["name_id"])
            cat.requires_photo = bool(item.get("requires_photo", False))
            cat.requires_location = bool(item.get("requires_location", False))
            # followup / resolve: "5d" (working days) or "48h"; deadline_days is the older
            # name of the follow-up deadline in working days.
            followup = item.get("followup", item.get("deadline_days", 5))
            cat.followup_deadline = str(Deadline.parse(followup))
            cat.resolve_deadline = str(Deadline.parse(item.get("resolve", "14d")))
            cat.active = bool(item.get("active", True))
            cat.route_by_area = bool(item.get("route_by_area", False))
            cat.sort = int(item.get("sort", i))
        except (KeyError, TypeError, ValueError) as exc:
            raise SeedError(f"{path}: category #{i + 1}: missing or bad field {exc}") from exc
        session.add(cat)
    await session.commit()
    return len(opds), len(categories)


def _areas(path: Path, where: str, files: object) -> list[Area]:
    """The GeoJSON file(s) named by `area = "..."` (relative to the seed file) as Area rows;
    SeedError naming the file and the reason when one is missing or not a valid polygon."""
    names = [files] if isinstance(files, str) else files
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise SeedError(f"{path}: {where}: area must be a GeoJSON file name or a list of them")
    out = []
    for name in names:
        file = (path.parent / name).resolve()
        try:
            text = file.read_text(encoding="utf-8")  # noqa: ASYNC240 - one-shot CLI command
        except FileNotFoundError:
            raise SeedError(f"{path}: {where}: area file {name} not found ({file})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SeedError(f"{path}: {where}: area file {name}: {exc}") from None
        try:
            geom = load_area_text(text)
        except GeoError as exc:
            raise SeedError(f"{path}: {where}: area file {name}: {exc}") from None
        out.append(Area(name=Path(name).stem[:200], geojson=to_geojson(geom)))
    return out
