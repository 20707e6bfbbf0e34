"""Admin commands by chat: a router-level role filter, then thin handlers over handlers/admin.

Every command's names come from handlers/telegram/menu.py; anyone without the role gets a
polite refusal, and the refusal is logged."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import BaseFilter, Command, CommandObject
from aiogram.types import BotCommand, BotCommandScopeChat, Message, User
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import admin as uc
from handlers import intake as core
from handlers import lifecycle
from handlers.i18n import Tr, Translator
from handlers.replies import Reply
from handlers.telegram.menu import menu_entries, names, owned_names
from handlers.telegram.render import commit_and_send, keep_sends, send_replies, stash_replies
from models import repo
from models.roles import ADMIN, OPERATOR
from models.tables import Citizen

log = logging.getLogger(__name__)

MENU_LANGUAGES = ("id", "en", None)  # None: clients in any other language
ADMIN_COMMANDS = owned_names()


class IsAdmin(BaseFilter):
    """Super-admins (ADMIN_IDS) and the admins they granted (models/roles.py)."""

    async def __call__(self, message: Message, session: AsyncSession,
                       deps: lifecycle.Deps) -> bool:
        if message.from_user is None or deps.roles is None:
            return False
        return await deps.roles.is_admin(session, message.from_user.id)


class IsOperator(BaseFilter):
    """Operators, and admins (who may do whatever operators may); for routers elsewhere."""

    async def __call__(self, event: Any, session: AsyncSession, deps: lifecycle.Deps) -> bool:
        user: User | None = getattr(event, "from_user", None)
        if user is None or deps.roles is None:
            return False
        return await deps.roles.is_operator(session, user.id)


# ---- the admin command menu ----------------------------------------------------------------


async def set_admin_menu(bot: Bot, translator: Translator, user_id: int,
                         default_language: str) -> bool:
    """The admin's own command menu (citizen + admin commands) in each language; False when
    Telegram refused it (e.g. the user never opened a chat with the bot)."""
    scope = BotCommandScopeChat(chat_id=user_id)
    try:
        for lang in MENU_LANGUAGES:
            t = translator.bind(lang or default_language)
            commands = [BotCommand(command=name, description=text[:256])
                        for name, text in menu_entries(t)]
            await bot.set_my_commands(commands, scope=scope, language_code=lang)
    except TelegramAPIError as exc:
        log.warning("admin menu for %s not set: %s", user_id, exc)
        return False
    return True


async def clear_admin_menu(bot: Bot, user_id: int) -> None:
    """Back to the citizen's menu for a user who is no longer an admin."""
    scope = BotCommandScopeChat(chat_id=user_id)
    try:
        for lang in MENU_LANGUAGES:
            await bot.delete_my_commands(scope=scope, language_code=lang)
    except TelegramAPIError as exc:
        log.warning("admin menu for %s not removed: %s", user_id, exc)


async def register_admin_menus(bot: Bot, translator: Translator, deps: lifecycle.Deps,
                               session: AsyncSession) -> int:
    """At start-up: every admin's menu (super-admins and granted admins); how many were set."""
    assert deps.roles is not None
    admins = sorted(await deps.roles.admins(session))
    await session.commit()  # no transaction held over the network
    done = 0
    for user_id in admins:
        done += await set_admin_menu(bot, translator, user_id, deps.default_language)
    return done


# ---- helpers -------------------------------------------------------------------------------


def _replied_user(message: Message) -> User | None:
    """The author of the message this command answers (not a topic's opening message)."""
    reply = message.reply_to_message
    if reply is None or reply.from_user is None or reply.from_user.is_bot:
        return None
    if message.is_topic_message and reply.message_id == message.message_thread_id:
        return None
    return reply.from_user


def _unknown(t: Tr, exc: uc.UnknownCode) -> str:
    if exc.kind == "opd":
        return t("admin-opd-unknown", code=exc.code)
    return t("admin-cat-unknown", code=exc.code)


Action = Callable[[], Awaitable[str]]


