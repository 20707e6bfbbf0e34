"""Layer 1: settings validation and the `python -m bot` command line, in subprocesses."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import main
from bot.settings import Settings, SettingsError, load_settings, require_token

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "deploy" / "seed.example.toml"
SETTING_NAMES = [field.alias or name.upper() for name, field in Settings.model_fields.items()]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No Aduan setting in the environment and no .env in the working directory."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli_env(**values: str) -> dict[str, str]:
    """The current environment minus every Aduan setting, plus `values`."""
    env = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["PYTHONWARNINGS"] = "ignore"
    env.update(values)
    return env


def run_cli(cwd: Path, *args: str, **values: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, env=cli_env(**values),
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )


# ---- load_settings ------------------------------------------------------------------------


def test_defaults_need_nothing(clean_env: Path) -> None:
    settings = load_settings()
    assert settings.bot_token is None
    assert settings.database_url.startswith("sqlite+aiosqlite://")
    assert settings.timezone == "Asia/Jakarta" and settings.tz.key == "Asia/Jakarta"
    assert settings.admin_ids == frozenset() and settings.service_area is None


def test_values_are_parsed(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_IDS", " 11, 22 ,33,")
    monkeypatch.setenv("SERVICE_AREA", "-0.95,101.25,0.55,103.15")
    monkeypatch.setenv("HOLIDAYS", "2026-12-25, 2027-01-01")
    monkeypatch.setenv("TIMEZONE", "Asia/Makassar")
    settings = load_settings()
    assert settings.admin_ids == frozenset({11, 22, 33})
    assert settings.service_area == (-0.95, 101.25, 0.55, 103.15)
    assert [d.isoformat() for d in settings.holidays] == ["2026-12-25", "2027-01-01"]
    assert settings.tz.key == "Asia/Makassar"


def test_env_file_in_working_directory_is_read(clean_env: Path) -> None:
    (clean_env / ".env").write_text("ADMIN_IDS=5,6\nTICKET_PREFIX=LPR\n", encoding="utf-8")
    settings = load_settings()
    assert settings.admin_ids == frozenset({5, 6}) and settings.ticket_prefix == "LPR"


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("TIMEZONE", "Mars/Olympus_Mons"),
        ("TIMEZONE", "WIB"),
        ("ADMIN_IDS", "12,abc"),
        ("ADMIN_IDS", "@budi"),
        ("DATABASE_URL", "mysql://root@localhost/aduan"),
        ("DATABASE_URL", "sqlite:///./aduan.db"),
        ("SERVICE_AREA", "1,2,3"),
        ("SERVICE_AREA", "0.5,101,-0.9,103"),  # min above max
        ("SERVICE_AREA", "a,b,c,d"),
        ("HOLIDAYS", "2026-13-01"),
        ("MAX_MEDIA", "50"),
        ("TICKET_PREFIX", "adu"),
        ("DEFAULT_LANGUAGE", "fr"),
        ("GEOCODER", "google"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("DIGEST_TIME", "7am"),
        ("VERIFY_DEADLINE", "soon"),
        ("LIGHT_YELLOW_SHARE", "2"),
    ],
)
def test_bad_setting_is_one_line_naming_the_variable(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"Invalid setting {env}:"), message
    assert f"Set {env}" in message


def test_require_token(clean_env: Path) -> None:
    for token in (None, "", "   ", "no-colon-here"):
        settings = Settings(_env_file=None, BOT_TOKEN=token)  # type: ignore[call-arg]
        with pytest.raises(SettingsError) as info:
            require_token(settings)
        assert "BOT_TOKEN" in str(info.value) and "\n" not in str(info.value)
    settings = Settings(_env_file=None, BOT_TOKEN=" 123456:ABC-def ")  # type: ignore[call-arg]
    assert require_token(settings) == "123456:ABC-def"


def test_token_is_secret(clean_env: Path) -> None:
    settings = Settings(_env_file=None, BOT_TOKEN="123456:SECRET")  # type: ignore[call-arg]
    assert "SECRET" not in repr(settings) and "SECRET" not in str(settings.model_dump())


# ---- the command line ---------------------------------------------------------------------
# Each `python -m bot` pays ~3 s of imports (aiogram's types), so the few real subprocesses
# run once per module, side by side; the remaining cases call the same `main()` in-process.


def count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Side by side: `run --webhook` without a token, `migrate` on one database, `seed` on
    another."""
    base = tmp_path_factory.mktemp("cli")
    dirs = {name: base / name for name in ("run", "migrated", "seeded")}
    for folder in dirs.values():
        folder.mkdir()
    urls = {name: f"sqlite+aiosqlite:///{dirs[name] / 'aduan.db'}"
            for name in ("migrated", "seeded")}
    with ThreadPoolExecutor(max_workers=3) as pool:
        jobs = {
            # without a token `run` starts the playground (tests/test_playground.py); a
            # webhook has no playground, so there the missing token is one line
            "run": pool.submit(run_cli, dirs["run"], "run", "--webhook"),
            "migrate": pool.submit(run_cli, dirs["migrated"], "migrate",
                                   DATABASE_URL=urls["migrated"]),
            "seed": pool.submit(run_cli, dirs["seeded"], "seed", str(SEED),
                                DATABASE_URL=urls["seeded"]),
        }
        results: dict[str, Any] = {name: job.result() for name, job in jobs.items()}
    return {**results, "dirs": dirs, "urls": urls}


