"""The admin toolset end to end: roles, OPDs, categories, deadlines, PICs, the admin menu and
/help, refusals, and concurrent admins, through the real Dispatcher and Bot."""

from __future__ import annotations

import asyncio
import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import select

from handlers.i18n import LANGUAGES, Translator
from handlers.telegram.admin import HANDLERS, IsOperator
from handlers.telegram.menu import ADMIN_MENU, CITIZEN_COMMANDS, owned_names
from models.tables import Category, Opd, Pic, StaffRole
from tests.conftest import ADMIN_ID, Harness, new_user
from tests.test_agency_groups import (
    PUPR_GROUP,
    card_of,
    file_report,
    group_press,
    group_say,
    setup_groups,
)
from tests.test_intake_telegram import category_id

OUTSIDER, EN_OUTSIDER = 700009, 700010
EN_ADMIN = ADMIN_ID + 50  # a super-admin whose Telegram speaks English (first contact: en)
SUPERS = [ADMIN_ID + i for i in range(20)]
BURST = 1000  # admins here send more commands in a row than a citizen's flood allowance
pytestmark = pytest.mark.settings(RATE_LIMIT_BURST=BURST, ADMIN_IDS=f"{ADMIN_ID},{EN_ADMIN}")


async def say(h: Harness, user: int, text: str, *, lang: str = "id") -> str:
    """A private command from `user`; the bot's one answer."""
    [answer] = await h.say(user, text, language_code=lang)
    return answer


async def in_group(h: Harness, user: int, text: str, **kwargs: Any) -> str:
    mark = h.fake.mark()
    await group_say(h, PUPR_GROUP, user, text, **kwargs)
    [call] = await h.fake.wait_for("sendMessage", lambda c: c.chat_id == PUPR_GROUP, since=mark)
    return call.text or ""


async def opd(h: Harness, code: str) -> Opd | None:
    async with h.sessionmaker() as s:
        return (await s.exec(select(Opd).where(Opd.code == code))).first()


async def category(h: Harness, code: str) -> Category:
    async with h.sessionmaker() as s:
        return (await s.exec(select(Category).where(Category.code == code))).one()


async def roles(h: Harness) -> list[tuple[int, str]]:
    async with h.sessionmaker() as s:
        return sorted((r.user_id, r.role) for r in (await s.exec(select(StaffRole))).all())


def menu_of(h: Harness, user: int, lang: str | None) -> list[dict[str, str]] | None:
    """The command menu the fake Bot API holds for a user's private chat and a language."""
    key = (json.dumps({"type": "chat", "chat_id": user}, sort_keys=True), lang or "")
    return h.fake.commands.get(key)


async def menu_categories(h: Harness, user: int) -> set[int]:
    """Ids of every category the citizen's menu offers, over all its pages."""
    await h.say(user, "/start")
    await h.press(user, "new")
    seen: set[int] = set()
    page = 0
    while True:
        buttons = h.buttons(user)
        seen |= {int(b.split(":")[2]) for b in buttons if b.startswith("in:cat:")}
        if f"in:page:{page + 1}" not in buttons:
            return seen
        page += 1
        await h.press(user, "page", str(page))


# ---- refusals --------------------------------------------------------------------------