async def _answer(message: Message, session: AsyncSession, t: Tr, action: Action) -> bool:
    """Run a use case (not committed) and reply with its text, committed with it, or with its
    usage or the unknown code; True if done."""
    try:
        text = await action()
    except uc.UsageError as exc:
        await message.reply(t(str(exc)))
        return False
    except uc.UnknownCode as exc:
        await message.reply(_unknown(t, exc))
        return False
    await commit_and_send(session, message.reply(text))
    return True


def _refuse_log(message: Message, command: CommandObject | None, why: str) -> None:
    user = message.from_user.id if message.from_user else None
    name = command.command if command else "?"
    log.warning("refused /%s from user %s in chat %s: %s", name, user, message.chat.id, why)


# ---- roles (super-admins only) ---------------------------------------------------------------


async def _super_only(message: Message, command: CommandObject, t: Tr,
                      deps: lifecycle.Deps) -> bool:
    assert deps.roles is not None and message.from_user is not None
    if deps.roles.is_super(message.from_user.id):
        return True
    _refuse_log(message, command, "not a super-admin")
    await message.reply(t("admin-super-only"))
    return False


def _role_target(message: Message, args: str) -> tuple[int, str | None] | None:
    replied = _replied_user(message)
    if replied is not None and not args.strip():
        return replied.id, replied.full_name
    parsed = uc.parse_user_id(args)
    return (parsed[0], parsed[1] or None) if parsed else None


def make_grant(role: str) -> Callable[..., Awaitable[None]]:
    """The handler of /admin_tambah or /operator_tambah."""
    usage = "admin-usage-admin_tambah" if role == ADMIN else "admin-usage-operator_tambah"

    async def cmd_grant(message: Message, command: CommandObject, session: AsyncSession,
                        t: Tr, deps: lifecycle.Deps, bot: Bot, translator: Translator) -> None:
        if not await _super_only(message, command, t, deps):
            return
        assert deps.roles is not None and message.from_user is not None
        target = _role_target(message, command.args or "")
        if target is None:
            await message.reply(t(usage))
            return
        user_id, name = target
        if role == ADMIN and deps.roles.is_super(user_id):
            await message.reply(t("admin-role-super", user=str(user_id)))
            return
        created = await uc.grant_role(session, user_id, role, name, message.from_user.id,
                                      commit=False)
        role_name = t(f"admin-role-{role}")
        key = "admin-role-granted" if created else "admin-role-had"
        answer = message.reply(t(key, user=str(user_id), name=name or "-", role=role_name))
        await keep_sends(session, answer)  # committed with the role
        await session.commit()
        deps.roles.invalidate()
        if created:
            log.info("user %s granted %s to %s", message.from_user.id, role, user_id)
        if role == ADMIN:  # before the answer: when the granter reads it, the menu is there
            await set_admin_menu(bot, translator, user_id, deps.default_language)
        await answer

    cmd_grant.__name__ = f"cmd_grant_{role}"
    return cmd_grant


def make_revoke(role: str) -> Callable[..., Awaitable[None]]:
    """The handler of /admin_hapus or /operator_hapus."""
    usage = "admin-usage-admin_hapus" if role == ADMIN else "admin-usage-operator_hapus"

    async def cmd_revoke(message: Message, command: CommandObject, session: AsyncSession,
                         t: Tr, deps: lifecycle.Deps, bot: Bot) -> None:
        if not await _super_only(message, command, t, deps):
            return
        assert deps.roles is not None and message.from_user is not None
        target = _role_target(message, command.args or "")
        if target is None:
            await message.reply(t(usage))
            return
        user_id = target[0]
        if role == ADMIN and deps.roles.is_super(user_id):
            await message.reply(t("admin-role-super", user=str(user_id)))
            return
        removed = await uc.revoke_role(session, user_id, role, commit=False)
        role_name = t(f"admin-role-{role}")
        key = "admin-role-revoked" if removed else "admin-role-missing"
        answer = message.reply(t(key, user=str(user_id), role=role_name))
        await keep_sends(session, answer)  # committed with the revocation
        await session.commit()
        deps.roles.invalidate()
        if removed:
            log.info("user %s revoked %s from %s", message.from_user.id, role, user_id)
        if removed and role == ADMIN:
            await clear_admin_menu(bot, user_id)
        await answer

    cmd_revoke.__name__ = f"cmd_revoke_{role}"
    return cmd_revoke


