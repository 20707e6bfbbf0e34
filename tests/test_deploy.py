"""deploy/ stays true to the code: every setting it uses is documented, and it runs the
commands the CLI has."""

from __future__ import annotations

import os
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
    compose = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
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


def test_compose_parses_and_names_its_services() -> None:
    yaml = __import__("pytest").importorskip("yaml", reason="PyYAML not installed")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert {"postgres", "migrate", "bot", "nginx"} <= set(compose["services"])
    bot = compose["services"]["bot"]
    assert bot["command"] == ["run", "--webhook"]
    assert bot["environment"]["TELEGRAM_MODE"] == "webhook"
    assert "postgresql+asyncpg://" in bot["environment"]["DATABASE_URL"]
    nginx = (DEPLOY / "nginx" / "aduan.conf").read_text(encoding="utf-8")
    assert "location = /telegram/webhook" in nginx and "server bot:8080" in nginx


def test_docker_compose_config_where_docker_exists() -> None:
    import shutil
    import subprocess

    import pytest

    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker is not installed here")
    env = {**os.environ, "POSTGRES_PASSWORD": "x", "ADUAN_DOMAIN": "example.org"}
    result = subprocess.run([docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "config",
                             "--quiet"], capture_output=True, text=True, env=env, check=False)
    if "env file" in result.stderr and ".env" in result.stderr:
        pytest.skip("no .env beside the repository to build the config from")
    if "is not a docker command" in result.stderr or "unknown" in result.stderr.lower():
        pytest.skip(f"docker compose is not available: {result.stderr.strip()[:100]}")
    assert result.returncode == 0, result.stderr
