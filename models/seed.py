"""Load OPDs and categories from a TOML seed file (idempotent: upserts by code)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from models import repo
from models.domain import Deadline
from models.tables import Category, Opd


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
        session.add(opd)
    await session.flush()
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
            cat.sort = int(item.get("sort", i))
        except (KeyError, TypeError, ValueError) as exc:
            raise SeedError(f"{path}: category #{i + 1}: missing or bad field {exc}") from exc
        session.add(cat)
    await session.commit()
    return len(opds), len(categories)
