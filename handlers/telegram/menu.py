"""The one list of admin commands: names, English aliases, menu descriptions and examples.

Pure data and text (no aiogram import), so the core's help, the command menu set at
start-up and on a grant, and the admin routers all read the same list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# The citizen's commands, in menu order; their descriptions are the keys `cmd-<name>`.
CITIZEN_COMMANDS = ("start", "lapor", "status", "laporanku", "batal", "bahasa", "dataku",
                    "hapus_dataku", "help")


@dataclass(frozen=True)
class MenuCommand:
    """One admin command: its Indonesian name, aliases, and its translation keys."""

    name: str
    aliases: tuple[str, ...] = ()
    owner: str = "admin"  # admin.py registers it; 'reports' / 'tools' are built elsewhere

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def description_key(self) -> str:
        return f"menu-{self.name}"

    @property
    def example_key(self) -> str:
        return f"menu-ex-{self.name}"

    @property
    def usage_key(self) -> str:
        return f"usage-{self.name}"


ADMIN_MENU: tuple[MenuCommand, ...] = (
    # People and roles (super-admins grant and revoke).
    MenuCommand("admin_tambah", ("add_admin",)),
    MenuCommand("admin_hapus", ("remove_admin",)),
    MenuCommand("operator_tambah", ("add_operator",)),
    MenuCommand("operator_hapus", ("remove_operator",)),
    MenuCommand("peran", ("roles",)),
    # OPDs.
    MenuCommand("opd_tambah", ("opd_add",)),
    MenuCommand("opd_ubah", ("opd_edit",)),
    MenuCommand("opd", ("opds",)),
    MenuCommand("opd_nonaktif", ("opd_disable",)),
    MenuCommand("opd_aktif", ("opd_enable",)),
    MenuCommand("opd_ikat", ("opd_bind",)),
    # Categories.
    MenuCommand("kategori_tambah", ("cat_add",)),
    MenuCommand("kategori_ubah", ("cat_edit",)),
    MenuCommand("kategori", ("cats", "categories")),
    MenuCommand("tenggat", ("deadline",)),
    MenuCommand("kategori_nonaktif", ("cat_disable",)),
    MenuCommand("kategori_aktif", ("cat_enable",)),
    # PICs.
    MenuCommand("pic_tambah", ("pic_add",)),
    MenuCommand("pic_hapus", ("pic_del",)),
    MenuCommand("pic", ("pic_list",)),
    # Reports and oversight (built in parallel: handlers of their own).
    MenuCommand("cari", owner="reports"),
    MenuCommand("alihkan", owner="reports"),
    MenuCommand("terlambat", owner="reports"),
    MenuCommand("statistik", owner="reports"),
    MenuCommand("rapor", owner="reports"),
    MenuCommand("ekspor", owner="reports"),
    # Tools (built in parallel).
    MenuCommand("templat", owner="tools"),
    MenuCommand("siaran", owner="tools"),
    MenuCommand("siaran_batal", owner="tools"),
    MenuCommand("blokir", owner="tools"),
    MenuCommand("buka_blokir", owner="tools"),
)

BY_NAME = {c.name: c for c in ADMIN_MENU}


def names(name: str) -> tuple[str, ...]:
    """A command's name and its aliases, for aiogram's `Command(*names(...))`."""
    return BY_NAME[name].names


def owned_names() -> tuple[str, ...]:
    """Every name and alias of the commands handlers/telegram/admin.py serves."""
    return tuple(n for c in ADMIN_MENU if c.owner == "admin" for n in c.names)


def menu_entries(t: Callable[[str], str]) -> list[tuple[str, str]]:
    """(command, description) for an admin's menu: the citizen's commands, then the admin's."""
    entries = [(c, t(f"cmd-{c}")) for c in CITIZEN_COMMANDS]
    entries += [(c.name, t(c.description_key)) for c in ADMIN_MENU]
    return entries


def admin_help(t: Callable[[str], str]) -> str:
    """The admin part of /help: each command, its aliases, what it does and one example."""
    lines = [t("help-admin-head")]
    for c in ADMIN_MENU:
        aliases = " ".join(f"/{a}" for a in c.aliases)
        head = f"/{c.name}" + (f" ({aliases})" if aliases else "")
        lines.append(f"{head} — {t(c.description_key)}")
        lines.append(f"   {t(c.example_key)}")
    return "\n".join(lines)
