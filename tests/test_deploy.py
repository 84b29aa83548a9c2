"""The files in deploy/ agree with each other and with the code, checked without Docker."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot import config as config_mod
from bot.config import Config, load_config
from tests.conftest import TOKEN

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
ENV_EXAMPLE = DEPLOY / "arxiv-digest-bot.env.example"
SETTING_RE = re.compile(r"^#? ?([A-Z][A-Z0-9_]*)=(.*)$")


def example_settings() -> dict[str, str]:
    """KEY=value lines of the env example, commented or not."""
    found = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = SETTING_RE.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def test_env_example_lists_exactly_the_settings() -> None:
    """Every setting the bot reads from the environment is in the env example, and nothing
    else is; only the token is left uncommented, and empty."""
    expected = {name.upper() for name in config_mod._PARSERS} | {"BOT_CONFIG"}
    assert set(example_settings()) == expected
    active = [line for line in ENV_EXAMPLE.read_text().splitlines() if re.match(r"^[A-Z]", line)]
    assert active == ["BOT_TOKEN="]


def test_env_example_shows_the_real_defaults(tmp_path: Path) -> None:
    """Each commented value, read as the bot reads it, is the built-in default."""
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    defaults = Config(bot_token=TOKEN)
    for key, value in example_settings().items():
        if key in {"BOT_TOKEN", "BOT_CONFIG"}:
            continue
        env = {"BOT_CONFIG": str(empty), "BOT_TOKEN": TOKEN, key: value}
        loaded = load_config(env)
        assert loaded == defaults, f"{key}={value} is not the default"


def test_compose_file_uses_the_env_file_a_volume_and_loopback_health_port() -> None:
    """compose.yaml parses; the service reads the env file, keeps the database on a named
    volume, restarts, and publishes the health port on the host's loopback only."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    service = compose["services"]["bot"]
    assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert (DEPLOY / ".." / service["build"]["dockerfile"]).is_file()
    assert service["env_file"] == "arxiv-digest-bot.env"
    assert service["restart"] == "unless-stopped"
    volume, mount = service["volumes"][0].split(":")
    assert volume in compose["volumes"]
    assert service["environment"]["DATABASE_URL"] == f"sqlite:///{mount}/bot.sqlite3"
    port = service["environment"]["HEALTH_PORT"]
    assert service["ports"] == [f"127.0.0.1:{port}:{port}"]


def test_dockerfile_is_slim_non_root_with_a_data_volume_and_health_check() -> None:
    """The image runs as a non-root user, keeps the database on /app/data, enables the health
    endpoint, and its HEALTHCHECK runs a module that exists."""
    text = (DEPLOY / "Dockerfile").read_text()
    final = text.rsplit("\nFROM ", 1)[1]
    assert final.startswith("python:3.11-slim")
    assert "USER bot" in final
    assert 'VOLUME ["/app/data"]' in final
    assert "DATABASE_URL=sqlite:////app/data/bot.sqlite3" in final
    assert "HEALTH_PORT=8080" in final
    match = re.search(r'HEALTHCHECK [^\n]*\\\n\s*CMD \["python", "-m", "([\w.]+)"\]', final)
    assert match is not None
    module = Path(*match.group(1).split(".")).with_suffix(".py")
    assert (DEPLOY.parent / module).is_file()


def test_systemd_unit_reads_the_env_file_and_may_write_the_database() -> None:
    """The unit reads the env file, runs `python -m bot`, does not restart on a config error
    or a held lock, and may write where the database and its lock file live."""
    unit = (DEPLOY / "arxiv-digest-bot.service").read_text()
    settings = dict(
        line.split("=", 1) for line in unit.splitlines() if re.match(r"^[A-Z]\w*=", line)
    )
    assert settings["EnvironmentFile"] == "/etc/arxiv-digest-bot.env"
    assert settings["ExecStart"].endswith("/.venv/bin/python -m bot")
    assert settings["RestartPreventExitStatus"].split() == ["2", "3"]
    database = Path(settings["WorkingDirectory"]) / Config(bot_token="").database_path
    assert str(database.parent) == settings["ReadWritePaths"]