async def cmd_roles(message: Message, session: AsyncSession, t: Tr,
                    deps: lifecycle.Deps) -> None:
    """`/peran`: super-admins, then granted admins and operators."""
    assert deps.roles is not None
    lines = [t("admin-roles-head")]
    lines += [f"• {uid} — {t('admin-role-super-name')}" for uid in sorted(deps.roles.super_admins)]
    rows = await uc.list_roles(session)
    for role in (ADMIN, OPERATOR):
        for row in (r for r in rows if r.role == role):
            by = t("admin-roles-by", user=str(row.granted_by or "-"))
            lines.append(f"• {row.user_id} — {t(f'admin-role-{role}')} — {row.name or '-'} ({by})")
    if len(lines) == 1:
        lines.append(t("admin-roles-none"))
    await message.reply("\n".join(lines))


# ---- OPDs ----------------------------------------------------------------------------------


async def cmd_opd_add(message: Message, command: CommandObject, session: AsyncSession, t: Tr,
                      deps: lifecycle.Deps) -> None:
    async def run() -> str:
        opd = await uc.add_opd(session, command.args or "", commit=False)
        return t("admin-opd-added", code=opd.code, name=opd.name(t.lang))

    if await _answer(message, session, t, run):
        deps.catalog.invalidate()


async def cmd_opd_edit(message: Message, command: CommandObject, session: AsyncSession, t: Tr,
                       deps: lifecycle.Deps) -> None:
    async def run() -> str:
        opd = await uc.edit_opd(session, command.args or "", commit=False)
        return t("admin-opd-edited", code=opd.code, name=opd.name_id, name_en=opd.name_en)

    if await _answer(message, session, t, run):
        deps.catalog.invalidate()


def make_opd_active(active: bool) -> Callable[..., Awaitable[None]]:
    """The handler of /opd_aktif or /opd_nonaktif."""

    async def cmd_opd_active(message: Message, command: CommandObject, session: AsyncSession,
                             t: Tr, deps: lifecycle.Deps) -> None:
        async def run() -> str:
            opd = await uc.set_opd_active(session, command.args or "", active, commit=False)
            key = "admin-opd-enabled" if active else "admin-opd-disabled"
            return t(key, code=opd.code, name=opd.name(t.lang))

        if await _answer(message, session, t, run):
            deps.catalog.invalidate()

    cmd_opd_active.__name__ = "cmd_opd_enable" if active else "cmd_opd_disable"
    return cmd_opd_active


async def cmd_opd_bind(message: Message, command: CommandObject, session: AsyncSession, t: Tr,
                       deps: lifecycle.Deps) -> None:
    if message.chat.type == "private":
        await message.reply(t("admin-bind-private"))
        return
    code = (command.args or "").strip()
    if not uc.CODE_RE.match(code):
        await message.reply(t("admin-bind-usage"))
        return
    thread = message.message_thread_id if message.is_topic_message else None
    opd = await uc.bind_opd(session, deps, code, message.chat.id, thread, commit=False)
    if opd is None:
        deps.catalog.invalidate()
        await message.reply(t("admin-opd-unknown", code=code.upper()))
        return
    key = "admin-bind-ok-topic" if thread else "admin-bind-ok"
    answer = message.reply(t(key, code=opd.code, name=opd.name(t.lang)))
    await keep_sends(session, answer)  # committed with the binding
    await session.commit()
    deps.catalog.invalidate()
    await answer


async def cmd_opds(message: Message, session: AsyncSession, t: Tr) -> None:
    await message.reply(await uc.catalogue_text(session, t))


# ---- categories ----------------------------------------------------------------------------


def _yes_no(t: Tr, value: bool) -> str:
    return t("admin-yes") if value else t("admin-no")


