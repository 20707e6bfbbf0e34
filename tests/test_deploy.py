"""deploy/ stays true to the code: every setting it uses is documented, and it runs the
commands the CLI has."""

from __future__ import annotations

import re
from pathlib import Path

from bot.__main__ import _parser
from bot.settings import Settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def documented() -> set[str]:
    text = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Z][A-Z0-9_]+)=", text, re.M))


def test_every_setting_is_documented_in_env_example() -> None:
    aliases = {f.alias for f in Settings.model_fields.values() if f.alias}
    assert aliases <= documented(), aliases - documented()


def test_compose_uses_documented_settings_and_real_commands() -> None:
    compose = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)\}", compose))
    keys = set(re.findall(r"^\s+([A-Z][A-Z0-9_]+):", compose, re.M)) - {
        "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}
    assert used <= documented() and keys <= documented(), (used | keys) - documented()
    commands = set(_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    for command in re.findall(r'command: \["(\w+)"', compose):
        assert command in commands
    assert '["run", "--webhook"]' in compose
    _parser().parse_args(["run", "--webhook"])


def test_systemd_unit_and_dockerfile_run_the_cli() -> None:
    unit = (DEPLOY / "systemd" / "aduan.service").read_text(encoding="utf-8")
    assert "ExecStart=/srv/aduan/.venv/bin/aduan run" in unit
    assert "ExecStartPre=/srv/aduan/.venv/bin/aduan migrate" in unit
    docker = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert 'ENTRYPOINT ["aduan"]' in docker and "/healthz" in docker
    for folder in re.findall(r"^COPY (\w+) \./", docker, re.M):
        assert (DEPLOY.parent / folder).is_dir(), folder
