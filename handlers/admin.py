"""Admin use cases over the catalogue: OPDs, their groups, and categories."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import lifecycle
from handlers.i18n import Tr
from models import repo
from models.tables import Category, Opd, Pic

CODE_RE = re.compile(r"^[A-Za-z0-9_]{2,32}$")
YES = {"ya", "y", "yes", "true", "1", "wajib"}
NO = {"tidak", "t", "no", "n", "false", "0"}


class UsageError(Exception):
    """Bad arguments; the message is the translation key of the usage line."""


def split_names(text: str) -> tuple[str, str]:
    """'Nama Indonesia | English name' -> both (English falls back to Indonesian)."""
    left, _, right = text.partition("|")
    name_id, name_en = left.strip(), right.strip()
    if not name_id:
        raise UsageError
    return name_id[:200], (name_en or name_id)[:200]


async def add_opd(session: AsyncSession, args: str) -> Opd:
    """'/opd_add CODE Name | English' -> the created or renamed OPD (committed)."""
    code, _, rest = args.strip().partition(" ")
    if not CODE_RE.match(code) or not rest.strip():
        raise UsageError("admin-opd-usage")
    try:
        name_id, name_en = split_names(rest)
    except UsageError:
        raise UsageError("admin-opd-usage") from None
    opd = await repo.opd_by_code(session, code) or Opd(code=code.upper(), name_id="", name_en="")
    opd.name_id, opd.name_en = name_id, name_en
    session.add(opd)
    await session.commit()
    return opd


async def bind_opd(session: AsyncSession, deps: lifecycle.Deps, code: str, chat_id: int,
                   thread_id: int | None) -> Opd | None:
    """Bind an OPD to a group (and forum topic), then deliver what was waiting for it:
    reports never dispatched and messages the old group refused. None: no such OPD."""
    opd = await repo.opd_by_code(session, code.strip()) if code.strip() else None
    if opd is None:
        return None
    old_chat = opd.chat_id
    opd.chat_id, opd.thread_id, opd.unreachable_since = chat_id, thread_id, None
    session.add(opd)
    await session.flush()
    if old_chat is not None:
        await repo.requeue_undeliverable(session, old_chat, chat_id)
    await repo.requeue_undeliverable(session, lifecycle.waiting_chat(opd.id or 0), chat_id)
    await lifecycle.dispatch_waiting(session, deps, opd)
    await session.commit()
    return opd


async def add_pic(session: AsyncSession, opd_code: str, user_id: int | None,
                  username: str | None, name: str | None) -> Opd | None:
    """Register a PIC by user id, or by @username until that user is first seen."""
    opd = await repo.opd_by_code(session, opd_code)
    if opd is None or opd.id is None:
        return None
    existing = await repo.find_pic(session, opd.id, user_id, username)
    pic = existing or Pic(opd_id=opd.id)
    pic.user_id = user_id if user_id is not None else pic.user_id
    pic.username = (username or pic.username or "").lower().lstrip("@") or None
    pic.name = name or pic.name
    session.add(pic)
    await session.commit()
    return opd


async def remove_pic(session: AsyncSession, opd_code: str, user_id: int | None,
                     username: str | None) -> tuple[Opd | None, bool]:
    opd = await repo.opd_by_code(session, opd_code)
    if opd is None or opd.id is None:
        return None, False
    pic = await repo.find_pic(session, opd.id, user_id, username)
    if pic is None:
        return opd, False
    await session.delete(pic)
    await session.commit()
    return opd, True


def parse_person(arg: str) -> tuple[int | None, str | None]:
    """'12345' -> (12345, None); '@budi' -> (None, 'budi'); else (None, None)."""
    arg = arg.strip()
    if arg.lstrip("-").isdigit():
        return int(arg), None
    if arg.startswith("@") and len(arg) > 1:
        return None, arg[1:].lower()
    return None, None


@dataclass
class CategorySpec:
    code: str
    opd_code: str
    days: int
    photo: bool
    location: bool
    name_id: str
    name_en: str


def parse_category(args: str) -> CategorySpec:
    """'code OPD days [foto=ya] [lokasi=tidak] Name | English' -> CategorySpec."""
    words = args.split()
    if len(words) < 4 or not CODE_RE.match(words[0]) or not words[2].isdigit():
        raise UsageError("admin-cat-usage")
    code, opd_code, days = words[0].lower(), words[1], int(words[2])
    photo = location = False
    rest = words[3:]
    while rest and "=" in rest[0]:
        key, _, value = rest.pop(0).lower().partition("=")
        if value not in YES | NO:
            raise UsageError("admin-cat-usage")
        if key in ("foto", "photo"):
            photo = value in YES
        elif key in ("lokasi", "location"):
            location = value in YES
        else:
            raise UsageError("admin-cat-usage")
    if not 0 < days <= 365:
        raise UsageError("admin-cat-usage")
    try:
        name_id, name_en = split_names(" ".join(rest))
    except UsageError:
        raise UsageError("admin-cat-usage") from None
    return CategorySpec(code, opd_code, days, photo, location, name_id, name_en)


async def add_category(session: AsyncSession, spec: CategorySpec) -> tuple[Category, Opd] | None:
    """Create or update a category; None when its OPD does not exist."""
    opd = await repo.opd_by_code(session, spec.opd_code)
    if opd is None or opd.id is None:
        return None
    category = await repo.category_by_code(session, spec.code) or Category(
        code=spec.code, opd_id=opd.id, name_id="", name_en=""
    )
    category.opd_id = opd.id
    category.name_id, category.name_en = spec.name_id, spec.name_en
    category.requires_photo, category.requires_location = spec.photo, spec.location
    category.followup_deadline, category.active = f"{spec.days}d", True
    session.add(category)
    await session.commit()
    return category, opd


async def catalogue_text(session: AsyncSession, t: Tr) -> str:
    """Every OPD with its group binding and categories, for `/opds`."""
    opds = await repo.list_opds(session)
    if not opds:
        return t("admin-list-empty")
    categories = await repo.active_categories(session)
    yes, no = t("admin-yes"), t("admin-no")
    lines: list[str] = []
    for opd in opds:
        bound = t("admin-group-bound") if opd.chat_id else t("admin-group-unbound")
        lines.append(f"{opd.code} — {opd.name(t.lang)} ({bound})")
        for c in categories:
            if c.opd_id == opd.id:
                lines.append("   " + t(
                    "admin-list-category", code=c.code, name=c.name(t.lang),
                    days=c.followup_deadline, photo=yes if c.requires_photo else no,
                    location=yes if c.requires_location else no,
                ))
    return "\n".join(lines)
