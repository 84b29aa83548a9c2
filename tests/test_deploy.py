"""The files in deploy/ agree with each other and with the code, checked without Docker."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

# packaging comes with pytest (it is one of pytest's own requirements).
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from bot import config as config_mod
from bot.config import Config, load_config
from tests.conftest import TOKEN

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
ENV_EXAMPLE = DEPLOY / "arxiv-digest-bot.env.example"
UNIT = DEPLOY / "arxiv-digest-bot.service"
README = DEPLOY.parent / "README.md"
# systemd-analyze's scale: 0 (locked down) to 10 (everything allowed); "OK" is 2.0 to 4.9.
MAX_EXPOSURE = 2.5
LOCK = DEPLOY / "requirements.lock"
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
    """The image runs as a non-root user, keeps the database on /app/data (0700, the bot's
    own), enables the health
    endpoint, and its HEALTHCHECK runs a module that exists."""
    text = (DEPLOY / "Dockerfile").read_text()
    final = text.rsplit("\nFROM ", 1)[1]
    assert final.startswith("python:3.11-slim")
    assert "USER bot" in final
    assert "install -d -m 700 -o bot -g bot /app/data" in final
    assert 'VOLUME ["/app/data"]' in final
    assert "DATABASE_URL=sqlite:////app/data/bot.sqlite3" in final
    assert "HEALTH_PORT=8080" in final
    match = re.search(r'HEALTHCHECK [^\n]*\\\n\s*CMD \["python", "-m", "([\w.]+)"\]', final)
    assert match is not None
    module = Path(*match.group(1).split(".")).with_suffix(".py")
    assert (DEPLOY.parent / module).is_file()


def lock_pins() -> dict[str, tuple[Version, list[str]]]:
    """Each pin of the lock: canonical name → (version, its hashes)."""
    logical = re.sub(r"\\\n", " ", LOCK.read_text())
    pins = {}
    for line in logical.splitlines():
        line = line.partition("#")[0].strip()
        if not line:
            continue
        pin, *options = line.split()
        name, sep, version = pin.partition("==")
        assert sep, f"not a name==version pin: {pin}"
        pins[canonicalize_name(name)] = (Version(version), options)
    return pins


def test_lock_pins_every_runtime_dependency_within_its_range_with_hashes() -> None:
    """deploy/requirements.lock pins each runtime dependency pyproject declares at one version
    its range allows, and every pin carries the hashes of its files."""
    pins = lock_pins()
    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]
    for requirement in map(Requirement, project["dependencies"]):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in the lock"
        assert requirement.specifier.contains(pins[name][0]), f"{name}: locked outside its range"
    for name, (_, options) in pins.items():
        assert options, f"{name} has no hashes"
        assert all(o.startswith("--hash=sha256:") for o in options), name


def test_lock_holds_what_the_telegram_extras_bring_at_or_above_their_floors() -> None:
    """The packages python-telegram-bot's extras bring (the job queue's scheduler, the rate
    limiter), which pip check does not look for, are locked too, none below its tested floor
    (.ci/floors.txt)."""
    pins = lock_pins()
    floors = (DEPLOY.parent / ".ci" / "floors.txt").read_text()
    extras = re.findall(r"^([\w.-]+)==(\S+)\s+# via python-telegram-bot\[", floors, re.M)
    assert extras
    for name, floor in extras:
        assert canonicalize_name(name) in pins, f"{name} is not in the lock"
        assert pins[canonicalize_name(name)][0] >= Version(floor), name


def test_dockerfile_installs_the_lock_then_the_bot_alone() -> None:
    """The image's build stage installs the dependencies from the lock, hashes required, and
    then the bot without resolving anything further (so two builds give the same image)."""
    build = (DEPLOY / "Dockerfile").read_text().split("\nFROM ")[1].replace("\\\n", " ")
    assert "COPY deploy/requirements.lock ./" in build
    commands = [
        command.split()
        for line in build.splitlines()
        if line.startswith("RUN ")
        for command in line.removeprefix("RUN ").split("&&")
        if "pip install" in command
    ]
    assert len(commands) == 2
    dependencies, bot = commands
    assert "--require-hashes" in dependencies
    assert dependencies[dependencies.index("-r") + 1] == "requirements.lock"
    assert "--no-deps" in bot
    assert bot[-1] == "."


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


def unit_settings() -> list[tuple[str, str]]:
    """The unit's Key=value lines in order; a key may come more than once."""
    found = []
    for line in UNIT.read_text().splitlines():
        if re.match(r"^[A-Z]\w*=", line):
            key, value = line.split("=", 1)
            found.append((key, value))
    return found


