"""Admin use cases: roles, OPDs and their groups, categories and deadlines, PICs."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import lifecycle
from handlers.i18n import Tr
from models import repo
from models.domain import Deadline, utcnow
from models.roles import ADMIN, OPERATOR
from models.tables import Category, Opd, Pic, StaffRole

log = logging.getLogger(__name__)

CODE_RE = re.compile(r"^[A-Za-z0-9_]{2,32}$")
YES = {"ya", "y", "yes", "true", "1", "wajib"}
NO = {"tidak", "t", "no", "n", "false", "0"}
ROLES = (ADMIN, OPERATOR)


class UsageError(Exception):
    """Bad arguments; the message is the translation key of the usage line."""


class UnknownCode(Exception):
    """An OPD or category code that does not exist: `kind` is 'opd' or 'category'."""

    def __init__(self, kind: str, code: str) -> None:
        super().__init__(code)
        self.kind, self.code = kind, code


def split_names(text: str) -> tuple[str, str]:
    """'Nama Indonesia | English name' -> both (English falls back to Indonesian)."""
    left, _, right = text.partition("|")
    name_id, name_en = left.strip(), right.strip()
    if not name_id:
        raise UsageError
    return name_id[:200], (name_en or name_id)[:200]


# ---- roles ---------------------------------------------------------------------------------


async def grant_role(session: AsyncSession, user_id: int, role: str, name: str | None,
                     granted_by: int, commit: bool = True) -> bool:
    """Store a role (committed unless `commit=False`); False when the user already had it
    (also when another grant of the same role won the race: the unique constraint decides)."""
    assert role in ROLES
    found = await session.exec(select(StaffRole).where(
        StaffRole.user_id == user_id, StaffRole.role == role))
    if found.first() is not None:
        return False
    try:
        async with session.begin_nested():  # a conflict undoes this insert only
            session.add(StaffRole(user_id=user_id, role=role,
                                  name=(name or None) and name[:200], granted_by=granted_by,
                                  created_at=utcnow()))
    except IntegrityError:
        log.info("role %s for %s was granted concurrently", role, user_id)
        return False
    if commit:
        await session.commit()
    return True


async def revoke_role(session: AsyncSession, user_id: int, role: str,
                      commit: bool = True) -> bool:
    """Remove a role (committed unless `commit=False`); False when the user did not have it."""
    result: Any = await session.execute(delete(StaffRole).where(
        col(StaffRole.user_id) == user_id, col(StaffRole.role) == role))
    if commit:
        await session.commit()
    return bool(result.rowcount)


async def list_roles(session: AsyncSession) -> Sequence[StaffRole]:
    """Every granted role, by role then user."""
    result = await session.exec(select(StaffRole).order_by(col(StaffRole.role),
                                                           col(StaffRole.user_id)))
    return result.all()


async def has_role(session: AsyncSession, user_id: int, role: str) -> bool:
    found = await session.exec(select(StaffRole).where(
        StaffRole.user_id == user_id, StaffRole.role == role))
    return found.first() is not None


def parse_user_id(arg: str) -> tuple[int, str] | None:
    """'12345 Budi Santoso' -> (12345, 'Budi Santoso'); None without a numeric id first."""
    first, _, rest = arg.strip().partition(" ")
    if not first.isdigit() or not 0 < int(first) < 2**52:
        return None
    return int(first), rest.strip()


# ---- OPDs ----------------------------------------------------------------------------------


def parse_opd(args: str) -> tuple[str, str, str]:
    """'CODE Name | English' -> (CODE, name_id, name_en); UsageError otherwise."""
    code, _, rest = args.strip().partition(" ")
    if not CODE_RE.match(code) or not rest.strip():
        raise UsageError
    name_id, name_en = split_names(rest)
    return code.upper(), name_id, name_en


async def add_opd(session: AsyncSession, args: str, commit: bool = True) -> Opd:
    """'/opd_add CODE Name | English' -> the created or renamed OPD (committed unless
    `commit=False`)."""
    try:
        code, name_id, name_en = parse_opd(args)
    except UsageError:
        raise UsageError("admin-opd-usage") from None
    for attempt in range(2):
        opd = await repo.opd_by_code(session, code, lock=True) or Opd(code=code, name_id="",
                                                                      name_en="")
        opd.name_id, opd.name_en = name_id, name_en
        try:
            async with session.begin_nested():  # a conflict undoes this write only
                session.add(opd)
        except IntegrityError:
            # The same code added at the same moment by someone else: rename theirs.
            if attempt:
                raise
            continue
        if commit:
            await session.commit()
        return opd
    raise AssertionError("unreachable")


async def edit_opd(session: AsyncSession, args: str, commit: bool = True) -> Opd:
    """'/opd_ubah CODE Name | English' -> the renamed OPD (committed unless `commit=False`);
    UnknownCode if none."""
    try:
        code, name_id, name_en = parse_opd(args)
    except UsageError:
        raise UsageError("admin-usage-opd_ubah") from None
    opd = await repo.opd_by_code(session, code, lock=True)
    if opd is None:
        raise UnknownCode("opd", code)
    opd.name_id, opd.name_en = name_id, name_en
    session.add(opd)
    if commit:
        await session.commit()
    return opd


async def set_opd_active(session: AsyncSession, args: str, active: bool,
                         commit: bool = True) -> Opd:
    """Deactivate or reactivate an OPD (committed unless `commit=False`); its open reports
    stay where they are."""
    code = args.strip()
    if not CODE_RE.match(code):
        raise UsageError("admin-usage-opd_aktif" if active else "admin-usage-opd_nonaktif")
    opd = await repo.opd_by_code(session, code)
    if opd is None:
        raise UnknownCode("opd", code.upper())
    opd.active = active
    session.add(opd)
    if commit:
        await session.commit()
    return opd


async def bind_opd(session: AsyncSession, deps: lifecycle.Deps, code: str, chat_id: int,
                   thread_id: int | None, commit: bool = True) -> Opd | None:
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
    if commit:
        await session.commit()
    return opd


# ---- PICs ----------------------------------------------------------------------------------


async def add_pic(session: AsyncSession, opd_code: str, user_id: int | None,
                  username: str | None, name: str | None, commit: bool = True) -> Opd | None:
    """Register a PIC by user id, or by @username until that user is first seen (committed
    unless `commit=False`)."""
    opd = await repo.opd_by_code(session, opd_code)
    if opd is None or opd.id is None:
        return None
    existing = await repo.find_pic(session, opd.id, user_id, username)
    pic = existing or Pic(opd_id=opd.id)
    pic.user_id = user_id if user_id is not None else pic.user_id
    pic.username = (username or pic.username or "").lower().lstrip("@") or None
    pic.name = name or pic.name
    try:
        async with session.begin_nested():  # a conflict undoes this write only
            session.add(pic)
    except IntegrityError:  # the same person added at the same moment: one row stays
        pass
    if commit:
        await session.commit()
    return opd


async def remove_pic(session: AsyncSession, opd_code: str, user_id: int | None,
                     username: str | None, commit: bool = True) -> tuple[Opd | None, bool]:
    """Remove a PIC (committed unless `commit=False`): (the OPD or None if unknown, whether
    someone was removed)."""
    opd = await repo.opd_by_code(session, opd_code)
    if opd is None or opd.id is None:
        return None, False
    pic = await repo.find_pic(session, opd.id, user_id, username)
    if pic is None:
        return opd, False
    await session.delete(pic)
    if commit:
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


# ---- categories ----------------------------------------------------------------------------


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


async def add_category(session: AsyncSession, spec: CategorySpec, commit: bool = True
                       ) -> tuple[Category, Opd] | None:
    """Create or update a category (committed unless `commit=False`); None when its OPD does
    not exist."""
    opd = await repo.opd_by_code(session, spec.opd_code)
    if opd is None or opd.id is None:
        return None
    for attempt in range(2):
        category = await repo.category_by_code(session, spec.code, lock=True) or Category(
            code=spec.code, opd_id=opd.id, name_id="", name_en=""
        )
        category.opd_id = opd.id
        category.name_id, category.name_en = spec.name_id, spec.name_en
        category.requires_photo, category.requires_location = spec.photo, spec.location
        category.followup_deadline, category.active = f"{spec.days}d", True
        try:
            async with session.begin_nested():  # a conflict undoes this write only
                session.add(category)
        except IntegrityError:  # added at the same moment by someone else: update theirs
            if attempt:
                raise
            continue
        if commit:
            await session.commit()
        return category, opd
    raise AssertionError("unreachable")


CATEGORY_FIELDS = {
    "nama": "name", "name": "name", "opd": "opd", "foto": "photo", "photo": "photo",
    "lokasi": "location", "location": "location", "followup": "followup",
    "tindaklanjut": "followup", "resolve": "resolve", "selesai": "resolve",
    "area": "area", "wilayah": "area",  # route by the OPDs' areas (models/geo.py)
}


@dataclass
class CategoryEdit:
    """Validated changes to one category; None fields stay as they are."""

    code: str
    names: tuple[str, str] | None = None
    opd_code: str | None = None
    photo: bool | None = None
    location: bool | None = None
    followup: Deadline | None = None
    resolve: Deadline | None = None
    changed: list[str] = field(default_factory=list)
    route_by_area: bool | None = None


def _flag(value: str, usage: str) -> bool:
    value = value.strip().lower()
    if value not in YES | NO:
        raise UsageError(usage)
    return value in YES


def _deadline(value: str, usage: str) -> Deadline:
    try:
        return Deadline.parse(value)
    except ValueError:
        raise UsageError(usage) from None


def check_deadlines(followup: Deadline, resolve: Deadline, usage: str) -> None:
    """The first follow-up cannot be due after the resolution (compared in the same unit)."""
    if followup.unit == resolve.unit and followup.amount > resolve.amount:
        raise UsageError(usage)


def parse_category_edit(args: str) -> CategoryEdit:
    """'CODE nama=Jalan rusak | Road opd=PUPR foto=ya followup=3d' -> CategoryEdit."""
    usage = "admin-usage-kategori_ubah"
    words = args.split()
    if len(words) < 2 or not CODE_RE.match(words[0]):
        raise UsageError(usage)
    raw: dict[str, str] = {}
    current: str | None = None
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if sep and key.lower() in CATEGORY_FIELDS:
            current = CATEGORY_FIELDS[key.lower()]
            if current in raw:
                raise UsageError(usage)
            raw[current] = value
        elif current == "name":  # a name runs on until the next field
            raw["name"] += " " + word
        else:
            raise UsageError(usage)
    edit = CategoryEdit(code=words[0].lower(), changed=list(raw))
    if "name" in raw:
        try:
            edit.names = split_names(raw["name"])
        except UsageError:
            raise UsageError(usage) from None
    if "opd" in raw:
        if not CODE_RE.match(raw["opd"]):
            raise UsageError(usage)
        edit.opd_code = raw["opd"].upper()
    if "photo" in raw:
        edit.photo = _flag(raw["photo"], usage)
    if "location" in raw:
        edit.location = _flag(raw["location"], usage)
    if "followup" in raw:
        edit.followup = _deadline(raw["followup"], usage)
    if "resolve" in raw:
        edit.resolve = _deadline(raw["resolve"], usage)
    if "area" in raw:
        edit.route_by_area = _flag(raw["area"], usage)
    return edit


async def edit_category(session: AsyncSession, edit: CategoryEdit, commit: bool = True
                        ) -> Category:
    """Apply a validated edit (committed unless `commit=False`) or nothing: UnknownCode /
    UsageError first."""
    category = await repo.category_by_code(session, edit.code, lock=True)
    if category is None:
        raise UnknownCode("category", edit.code)
    opd_id = category.opd_id
    if edit.opd_code is not None:
        opd = await repo.opd_by_code(session, edit.opd_code)
        if opd is None or opd.id is None:
            raise UnknownCode("opd", edit.opd_code)
        opd_id = opd.id
    followup = edit.followup or Deadline.parse(category.followup_deadline)
    resolve = edit.resolve or Deadline.parse(category.resolve_deadline)
    check_deadlines(followup, resolve, "admin-usage-kategori_ubah")
    category.opd_id = opd_id
    if edit.names is not None:
        category.name_id, category.name_en = edit.names
    if edit.photo is not None:
        category.requires_photo = edit.photo
    if edit.location is not None:
        category.requires_location = edit.location
    if edit.route_by_area is not None:
        category.route_by_area = edit.route_by_area
    category.followup_deadline, category.resolve_deadline = str(followup), str(resolve)
    session.add(category)
    if commit:
        await session.commit()
    return category


async def set_deadlines(session: AsyncSession, args: str, commit: bool = True) -> Category:
    """'/tenggat CODE 5d [14d]' -> the category with its new deadlines (committed unless
    `commit=False`)."""
    usage = "admin-usage-tenggat"
    words = args.split()
    if not 2 <= len(words) <= 3 or not CODE_RE.match(words[0]):
        raise UsageError(usage)
    followup = _deadline(words[1], usage)
    resolve = _deadline(words[2], usage) if len(words) == 3 else None
    category = await repo.category_by_code(session, words[0], lock=True)
    if category is None:
        raise UnknownCode("category", words[0].lower())
    resolve = resolve or Deadline.parse(category.resolve_deadline)
    check_deadlines(followup, resolve, usage)
    category.followup_deadline, category.resolve_deadline = str(followup), str(resolve)
    session.add(category)
    if commit:
        await session.commit()
    return category


async def set_category_active(session: AsyncSession, args: str, active: bool,
                              commit: bool = True) -> Category:
    """Deactivate or reactivate a category (committed unless `commit=False`); its reports
    stay."""
    code = args.strip()
    if not CODE_RE.match(code):
        raise UsageError("admin-usage-kategori_aktif" if active
                         else "admin-usage-kategori_nonaktif")
    category = await repo.category_by_code(session, code)
    if category is None:
        raise UnknownCode("category", code.lower())
    category.active = active
    session.add(category)
    if commit:
        await session.commit()
    return category


# ---- lists ---------------------------------------------------------------------------------


def _category_line(t: Tr, c: Category, opd: Opd | None) -> str:
    yes, no = t("admin-yes"), t("admin-no")
    line = t("admin-cat-line", code=c.code, name=c.name(t.lang), days=c.followup_deadline,
             resolve=c.resolve_deadline, photo=yes if c.requires_photo else no,
             location=yes if c.requires_location else no)
    if not c.active:
        line += " " + t("admin-inactive-mark")
    elif opd is not None and not opd.active:
        line += " " + t("admin-hidden-mark")
    return line


def _opd_line(t: Tr, opd: Opd) -> str:
    if opd.chat_id is None:
        bound = t("admin-group-unbound")
    elif opd.thread_id:
        bound = t("admin-group-bound-topic", chat=str(opd.chat_id), thread=str(opd.thread_id))
    else:
        bound = t("admin-group-bound-chat", chat=str(opd.chat_id))
    state = t("admin-active") if opd.active else t("admin-inactive")
    return f"{opd.code} — {opd.name(t.lang)} · {state} · {bound}"


async def catalogue_text(session: AsyncSession, t: Tr) -> str:
    """Every OPD with its state, group binding and categories, for `/opd`."""
    opds = await repo.list_opds(session)
    if not opds:
        return t("admin-list-empty")
    categories = (await session.exec(select(Category).order_by(
        col(Category.sort), col(Category.id)))).all()
    lines: list[str] = []
    for opd in opds:
        lines.append(_opd_line(t, opd))
        lines += ["   " + _category_line(t, c, opd) for c in categories if c.opd_id == opd.id]
    return "\n".join(lines)


async def categories_text(session: AsyncSession, t: Tr, args: str) -> str:
    """Every category (or one OPD's) with its OPD, deadlines and state, for `/kategori`."""
    code = args.strip()
    opds = {o.id: o for o in await repo.list_opds(session)}
    query = select(Category).order_by(col(Category.opd_id), col(Category.sort),
                                      col(Category.id))
    if code:
        opd = await repo.opd_by_code(session, code)
        if opd is None:
            raise UnknownCode("opd", code.upper())
        query = query.where(Category.opd_id == opd.id)
    categories = (await session.exec(query)).all()
    if not categories:
        return t("admin-cat-none")
    lines = [t("admin-cat-list-head")]
    for c in categories:
        opd = opds.get(c.opd_id)
        lines.append(f"{opd.code if opd else '?'} " + _category_line(t, c, opd))
    return "\n".join(lines)