async def test_every_admin_command_is_refused_for_a_non_admin(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    h = harness
    caplog.set_level(logging.WARNING, logger="handlers.telegram.admin")
    names = owned_names()
    assert len(names) == 2 * len(HANDLERS) + 1  # every command has an alias; /kategori two
    for name in names:
        answer = await say(h, OUTSIDER, f"/{name} PUPR 123")
        assert answer == "Perintah ini hanya untuk admin.", name
        assert any(f"refused /{name} from user {OUTSIDER}" in r.getMessage()
                   for r in caplog.records), name
    # The same in a group, and in English.
    assert "hanya untuk admin" in await in_group(h, OUTSIDER, "/opd_nonaktif PUPR")
    assert await say(h, EN_OUTSIDER, "/opd_disable PUPR", lang="en") == \
        "This command is for admins only."
    # Nothing changed.
    assert (await opd(h, "PUPR")).active  # type: ignore[union-attr]
    assert await roles(h) == []


# ---- roles --------------------------------------------------------------------------------


async def test_roles_granted_and_revoked(harness: Harness,
                                         caplog: pytest.LogCaptureFixture) -> None:
    h, user = harness, new_user()
    caplog.set_level(logging.WARNING, logger="handlers.telegram.admin")
    assert "hanya untuk admin" in await say(h, user, "/opd")

    assert "sekarang admin" in await say(h, ADMIN_ID, f"/admin_tambah {user} Budi Santoso")
    assert "sudah menjadi admin" in await say(h, ADMIN_ID, f"/add_admin {user}")
    assert await roles(h) == [(user, "admin")]
    # The new admin can administer at once, and has the admin menu in both languages.
    assert "PUPR — Dinas Pekerjaan Umum" in await say(h, user, "/opd")
    for lang in ("id", "en", None):
        commands = [c["command"] for c in menu_of(h, user, lang) or []]
        assert "opd_tambah" in commands and "cari" in commands and "lapor" in commands
    # ... but cannot grant: that is for super-admins, and the refusal is logged.
    assert "super-admin" in await say(h, user, f"/admin_tambah {OUTSIDER}")
    assert any(f"refused /admin_tambah from user {user}" in r.getMessage()
               for r in caplog.records)
    listing = await say(h, ADMIN_ID, "/peran")
    assert f"{ADMIN_ID} — super-admin" in listing and f"{user} — admin — Budi Santoso" in listing

    # Revoked: refused again, and the admin menu is gone.
    assert "bukan admin lagi" in await say(h, ADMIN_ID, f"/admin_hapus {user}")
    assert "hanya untuk admin" in await say(h, user, "/opd")
    assert menu_of(h, user, "id") is None and menu_of(h, user, "en") is None
    assert "bukan admin" in await say(h, ADMIN_ID, f"/remove_admin {user}")
    assert await roles(h) == []
    # A super-admin's role comes from ADMIN_IDS and cannot be revoked here.
    assert "ADMIN_IDS" in await say(h, ADMIN_ID, f"/admin_hapus {ADMIN_ID}")


async def test_operator_granted_by_reply_in_a_group(harness: Harness) -> None:
    h, deps = harness, harness.app.dispatcher["deps"]  # type: ignore[union-attr]
    hello = await group_say(h, PUPR_GROUP, OUTSIDER, "halo", first_name="Sari")
    answer = await in_group(h, ADMIN_ID, "/operator_tambah",
                            reply_to_message_id=hello["message_id"])
    assert f"{OUTSIDER} (Sari) sekarang operator" in answer
    assert await roles(h) == [(OUTSIDER, "operator")]
    # Operators pass IsOperator (so do admins), but are not admins.
    async with h.sessionmaker() as s:
        check = IsOperator()
        assert await check(SimpleNamespace(from_user=SimpleNamespace(id=OUTSIDER)), s, deps)
        assert await check(SimpleNamespace(from_user=SimpleNamespace(id=ADMIN_ID)), s, deps)
        assert not await check(SimpleNamespace(from_user=SimpleNamespace(id=1234)), s, deps)
    assert "hanya untuk admin" in await say(h, OUTSIDER, "/opd")
    assert "bukan operator lagi" in await say(h, ADMIN_ID, f"/remove_operator {OUTSIDER}")
    async with h.sessionmaker() as s:
        assert not await IsOperator()(SimpleNamespace(from_user=SimpleNamespace(id=OUTSIDER)),
                                      s, deps)


async def test_role_commands_malformed(harness: Harness) -> None:
    h = harness
    for command in ("/admin_tambah", "/admin_tambah budi", "/operator_tambah -5",
                    "/admin_hapus", "/operator_hapus x"):
        assert (await say(h, ADMIN_ID, command)).startswith("Format: /"), command
    assert "Usage: /operator_tambah" in await say(h, EN_ADMIN, "/add_operator", lang="en")
    assert await roles(h) == []


# ---- the admin menu and /help --------------------------------------------------------------


@pytest.mark.settings(ADMIN_IDS=f"{ADMIN_ID},{ADMIN_ID + 1}", RATE_LIMIT_BURST=BURST)
async def test_admin_menu_per_admin_and_language(harness: Harness) -> None:
    h, granted = harness, new_user()
    translator = Translator()
    # At start-up: each super-admin's chat, in Indonesian, English and the default.
    for admin in (ADMIN_ID, ADMIN_ID + 1):
        for lang in ("id", "en"):
            menu = menu_of(h, admin, lang)
            assert menu is not None
            commands = {c["command"]: c["description"] for c in menu}
            assert list(commands)[:len(CITIZEN_COMMANDS)] == list(CITIZEN_COMMANDS)
            for entry in ADMIN_MENU:
                assert commands[entry.name] == translator(lang, entry.description_key)
        assert menu_of(h, admin, None) == menu_of(h, admin, "id")
    assert dict((c["command"], c["description"]) for c in menu_of(h, ADMIN_ID, "en") or [])[
        "opd_nonaktif"] == "Deactivate an agency"
    # Citizens keep the citizen menu only; no one else got an admin menu.
    chats = {json.loads(scope).get("chat_id") for scope, _ in h.fake.commands}
    assert chats == {None, ADMIN_ID, ADMIN_ID + 1}
    public = h.fake.commands[(json.dumps({"type": "all_private_chats"}), "id")]
    assert [c["command"] for c in public] == list(CITIZEN_COMMANDS)

    # A granted admin gets theirs at once, and again at the next start-up.
    await say(h, ADMIN_ID, f"/admin_tambah {granted}")
    assert menu_of(h, granted, "en") == menu_of(h, ADMIN_ID, "en")
    h.fake.commands.clear()
    from bot.app import register_commands

    await register_commands(h.app)  # type: ignore[arg-type]
    assert menu_of(h, granted, "id") == menu_of(h, ADMIN_ID, "id")


async def test_admin_help_in_the_admins_language(harness: Harness) -> None:
    h, citizen, granted = harness, new_user(), new_user()
    text = "\n".join(await h.say(ADMIN_ID, "/help"))
    assert "Cara memakai" in text and "Perintah admin" in text
    for entry in ADMIN_MENU:
        assert f"/{entry.name}" in text, entry.name
    assert "/tenggat (/deadline) — Tenggat tindak lanjut" in text
    assert "   /kategori_tambah jalan PUPR 5 foto=ya" in text

    await say(h, ADMIN_ID, f"/admin_tambah {granted}")
    text = "\n".join(await h.say(granted, "/help", language_code="en"))
    assert "How to use" in text or "Admin commands" in text
    assert "Admin commands" in text and "/opd_nonaktif (/opd_disable) — Deactivate" in text
    assert "/siaran_batal — Cancel the running broadcast" in text

    text = "\n".join(await h.say(citizen, "/help"))
    assert "Cara memakai" in text and "Perintah admin" not in text and "/opd" not in text


# ---- OPDs -----------------------------------------------------------------------------


async def test_opd_commands(harness: Harness) -> None:
    h = harness
    assert "OPD BPBD disimpan" in await say(
        h, ADMIN_ID, "/opd_tambah BPBD Badan Penanggulangan Bencana | Disaster Agency")
    for bad in ("/opd_tambah", "/opd_tambah B", "/opd_tambah BPBD", "/opd_tambah BPBD | x"):
        assert (await say(h, ADMIN_ID, bad)).startswith("Format: /opd_tambah"), bad
    assert "Usage: /opd_tambah" in await say(h, EN_ADMIN, "/opd_add", lang="en")

    assert "BPBD diubah: BPBD Pelalawan | Disaster Management" in await say(
        h, ADMIN_ID, "/opd_ubah BPBD BPBD Pelalawan | Disaster Management")
    assert "OPD NOPE tidak ada" in await say(h, ADMIN_ID, "/opd_ubah NOPE Apa saja")
    assert (await say(h, ADMIN_ID, "/opd_edit BPBD")).startswith("Format: /opd_ubah")
    assert (await opd(h, "BPBD")).name_en == "Disaster Management"  # type: ignore[union-attr]

    assert "dinonaktifkan" in await say(h, ADMIN_ID, "/opd_nonaktif DISHUB")
    assert "OPD NOPE tidak ada" in await say(h, ADMIN_ID, "/opd_disable nope")
    assert (await say(h, ADMIN_ID, "/opd_nonaktif")).startswith("Format: /opd_nonaktif")
    listing = await say(h, ADMIN_ID, "/opd")
    assert "DISHUB — Dinas Perhubungan · NONAKTIF · BELUM ada grup" in listing
    assert "BPBD — BPBD Pelalawan · aktif" in listing
    assert "(tersembunyi: OPD nonaktif)" in listing
    assert "aktif kembali" in await say(h, ADMIN_ID, "/opd_enable DISHUB")
    assert (await opd(h, "DISHUB")).active  # type: ignore[union-attr]

    # The Indonesian name of /opd_bind, in a topic of a forum group.
    assert "Topik ini sekarang terhubung ke OPD BPBD" in await in_group(
        h, ADMIN_ID, "/opd_ikat BPBD", message_thread_id=5)
    assert "topik 5" in await say(h, ADMIN_ID, "/opds")
    assert "Format: /opd_ikat" in await in_group(h, ADMIN_ID, "/opd_ikat")
    assert "bukan di chat pribadi" in await say(h, ADMIN_ID, "/opd_ikat BPBD")


async def test_inactive_opd_and_category_hidden_from_citizens(harness: Harness) -> None:
    h, citizen = harness, new_user()
    jalan, sampah = await category_id(h, "jalan"), await category_id(h, "sampah")
    async with h.sessionmaker() as s:
        dlh = (await s.exec(select(Opd).where(Opd.code == "DLH"))).one()
        dlh_cats = {c.id for c in (await s.exec(select(Category).where(
            Category.opd_id == dlh.id))).all()}
    assert sampah in dlh_cats
    before = await menu_categories(h, citizen)
    assert {jalan} | dlh_cats <= before

    await say(h, ADMIN_ID, "/opd_nonaktif DLH")
    await say(h, ADMIN_ID, "/kategori_nonaktif jalan")
    after = await menu_categories(h, citizen)
    assert after == before - dlh_cats - {jalan}
    # A button from an older menu does not choose a hidden category.
    await h.say(citizen, "/start")
    await h.press(citizen, "new")
    texts = await h.press(citizen, "cat", str(sampah))
    assert not any(t.startswith("Kategori:") for t in texts), texts

    await say(h, ADMIN_ID, "/opd_aktif DLH")
    await say(h, ADMIN_ID, "/kategori_aktif jalan")
    assert await menu_categories(h, citizen) == before


async def test_inactive_opd_is_no_reassign_target(harness: Harness) -> None:
    h, citizen = harness, new_user()
    await setup_groups(h)
    code = await file_report(h, citizen)
    card = await card_of(h, PUPR_GROUP, code)
    card_id = card.result["message_id"]
    await say(h, ADMIN_ID, "/opd_nonaktif DLH")
    markup = card.params["reply_markup"]
    reassign = next(b["callback_data"] for row in markup["inline_keyboard"] for b in row
                    if b["callback_data"].split(":")[2] == "reassign")
    await group_press(h, PUPR_GROUP, ADMIN_ID, reassign, card_id)
    keyboard = (h.fake.message(PUPR_GROUP, card_id) or {})["reply_markup"]["inline_keyboard"]
    targets = [b["text"] for row in keyboard for b in row]
    assert "Dinas Kesehatan" in targets
    assert "Dinas Lingkungan Hidup" not in targets
    # The OPD's open reports stay where they are: this one is PUPR's and still open.
    async with h.sessionmaker() as s:
        from models.tables import Report

        report = (await s.exec(select(Report).where(Report.code == code))).one()
        assert report.status == "dispatched"


# ---- categories and deadlines -----------------------------------------------------------


async def test_category_commands(harness: Harness) -> None:
    h = harness
    assert "Kategori banjir → DLH disimpan" in await say(
        h, ADMIN_ID, "/kategori_tambah banjir DLH 3 foto=ya Banjir | Flood")
    assert "OPD NOPE tidak ada" in await say(h, ADMIN_ID, "/cat_add x1 NOPE 3 Apa | What")
    for bad in ("/kategori_tambah", "/kategori_tambah banjir DLH tiga Banjir",
                "/kategori_tambah banjir DLH 3 warna=biru Banjir"):
        assert (await say(h, ADMIN_ID, bad)).startswith("Format: /kategori_tambah"), bad

    answer = await say(h, ADMIN_ID, "/kategori_ubah banjir opd=PUPR lokasi=ya followup=48j "
                                    "nama=Banjir dan genangan | Flood and waterlogging")
    assert "Kategori banjir (Banjir dan genangan) → PUPR disimpan" in answer
    cat = await category(h, "banjir")
    assert (cat.name_en, cat.requires_location, cat.requires_photo) == (
        "Flood and waterlogging", True, True)
    assert cat.followup_deadline == "48h"
    # Bad input changes nothing: an unknown OPD, an unknown field, a bad flag or deadline.
    assert "OPD NOPE tidak ada" in await say(
        h, ADMIN_ID, "/kategori_ubah banjir nama=Lain | Other opd=NOPE")
    assert "Kategori hilang tidak ada" in await say(h, ADMIN_ID, "/cat_edit hilang foto=ya")
    for bad in ("/kategori_ubah banjir", "/kategori_ubah banjir warna=biru",
                "/kategori_ubah banjir foto=mungkin", "/kategori_ubah banjir followup=kapan",
                "/kategori_ubah banjir Banjir", "/kategori_ubah banjir foto=ya foto=tidak",
                "/kategori_ubah banjir followup=30d"):
        assert (await say(h, ADMIN_ID, bad)).startswith("Format: /kategori_ubah"), bad
    assert await category(h, "banjir") == cat

    assert "tindak lanjut pertama 5d, penyelesaian 14d" in await say(
        h, ADMIN_ID, "/tenggat banjir 5d 14d")
    assert "tindak lanjut pertama 24h, penyelesaian 14d" in await say(
        h, ADMIN_ID, "/deadline banjir 24j")
    assert "first follow-up 2d, resolution 10d" in await say(
        h, EN_ADMIN, "/deadline banjir 2 10d", lang="en")
    for bad in ("/tenggat", "/tenggat banjir", "/tenggat banjir 5x", "/tenggat banjir 20d 10d",
                "/tenggat banjir 0d", "/tenggat banjir 1d 2d 3d"):
        assert (await say(h, ADMIN_ID, bad)).startswith("Format: /tenggat"), bad
    assert "Kategori hilang tidak ada" in await say(h, ADMIN_ID, "/tenggat hilang 5d")
    cat = await category(h, "banjir")
    assert (cat.followup_deadline, cat.resolve_deadline) == ("2d", "10d")

    assert "dinonaktifkan" in await say(h, ADMIN_ID, "/kategori_nonaktif banjir")
    assert not (await category(h, "banjir")).active
    assert (await say(h, ADMIN_ID, "/cat_disable")).startswith("Format: /kategori_nonaktif")
    listing = await say(h, ADMIN_ID, "/kategori PUPR")
    assert "PUPR • banjir: Banjir dan genangan — tindak lanjut 2d, selesai 10d" in listing
    assert "(nonaktif)" in listing and "sampah" not in listing
    assert "aktif kembali" in await say(h, ADMIN_ID, "/cat_enable banjir")
    assert "OPD NOPE tidak ada" in await say(h, ADMIN_ID, "/kategori NOPE")
    assert "DLH • sampah" in await say(h, ADMIN_ID, "/categories")


# ---- PICs ---------------------------------------------------------------------------------


async def test_pic_commands_in_indonesian(harness: Harness) -> None:
    h = harness
    assert "PIC 555001 ditambahkan ke PUPR" in await say(h, ADMIN_ID, "/pic_tambah PUPR 555001")
    assert "555001" in await say(h, ADMIN_ID, "/pic PUPR")
    assert "OPD NOPE tidak ada" in await say(h, ADMIN_ID, "/pic_tambah NOPE 555001")
    assert (await say(h, ADMIN_ID, "/pic_tambah PUPR")).startswith("Format: /pic_tambah")
    assert (await say(h, ADMIN_ID, "/pic")).startswith("Format: /pic_tambah")
    assert "PIC 555001 dihapus dari PUPR" in await say(h, ADMIN_ID, "/pic_hapus PUPR 555001")
    assert "belum punya PIC" in await say(h, ADMIN_ID, "/pic_list PUPR")


# ---- many admins at once ----------------------------------------------------------------


@pytest.mark.settings(ADMIN_IDS=",".join(map(str, SUPERS)), RATE_LIMIT_BURST=BURST)
async def test_concurrent_grants_and_edits_stay_consistent(harness: Harness) -> None:
    h, target = harness, new_user()
    # 20 super-admins grant the same role at once: one row, one "granted", the rest told.
    answers = await asyncio.gather(*(say(h, a, f"/admin_tambah {target}") for a in SUPERS))
    assert sum("sekarang admin" in a for a in answers) == 1, answers
    assert sum("sudah menjadi admin" in a for a in answers) == 19, answers
    assert await roles(h) == [(target, "admin")]
    assert "PUPR" in await say(h, target, "/opd")

    # 20 admins add the same new OPD at once: one OPD, named by one of them.
    answers = await asyncio.gather(*(
        say(h, a, f"/opd_tambah BARU Dinas Baru {i} | New Agency {i}")
        for i, a in enumerate(SUPERS)))
    assert all("OPD BARU disimpan" in a for a in answers), answers
    async with h.sessionmaker() as s:
        rows = (await s.exec(select(Opd).where(Opd.code == "BARU"))).all()
    assert len(rows) == 1 and rows[0].name_id.startswith("Dinas Baru ")

    # ... and the same new category for it: one category.
    answers = await asyncio.gather(*(
        say(h, a, f"/kategori_tambah jembatan BARU {i + 1} Jembatan {i} | Bridge {i}")
        for i, a in enumerate(SUPERS)))
    assert all("Kategori jembatan → BARU disimpan" in a for a in answers), answers
    async with h.sessionmaker() as s:
        cats = (await s.exec(select(Category).where(Category.code == "jembatan"))).all()
    assert len(cats) == 1 and cats[0].opd_id == rows[0].id

    # 20 deadline edits at once: the row is one admin's edit, whole.
    answers = await asyncio.gather(*(
        say(h, a, f"/tenggat jalan {i + 1}d {i + 21}d") for i, a in enumerate(SUPERS)))
    assert all("penyelesaian" in a for a in answers), answers
    cat = await category(h, "jalan")
    followup = int(cat.followup_deadline[:-1])
    assert cat.resolve_deadline == f"{followup + 20}d"
    # 20 admins register the same PIC at once: one row.
    answers = await asyncio.gather(*(say(h, a, "/pic_tambah BARU 555002") for a in SUPERS))
    assert all("ditambahkan" in a for a in answers), answers
    async with h.sessionmaker() as s:
        pics = (await s.exec(select(Pic).where(Pic.user_id == 555002))).all()
    assert len(pics) == 1

    # And 20 revocations at once: one "revoked", the role gone, the user refused.
    answers = await asyncio.gather(*(say(h, a, f"/admin_hapus {target}") for a in SUPERS))
    assert sum("bukan admin lagi" in a for a in answers) == 1, answers
    assert await roles(h) == []
    assert "hanya untuk admin" in await say(h, target, "/opd")


async def test_an_edit_reads_the_row_after_the_edit_under_way(harness: Harness) -> None:
    """Two deadline edits of one category at once: the second reads the row only once the
    first has committed, so the row ends as the second admin's edit, whole. (Read before, the
    second edit's follow-up equals what it read, and the ORM writes only its resolve: one
    admin's follow-up with the other's resolve.)"""
    from sqlalchemy import text

    from handlers import admin as uc

    h = harness
    assert h.app is not None
    async with h.sessionmaker() as s:
        await uc.set_deadlines(s, "jalan 3d 14d")
    async with h.sessionmaker() as first, h.sessionmaker() as second:
        await uc.set_deadlines(first, "jalan 10d 30d", commit=False)
        await first.flush()  # its UPDATE holds the row (SQLite: the database) until its commit

        async def edit() -> None:
            await uc.set_deadlines(second, "jalan 3d 23d")

        task = asyncio.create_task(edit())
        if h.app.engine.dialect.name == "postgresql":
            async with h.app.engine.connect() as look:  # until the second waits on a lock
                for _ in range(400):
                    waiting = (await look.execute(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                        "current_database() AND wait_event_type = 'Lock'"))).scalar_one()
                    if waiting:
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError("the second edit never waited")
        await first.commit()
        await task
    cat = await category(h, "jalan")
    assert (cat.followup_deadline, cat.resolve_deadline) == ("3d", "23d")