def test_systemd_unit_is_hardened() -> None:
    """The unit sets each hardening the deployment relies on: files private to the bot's user,
    no devices, no kernel settings, logs or modules, no capabilities, Internet and local
    sockets only, no namespaces, no writable and executable memory, the system calls of an
    ordinary service; and none that would cut the bot off (no IP deny list, no private
    network, nothing that forbids starting the worker process from the venv's python)."""
    settings = unit_settings()
    single = dict(settings)
    required = {
        "UMask": "0077",
        "NoNewPrivileges": "true",
        "ProtectSystem": "strict",
        "ProtectHome": "true",
        "PrivateTmp": "true",
        "PrivateDevices": "true",
        "ProtectKernelTunables": "true",
        "ProtectKernelModules": "true",
        "ProtectKernelLogs": "true",
        "ProtectControlGroups": "true",
        "ProtectClock": "true",
        "ProtectHostname": "true",
        "RestrictNamespaces": "true",
        "RestrictRealtime": "true",
        "RestrictSUIDSGID": "true",
        "LockPersonality": "true",
        "MemoryDenyWriteExecute": "true",
        "SystemCallArchitectures": "native",
        "CapabilityBoundingSet": "",
        "AmbientCapabilities": "",
    }
    assert {key: single.get(key) for key in required} == required
    assert set(single["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    filters = [value for key, value in settings if key == "SystemCallFilter"]
    assert filters[0] == "@system-service"
    assert all(value.startswith("~") for value in filters[1:])
    for cut_off in ("IPAddressDeny", "PrivateNetwork", "NoExecPaths", "ExecPaths"):
        assert cut_off not in single, cut_off


STATED_RE = r"[\s#]+".join(
    [
        re.escape("`systemd-analyze security --offline=true deploy/arxiv-digest-bot.service`"),
        r"\(systemd",
        r"(\d+)\)",
        "rates",
        "(?:this|the)",
        "unit",
        r"(\d+\.\d+)",
        "OK",
    ]
)


def stated_exposure() -> list[tuple[int, float]]:
    """The (systemd version, exposure) that the unit's header and the README state."""
    found = []
    for text in (UNIT.read_text(), README.read_text()):
        found += [(int(v), float(e)) for v, e in re.findall(STATED_RE, text)]
    return found


def test_unit_header_and_readme_state_one_exposure_within_the_goal() -> None:
    """The unit's header and the README give the same command, systemd version and exposure,
    2.5 or lower."""
    [(version, exposure), other] = stated_exposure()
    assert other == (version, exposure)
    assert exposure <= MAX_EXPOSURE


def _overall_exposure(output: str) -> float:
    match = re.search(r"Overall exposure level for [\w.@-]+: (\d+\.\d+) ", output)
    assert match is not None, output
    return float(match.group(1))


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (it comes with systemd)")
    return subprocess.run(
        [analyze, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_COLORS": "0"},
        check=False,
    )


def test_systemd_analyze_rates_the_unit_exposure_at_most_2_5() -> None:
    """`systemd-analyze security --offline=true` on the unit file, the README's command, gives
    an overall exposure of 2.5 or lower; with the systemd version the README names, exactly
    the figure it states (another version may weigh the settings differently)."""
    result = _analyze("security", "--offline=true", "--no-pager", str(UNIT))
    if result.returncode != 0 and "offline" in result.stderr:
        pytest.skip(
            f"this systemd-analyze has no --offline (systemd 250 or later): {result.stderr}"
        )
    assert result.returncode == 0, result.stderr
    exposure = _overall_exposure(result.stdout)
    assert exposure <= MAX_EXPOSURE, result.stdout
    [(version, stated), _] = stated_exposure()
    installed = re.match(r"systemd (\d+)", _analyze("--version").stdout)
    if installed is not None and int(installed.group(1)) == version:
        assert exposure == stated, result.stdout
