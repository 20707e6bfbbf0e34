"""Admin commands by chat: router-level filter lets only ADMIN_IDS through."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import BaseFilter, Command, CommandObject
from aiogram.types import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import admin as uc
from handlers import lifecycle
from handlers.i18n import Tr
from models import repo

ADMIN_COMMANDS = ("opd_add", "opd_bind", "cat_add", "opds", "pic_add", "pic_del", "pic_list")


class IsAdmin(BaseFilter):
    """Super-admins (ADMIN_IDS) and the admins they granted (models/roles.py)."""

    async def __call__(self, message: Message, session: AsyncSession,
                       deps: lifecycle.Deps) -> bool:
        if message.from_user is None or deps.roles is None:
            return False
        return await deps.roles.is_admin(session, message.from_user.id)



async def cmd_opd_add(message: Message, command: CommandObject, session: AsyncSession, t: Tr,
                      deps: lifecycle.Deps) -> None:
    try:
        opd = await uc.add_opd(session, command.args or "")
    except uc.UsageError as exc:
        await message.reply(t(str(exc)))
        return
    deps.catalog.invalidate()
    await message.reply(t("admin-opd-added", code=opd.code, name=opd.name(t.lang)))


async def cmd_opd_bind(message: Message, command: CommandObject, session: AsyncSession, t: Tr,
                       deps: lifecycle.Deps) -> None:
    if message.chat.type == "private":
        await message.reply(t("admin-bind-private"))
        return
    code = (command.args or "").strip()
    if not code:
        await message.reply(t("admin-bind-usage"))
        return
    thread = message.message_thread_id if message.is_topic_message else None
    opd = await uc.bind_opd(session, deps, code, message.chat.id, thread)
    deps.catalog.invalidate()
    if opd is None:
        await message.reply(t("admin-opd-unknown", code=code.upper()))
        return
    key = "admin-bind-ok-topic" if thread else "admin-bind-ok"
    await message.reply(t(key, code=opd.code, name=opd.name(t.lang)))


async def cmd_cat_add(message: Message, command: CommandObject, session: AsyncSession, t: Tr,
                      deps: lifecycle.Deps) -> None:
    try:
        spec = uc.parse_category(command.args or "")
    except uc.UsageError as exc:
        await message.reply(t(str(exc)))
        return
    result = await uc.add_category(session, spec)
    deps.catalog.invalidate()
    if result is None:
        await message.reply(t("admin-opd-unknown", code=spec.opd_code.upper()))
        return
    category, opd = result
    yes, no = t("admin-yes"), t("admin-no")
    await message.reply(t(
        "admin-cat-added", code=category.code, opd=opd.code, days=category.followup_deadline,
        photo=yes if category.requires_photo else no,
        location=yes if category.requires_location else no,
    ))


async def cmd_opds(message: Message, session: AsyncSession, t: Tr) -> None:
    await message.reply(await uc.catalogue_text(session, t))


async def cmd_admin_denied(message: Message, t: Tr) -> None:
    await message.reply(t("admin-only"))


async def cmd_pic_add(message: Message, command: CommandObject, session: AsyncSession, t: Tr
                      ) -> None:
    """/pic_add OPD (as a reply to the person) or /pic_add OPD <user id | @username>."""
    code, _, who = (command.args or "").strip().partition(" ")
    target = message.reply_to_message.from_user if message.reply_to_message else None
    if target is not None and not who.strip() and not target.is_bot:
        user_id, username, name = target.id, target.username, target.full_name
    else:
        user_id, username = uc.parse_person(who)
        name = None
    if not code or (user_id is None and username is None):
        await message.reply(t("admin-pic-usage"))
        return
    opd = await uc.add_pic(session, code, user_id, username, name)
    if opd is None:
        await message.reply(t("admin-opd-unknown", code=code.upper()))
        return
    shown = name or (f"@{username}" if username else str(user_id))
    await message.reply(t("admin-pic-added", who=shown, opd=opd.code))


async def cmd_pic_del(message: Message, command: CommandObject, session: AsyncSession, t: Tr
                      ) -> None:
    code, _, who = (command.args or "").strip().partition(" ")
    user_id, username = uc.parse_person(who)
    if not code or (user_id is None and username is None):
        await message.reply(t("admin-pic-usage"))
        return
    opd, removed = await uc.remove_pic(session, code, user_id, username)
    if opd is None:
        await message.reply(t("admin-opd-unknown", code=code.upper()))
        return
    key = "admin-pic-removed" if removed else "admin-pic-missing"
    await message.reply(t(key, who=who.strip(), opd=opd.code))


async def cmd_pic_list(message: Message, command: CommandObject, session: AsyncSession, t: Tr
                       ) -> None:
    code = (command.args or "").strip()
    opd = await repo.opd_by_code(session, code) if code else None
    if opd is None or opd.id is None:
        await message.reply(t("admin-opd-unknown", code=code.upper() or "?"))
        return
    pics = await repo.pics_of(session, opd.id)
    if not pics:
        await message.reply(t("admin-pic-none", opd=opd.code))
        return
    lines = [t("admin-pic-list", opd=opd.code)]
    lines += [f"• {p.name or '-'} — {p.user_id or '?'}" + (f" @{p.username}" if p.username
                                                              else "") for p in pics]
    await message.reply("\n".join(lines))


async def cmd_myid(message: Message, t: Tr) -> None:
    """`/myid`: the sender's user id and this chat's id, for ADMIN_IDS and seed files."""
    user = message.from_user.id if message.from_user else "-"
    thread = message.message_thread_id if message.is_topic_message else None
    key = "myid-topic" if thread else "myid"
    await message.reply(t(key, user=str(user), chat=str(message.chat.id), thread=str(thread)))


def make_admin_routers() -> tuple[Router, Router]:
    """(admin commands behind IsAdmin, the polite refusal for everyone else)."""
    admin = Router(name=__name__)
    admin.message.filter(IsAdmin())
    denied = Router(name=__name__ + ".denied")
    admin.message.register(cmd_opd_add, Command("opd_add"))
    admin.message.register(cmd_opd_bind, Command("opd_bind"))
    admin.message.register(cmd_cat_add, Command("cat_add"))
    admin.message.register(cmd_opds, Command("opds"))
    admin.message.register(cmd_pic_add, Command("pic_add"))
    admin.message.register(cmd_pic_del, Command("pic_del"))
    admin.message.register(cmd_pic_list, Command("pic_list"))
    denied.message.register(cmd_admin_denied, Command(*ADMIN_COMMANDS), F.from_user)
    denied.message.register(cmd_myid, Command("myid", "id"))
    return admin, denied