async def cmd_cat_add(message: Message, command: CommandObject, session: AsyncSession, t: Tr,
                      deps: lifecycle.Deps) -> None:
    async def run() -> str:
        spec = uc.parse_category(command.args or "")
        result = await uc.add_category(session, spec, commit=False)
        if result is None:
            raise uc.UnknownCode("opd", spec.opd_code.upper())
        category, opd = result
        return t("admin-cat-added", code=category.code, opd=opd.code,
                 days=category.followup_deadline, photo=_yes_no(t, category.requires_photo),
                 location=_yes_no(t, category.requires_location))

    if await _answer(message, session, t, run):
        deps.catalog.invalidate()


async def cmd_cat_edit(message: Message, command: CommandObject, session: AsyncSession, t: Tr,
                       deps: lifecycle.Deps) -> None:
    async def run() -> str:
        category = await uc.edit_category(session, uc.parse_category_edit(command.args or ""),
                                          commit=False)
        opd = await repo.get_opd(session, category.opd_id)
        told = t("admin-cat-edited", code=category.code, name=category.name(t.lang),
                 opd=opd.code if opd else "?", days=category.followup_deadline,
                 resolve=category.resolve_deadline,
                 photo=_yes_no(t, category.requires_photo),
                 location=_yes_no(t, category.requires_location))
        return told + "\n" + t("admin-cat-route-by-area",
                                answer=_yes_no(t, category.route_by_area))

    if await _answer(message, session, t, run):
        deps.catalog.invalidate()


async def cmd_deadline(message: Message, command: CommandObject, session: AsyncSession, t: Tr,
                       deps: lifecycle.Deps) -> None:
    async def run() -> str:
        category = await uc.set_deadlines(session, command.args or "", commit=False)
        return t("admin-deadline-set", code=category.code, days=category.followup_deadline,
                 resolve=category.resolve_deadline)

    if await _answer(message, session, t, run):
        deps.catalog.invalidate()


def make_cat_active(active: bool) -> Callable[..., Awaitable[None]]:
    """The handler of /kategori_aktif or /kategori_nonaktif."""

    async def cmd_cat_active(message: Message, command: CommandObject, session: AsyncSession,
                             t: Tr, deps: lifecycle.Deps) -> None:
        async def run() -> str:
            category = await uc.set_category_active(session, command.args or "", active,
                                                    commit=False)
            key = "admin-cat-enabled" if active else "admin-cat-disabled"
            return t(key, code=category.code, name=category.name(t.lang))

        if await _answer(message, session, t, run):
            deps.catalog.invalidate()

    cmd_cat_active.__name__ = "cmd_cat_enable" if active else "cmd_cat_disable"
    return cmd_cat_active


async def cmd_categories(message: Message, command: CommandObject, session: AsyncSession,
                         t: Tr) -> None:
    async def run() -> str:
        return await uc.categories_text(session, t, command.args or "")

    await _answer(message, session, t, run)


# ---- PICs ----------------------------------------------------------------------------------


async def cmd_pic_add(message: Message, command: CommandObject, session: AsyncSession, t: Tr
                      ) -> None:
    """/pic_add OPD (as a reply to the person) or /pic_add OPD <user id | @username>."""
    code, _, who = (command.args or "").strip().partition(" ")
    target = _replied_user(message)
    if target is not None and not who.strip():
        user_id, username, name = target.id, target.username, target.full_name
    else:
        user_id, username = uc.parse_person(who)
        name = None
    if not code or (user_id is None and username is None):
        await message.reply(t("admin-pic-usage"))
        return
    opd = await uc.add_pic(session, code, user_id, username, name, commit=False)
    if opd is None:
        await message.reply(t("admin-opd-unknown", code=code.upper()))
        return
    shown = name or (f"@{username}" if username else str(user_id))
    await commit_and_send(session, message.reply(t("admin-pic-added", who=shown, opd=opd.code)))


async def cmd_pic_del(message: Message, command: CommandObject, session: AsyncSession, t: Tr
                      ) -> None:
    code, _, who = (command.args or "").strip().partition(" ")
    user_id, username = uc.parse_person(who)
    if not code or (user_id is None and username is None):
        await message.reply(t("admin-pic-usage"))
        return
    opd, removed = await uc.remove_pic(session, code, user_id, username, commit=False)
    if opd is None:
        await message.reply(t("admin-opd-unknown", code=code.upper()))
        return
    key = "admin-pic-removed" if removed else "admin-pic-missing"
    await commit_and_send(session, message.reply(t(key, who=who.strip(), opd=opd.code)))


