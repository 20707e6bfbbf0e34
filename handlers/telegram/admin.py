"""Admin commands by chat: router-level filter lets only ADMIN_IDS through."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import BaseFilter, Command, CommandObject
from aiogram.types import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import admin as uc
from handlers.i18n import Tr

ADMIN_COMMANDS = ("opd_add", "opd_bind", "cat_add", "opds")


class IsAdmin(BaseFilter):
    async def __call__(self, message: Message, admin_ids: frozenset[int]) -> bool:
        return message.from_user is not None and message.from_user.id in admin_ids



async def cmd_opd_add(message: Message, command: CommandObject, session: AsyncSession, t: Tr
                      ) -> None:
    try:
        opd = await uc.add_opd(session, command.args or "")
    except uc.UsageError as exc:
        await message.reply(t(str(exc)))
        return
    await message.reply(t("admin-opd-added", code=opd.code, name=opd.name(t.lang)))


async def cmd_opd_bind(message: Message, command: CommandObject, session: AsyncSession, t: Tr
                       ) -> None:
    if message.chat.type == "private":
        await message.reply(t("admin-bind-private"))
        return
    code = (command.args or "").strip()
    if not code:
        await message.reply(t("admin-bind-usage"))
        return
    thread = message.message_thread_id if message.is_topic_message else None
    opd = await uc.bind_opd(session, code, message.chat.id, thread)
    if opd is None:
        await message.reply(t("admin-opd-unknown", code=code.upper()))
        return
    key = "admin-bind-ok-topic" if thread else "admin-bind-ok"
    await message.reply(t(key, code=opd.code, name=opd.name(t.lang)))


async def cmd_cat_add(message: Message, command: CommandObject, session: AsyncSession, t: Tr
                      ) -> None:
    try:
        spec = uc.parse_category(command.args or "")
    except uc.UsageError as exc:
        await message.reply(t(str(exc)))
        return
    result = await uc.add_category(session, spec)
    if result is None:
        await message.reply(t("admin-opd-unknown", code=spec.opd_code.upper()))
        return
    category, opd = result
    yes, no = t("admin-yes"), t("admin-no")
    await message.reply(t(
        "admin-cat-added", code=category.code, opd=opd.code, days=category.deadline_days,
        photo=yes if category.requires_photo else no,
        location=yes if category.requires_location else no,
    ))


async def cmd_opds(message: Message, session: AsyncSession, t: Tr) -> None:
    await message.reply(await uc.catalogue_text(session, t))


async def cmd_admin_denied(message: Message, t: Tr) -> None:
    await message.reply(t("admin-only"))


def make_admin_routers() -> tuple[Router, Router]:
    """(admin commands behind IsAdmin, the polite refusal for everyone else)."""
    admin = Router(name=__name__)
    admin.message.filter(IsAdmin())
    denied = Router(name=__name__ + ".denied")
    admin.message.register(cmd_opd_add, Command("opd_add"))
    admin.message.register(cmd_opd_bind, Command("opd_bind"))
    admin.message.register(cmd_cat_add, Command("cat_add"))
    admin.message.register(cmd_opds, Command("opds"))
    denied.message.register(cmd_admin_denied, Command(*ADMIN_COMMANDS), F.from_user)
    return admin, denied