# ---- the list itself ------------------------------------------------------------------------


def test_admin_menu_is_complete_and_translated() -> None:
    translator = Translator()
    served = {name for name, _ in HANDLERS}
    assert served == {c.name for c in ADMIN_MENU if c.owner == "admin"}
    assert {"cari", "alihkan", "terlambat", "statistik", "rapor", "ekspor", "templat", "siaran",
            "siaran_batal", "blokir", "buka_blokir"} <= {c.name for c in ADMIN_MENU}
    all_names = [n for c in ADMIN_MENU for n in c.names] + list(CITIZEN_COMMANDS)
    assert len(all_names) == len(set(all_names))
    assert len(CITIZEN_COMMANDS) + len(ADMIN_MENU) <= 100  # Telegram's menu limit
    for lang in LANGUAGES:
        keys = translator.keys(lang)
        for c in ADMIN_MENU:
            assert c.description_key in keys and c.example_key in keys, (lang, c.name)
            assert 1 <= len(translator(lang, c.description_key)) <= 256
            assert translator(lang, c.example_key).startswith(f"/{c.name}")


async def test_a_revocation_during_a_role_read_is_not_cached() -> None:
    from models.roles import Roles

    class SlowSession:
        """Answers the role query only when let through, after saying it was asked."""

        def __init__(self, rows: list[StaffRole]) -> None:
            self.rows, self.asked, self.go = rows, asyncio.Event(), asyncio.Event()

        async def exec(self, _query: Any) -> Any:
            snapshot = list(self.rows)  # what the database had when the read began
            self.asked.set()
            await self.go.wait()
            return SimpleNamespace(all=lambda: snapshot)

    rows = [StaffRole(user_id=5, role="admin")]
    session: Any = SlowSession(rows)
    roles = Roles(frozenset())
    reading = asyncio.create_task(roles.is_admin(session, 5))
    await session.asked.wait()
    rows.clear()  # the revocation commits while that read is under way ...
    roles.invalidate()  # ... and invalidates the cache after its commit
    session.go.set()
    assert await reading  # that read began before the revocation
    assert not await roles.is_admin(session, 5)  # but its result was not kept


async def test_grant_holds_when_telegram_refuses_the_menu(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    h, user = harness, new_user()
    caplog.set_level(logging.WARNING, logger="handlers.telegram.admin")
    # The user never opened a chat with the bot: Telegram refuses a menu for that chat.
    h.fake.fail_next("setMyCommands", status=400, description="Bad Request: chat not found",
                     chat_id=None)
    assert "sekarang admin" in await say(h, ADMIN_ID, f"/admin_tambah {user}")
    assert await roles(h) == [(user, "admin")]
    assert any(f"admin menu for {user} not set" in r.getMessage() for r in caplog.records)
    assert "PUPR" in await say(h, user, "/opd")