def test_webhook_without_token_is_one_line_on_stderr(cli: dict[str, Any]) -> None:
    result: subprocess.CompletedProcess[str] = cli["run"]
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "BOT_TOKEN" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not list(cli["dirs"]["run"].iterdir())  # refused before creating a database or media


def test_migrate_then_seed_is_idempotent(
    cli: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate, seed = cli["migrate"], cli["seed"]
    migrated = cli["dirs"]["migrated"] / "aduan.db"
    seeded = cli["dirs"]["seeded"] / "aduan.db"
    assert migrate.returncode == 0, migrate.stderr
    assert "up to date" in migrate.stdout
    assert count(migrated, "opd") == 0 and count(migrated, "category") == 0
    assert seed.returncode == 0, seed.stderr  # `seed` migrates a fresh database first
    assert "10 OPDs and 12 categories" in seed.stdout
    assert (count(seeded, "opd"), count(seeded, "category")) == (10, 12)

    # More runs through the same entry point, in-process: seed after migrate, seed twice.
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    for db, url in ((migrated, cli["urls"]["migrated"]), (seeded, cli["urls"]["seeded"])):
        monkeypatch.chdir(db.parent)
        monkeypatch.setenv("DATABASE_URL", url)
        for _ in range(2):
            assert main(["seed", str(SEED)]) == 0
            assert "10 OPDs and 12 categories" in capsys.readouterr().out
            assert (count(db, "opd"), count(db, "category")) == (10, 12)
        assert main(["migrate"]) == 0
        with sqlite3.connect(db) as conn:
            codes = {row[0] for row in conn.execute("SELECT code FROM category")}
        assert {"jalan", "sampah", "air", "listrik", "lainnya"} <= codes


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("syntax.toml", "[[opd]\ncode = 'PUPR'\n"),
        ("missing.toml", "[[opd]]\ncode = 'PUPR'\n"),
        ("unknown_opd.toml", "[[category]]\ncode = 'jalan'\nopd = 'NOPE'\nname_id = 'Jalan'\n"),
        ("bad_days.toml", "[[opd]]\ncode = 'PUPR'\nname_id = 'Dinas PU'\n\n[[category]]\n"
                          "code = 'jalan'\nopd = 'PUPR'\nname_id = 'Jalan'\n"
                          "deadline_days = 'five'\n"),
        ("not_a_list.toml", "opd = 'PUPR'\n"),
        ("absent.toml", None),
    ],
)
def test_malformed_seed_is_one_line_error(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    name: str, content: str | None,
) -> None:
    path = clean_env / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    db = clean_env / "aduan.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    assert main(["seed", str(path)]) != 0
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert name in lines[0] and "Traceback" not in err
    assert count(db, "opd") == 0  # nothing half-loaded


def test_bad_setting_on_the_command_line_is_one_line(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIMEZONE", "Nowhere/Land")
    assert main(["migrate"]) != 0
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "TIMEZONE" in err
    assert not (clean_env / "aduan.db").exists()


def test_unreachable_database_is_one_line(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{clean_env}/no/such/dir/a.db")
    assert main(["migrate"]) != 0
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "DATABASE_URL" in err



@pytest.mark.parametrize("url", [
    "postgresql+asyncpg://postgres@127.0.0.1:1/aduan",  # nothing listens: refused
    "postgresql+asyncpg://postgres@no-such-host.invalid:5432/aduan",  # unresolvable
])
def test_unreachable_postgres_is_one_line_naming_the_setting(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    url: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["migrate"]) != 0
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "DATABASE_URL" in err and "Traceback" not in err


def test_unwritable_media_dir_is_one_line(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = clean_env / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MEDIA_DIR", str(blocker / "media"))
    monkeypatch.setenv("BOT_TOKEN", "123456:TEST-TOKEN")
    assert main(["run"]) != 0
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "MEDIA_DIR" in err and "Traceback" not in err


def test_seed_that_is_not_utf8_is_one_line(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = clean_env / "latin1.toml"
    path.write_bytes("[[opd]]\ncode = 'PUPR'\nname_id = 'Dinas Pekerjaan Umum \u00e9'\n"
                     .encode("latin-1"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{clean_env / 'aduan.db'}")
    assert main(["seed", str(path)]) != 0
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "UTF-8" in err and "Traceback" not in err


def test_webhook_mode_without_its_settings_is_one_line(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123456:TEST-TOKEN")
    assert main(["run", "--webhook"]) != 0
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "WEBHOOK_URL" in err
    monkeypatch.setenv("WEBHOOK_URL", "https://aduan.example.go.id/telegram/webhook")
    assert main(["run", "--webhook"]) != 0
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "WEBHOOK_SECRET" in err
    assert not (clean_env / "aduan.db").exists()


def test_second_process_on_sqlite_is_refused_with_one_line(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from models.db import hold_sqlite

    url = f"sqlite+aiosqlite:///{clean_env / 'aduan.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("BOT_TOKEN", "123456:TEST-TOKEN")
    first = hold_sqlite(url)  # the process already running
    try:
        assert main(["run"]) != 0
        err = capsys.readouterr().err
        assert err.strip().count("\n") == 0 and "SQLite" in err and "DATABASE_URL" in err
    finally:
        first.close()
    assert hold_sqlite(url) is not None  # free again once the first process is gone
    assert hold_sqlite("postgresql+asyncpg://u@h/db") is None