async def cmd_pic_list(message: Message, command: CommandObject, session: AsyncSession, t: Tr
                       ) -> None:
    code = (command.args or "").strip()
    if not code:
        await message.reply(t("admin-pic-usage"))
        return
    opd = await repo.opd_by_code(session, code)
    if opd is None or opd.id is None:
        await message.reply(t("admin-opd-unknown", code=code.upper()))
        return
    pics = await repo.pics_of(session, opd.id)
    if not pics:
        await message.reply(t("admin-pic-none", opd=opd.code))
        return
    lines = [t("admin-pic-list", opd=opd.code)]
    lines += [f"• {p.name or '-'} — {p.user_id or '?'}" + (f" @{p.username}" if p.username
                                                              else "") for p in pics]
    await message.reply("\n".join(lines))


# ---- help, refusal, /myid ----------------------------------------------------------------------


async def cmd_admin_help(message: Message, bot: Bot, intake: core.Intake,
                         session: AsyncSession, citizen: Citizen) -> None:
    """/help for any admin (granted ones too): the citizen's help plus the admin commands."""
    user = message.from_user
    turn = core.Turn(citizen=citizen, profile_name=user.full_name if user else None,
                     is_admin=True)
    chat = message.chat.id

    async def keep(replies: list[Reply]) -> None:  # committed with the turn
        stash_replies(session, chat, core.fold_replies(replies))

    replies = await intake.handle(session, turn, core.Command("help"), before_commit=keep)
    await send_replies(bot, chat, replies)


async def cmd_admin_denied(message: Message, command: CommandObject, t: Tr) -> None:
    _refuse_log(message, command, "not an admin")
    await message.reply(t("admin-only"))


async def cmd_myid(message: Message, t: Tr) -> None:
    """`/myid`: the sender's user id and this chat's id, for ADMIN_IDS and seed files."""
    user = message.from_user.id if message.from_user else "-"
    thread = message.message_thread_id if message.is_topic_message else None
    key = "myid-topic" if thread else "myid"
    await message.reply(t(key, user=str(user), chat=str(message.chat.id), thread=str(thread)))


HANDLERS: tuple[tuple[str, Callable[..., Awaitable[None]]], ...] = (
    ("admin_tambah", make_grant(ADMIN)),
    ("admin_hapus", make_revoke(ADMIN)),
    ("operator_tambah", make_grant(OPERATOR)),
    ("operator_hapus", make_revoke(OPERATOR)),
    ("peran", cmd_roles),
    ("opd_tambah", cmd_opd_add),
    ("opd_ubah", cmd_opd_edit),
    ("opd", cmd_opds),
    ("opd_nonaktif", make_opd_active(False)),
    ("opd_aktif", make_opd_active(True)),
    ("opd_ikat", cmd_opd_bind),
    ("kategori_tambah", cmd_cat_add),
    ("kategori_ubah", cmd_cat_edit),
    ("kategori", cmd_categories),
    ("tenggat", cmd_deadline),
    ("kategori_nonaktif", make_cat_active(False)),
    ("kategori_aktif", make_cat_active(True)),
    ("pic_tambah", cmd_pic_add),
    ("pic_hapus", cmd_pic_del),
    ("pic", cmd_pic_list),
)


def make_admin_routers() -> tuple[Router, Router]:
    """(admin commands behind IsAdmin, the polite refusal for everyone else)."""
    admin = Router(name=__name__)
    admin.message.filter(IsAdmin())
    denied = Router(name=__name__ + ".denied")
    for name, handler in HANDLERS:
        admin.message.register(handler, Command(*names(name)))
    admin.message.register(cmd_admin_help, Command("help", "bantuan"),
                           F.chat.type == "private")
    denied.message.register(cmd_admin_denied, Command(*ADMIN_COMMANDS), F.from_user)
    denied.message.register(cmd_myid, Command("myid", "id"))
    return admin, denied
