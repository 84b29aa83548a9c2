"""Configuration: a file in config/ overridden by the environment, refused loudly when wrong."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.config import TOKEN_HELP, Config, ConfigError, load_config

TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuv"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(
        'arxiv_categories = ["cs.CV"]\n'
        'digest_time = "07:15"\n'
        'digest_timezone = "Europe/Berlin"\n'
        "admin_ids = [42]\n"
    )
    return path


def test_repository_example_config_loads() -> None:
    """The documented example in config/ is valid and gives the documented defaults."""
    config = load_config({"BOT_TOKEN": TOKEN, "BOT_CONFIG": "config/bot.toml"})
    assert config.bot_api_url == "https://api.telegram.org/bot"
    assert config.arxiv_rss_base == "https://rss.arxiv.org/rss/"
    assert config.database_path == Path("data/bot.sqlite3")
    assert config.feed_url.startswith("https://rss.arxiv.org/rss/cs.AI+")


def test_file_values_are_read(config_file: Path) -> None:
    """Values come from the file named by BOT_CONFIG."""
    config = load_config({"BOT_TOKEN": TOKEN, "BOT_CONFIG": str(config_file)})
    assert config.arxiv_categories == ("cs.CV",)
    assert config.digest_time == dt.time(7, 15)
    assert config.digest_timezone == "Europe/Berlin"
    assert config.admin_ids == frozenset({42})


def test_the_file_read_is_remembered(config_file: Path) -> None:
    """The configuration says which file it was read from, for the start-up log."""
    config = load_config({"BOT_TOKEN": TOKEN, "BOT_CONFIG": str(config_file)})
    assert config.config_file == config_file


def test_without_a_file_the_defaults_are_used_and_no_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without BOT_CONFIG, config/bot.toml is looked for in the working folder; where there is
    none the defaults and the environment are used, and no file is named."""
    monkeypatch.chdir(tmp_path)
    config = load_config({"BOT_TOKEN": TOKEN, "DIGEST_TIME": "06:30"})
    assert config.config_file is None
    assert config.digest_time == dt.time(6, 30)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "bot.toml").write_text('digest_time = "07:45"\n')
    config = load_config({"BOT_TOKEN": TOKEN})
    assert config.config_file == Path("config/bot.toml")
    assert config.digest_time == dt.time(7, 45)


def test_environment_overrides_file(config_file: Path) -> None:
    """Each documented environment variable overrides the file."""
    env = {
        "BOT_CONFIG": str(config_file),
        "BOT_TOKEN": TOKEN,
        "BOT_API_URL": "http://127.0.0.1:8081/bot",
        "ARXIV_RSS_BASE": "http://127.0.0.1:9/rss/",
        "ARXIV_CATEGORIES": "cs.LG+math.OC+hep-th",
        "DATABASE_URL": "sqlite:///var/db.sqlite3",
        "ADMIN_IDS": "1, 2,3",
        "DIGEST_TIME": "21:05",
    }
    config = load_config(env)
    assert config.bot_api_url == "http://127.0.0.1:8081/bot"
    assert config.feed_url == "http://127.0.0.1:9/rss/cs.LG+math.OC+hep-th"
    assert config.database_path == Path("var/db.sqlite3")
    assert config.admin_ids == frozenset({1, 2, 3})
    assert config.digest_time == dt.time(21, 5)


def test_config_is_frozen() -> None:
    """The settings object cannot be changed after start."""
    config = load_config({"BOT_TOKEN": TOKEN, "BOT_CONFIG": "config/bot.toml"})
    with pytest.raises(AttributeError):
        config.bot_token = "x"  # type: ignore[misc]


def test_missing_token_says_how_to_get_one() -> None:
    """Without BOT_TOKEN the error explains BotFather."""
    with pytest.raises(ConfigError) as info:
        load_config({"BOT_CONFIG": "config/bot.toml"})
    assert str(info.value) == TOKEN_HELP
    assert "@BotFather" in TOKEN_HELP
    assert "BOT_TOKEN" in TOKEN_HELP


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("BOT_TOKEN", "not-a-token"),
        ("BOT_API_URL", "ftp://example.org/bot"),
        ("ARXIV_RSS_BASE", "rss.arxiv.org"),
        ("ARXIV_CATEGORIES", "cs.AI+../etc"),
        ("ARXIV_CATEGORIES", "+"),
        ("DATABASE_URL", "postgres://localhost/db"),
        ("DATABASE_URL", "sqlite:///"),
        ("ADMIN_IDS", "alice"),
        ("DIGEST_TIME", "25:00"),
        ("DIGEST_TIMEZONE", "Mars/Olympus"),
        ("DIGEST_TIMEZONE", "../../etc/passwd"),
        ("DIGEST_TIMEZONE", "America"),  # a folder of the tz database, not a zone
        ("DIGEST_TIMEZONE", "A" * 5000),
        ("POLL_DELAY_MINUTES", "soon"),
        ("TELEGRAM_SEND_ATTEMPTS", "0"),
        ("TELEGRAM_RETRY_BACKOFF", "-1"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_malformed_value_is_refused_naming_the_key(key: str, value: str) -> None:
    """A malformed value stops the start with a message that names its key."""
    env = {"BOT_TOKEN": TOKEN, "BOT_CONFIG": "config/bot.toml", key: value}
    with pytest.raises(ConfigError) as info:
        load_config(env)
    assert str(info.value).startswith(f"{key}:")


def test_malformed_token_is_not_echoed() -> None:
    """Even a wrong token is a secret: the error does not print it."""
    with pytest.raises(ConfigError) as info:
        load_config({"BOT_TOKEN": "secret-value-xyz", "BOT_CONFIG": "config/bot.toml"})
    assert "secret-value-xyz" not in str(info.value)


def test_unknown_file_key_is_refused(tmp_path: Path) -> None:
    """A typo in the file is reported instead of silently ignored."""
    path = tmp_path / "bot.toml"
    path.write_text('digest_tiem = "08:00"\n')
    with pytest.raises(ConfigError, match="digest_tiem"):
        load_config({"BOT_TOKEN": TOKEN, "BOT_CONFIG": str(path)})


def test_missing_explicit_file_is_refused(tmp_path: Path) -> None:
    """BOT_CONFIG naming a file that does not exist is an error, not a silent default."""
    with pytest.raises(ConfigError, match="BOT_CONFIG"):
        load_config({"BOT_TOKEN": TOKEN, "BOT_CONFIG": str(tmp_path / "nope.toml")})


def test_token_is_hidden_from_repr() -> None:
    """Printing the settings never shows the token."""
    config = Config(bot_token=TOKEN)
    assert TOKEN not in repr(config)


@pytest.mark.parametrize(
    ("value", "suggestion"),
    [("cs.XY", "cs.AI"), ("cs.Al", "cs.AI"), ("hep-tj", "hep-th"), ("mathh.AP", "math.AP")],
)
def test_unknown_category_is_refused_with_a_suggestion(value: str, suggestion: str) -> None:
    """A category arXiv does not have stops the start: the message names the key, the
    category and a close one that exists."""
    env = {"BOT_TOKEN": TOKEN, "BOT_CONFIG": "config/bot.toml", "ARXIV_CATEGORIES": value}
    with pytest.raises(ConfigError) as info:
        load_config(env)
    message = str(info.value)
    assert message.startswith("ARXIV_CATEGORIES:")
    assert repr(value) in message
    assert "did you mean" in message
    assert suggestion in message


def test_unknown_category_in_the_file_is_refused(tmp_path: Path) -> None:
    """The file's arxiv_categories list is checked like the environment variable."""
    path = tmp_path / "bot.toml"
    path.write_text('arxiv_categories = ["cs.LG", "cs.ML"]\n')
    with pytest.raises(ConfigError, match=r"ARXIV_CATEGORIES: 'cs.ML' is not an arXiv category"):
        load_config({"BOT_TOKEN": TOKEN, "BOT_CONFIG": str(path)})


def test_categories_are_spelled_as_arxiv_does() -> None:
    """Case does not matter, an alias becomes the category arXiv keeps, a whole archive is
    accepted, and a category named twice (or by its alias) counts once."""
    env = {
        "BOT_TOKEN": TOKEN,
        "BOT_CONFIG": "config/bot.toml",
        "ARXIV_CATEGORIES": "CS.lg+stat.TH+math.ST+physics+astro-ph.co+cs.LG",
    }
    config = load_config(env)
    assert config.arxiv_categories == ("cs.LG", "math.ST", "physics", "astro-ph.CO")


def test_arxiv_api_url_has_a_default_and_an_override() -> None:
    """/search asks export.arxiv.org unless ARXIV_API_URL points elsewhere (the tests' server)."""
    base = {"BOT_TOKEN": TOKEN, "BOT_CONFIG": "config/bot.toml"}
    assert load_config(base).arxiv_api_url == "https://export.arxiv.org/api/query"
    changed = load_config({**base, "ARXIV_API_URL": "http://127.0.0.1:9/api/query"})
    assert changed.arxiv_api_url == "http://127.0.0.1:9/api/query"
    with pytest.raises(ConfigError, match=r"^ARXIV_API_URL:"):
        load_config({**base, "ARXIV_API_URL": "export.arxiv.org"})


def test_health_endpoint_is_off_and_on_loopback_by_default() -> None:
    """Without settings the health endpoint is off (port 0), on 127.0.0.1 when turned on,
    and logs are text lines."""
    config = load_config({"BOT_TOKEN": TOKEN, "BOT_CONFIG": "config/bot.toml"})
    assert config.health_port == 0
    assert config.health_host == "127.0.0.1"
    assert config.health_poll_grace_hours == 8.0
    assert config.log_format == "text"


def test_health_and_log_settings_come_from_the_environment() -> None:
    """HEALTH_PORT, HEALTH_HOST, HEALTH_POLL_GRACE_HOURS and LOG_FORMAT are read; a log
    format other than text or json is refused with its key named."""
    env = {
        "BOT_TOKEN": TOKEN,
        "HEALTH_PORT": "9100",
        "HEALTH_HOST": "0.0.0.0",
        "HEALTH_POLL_GRACE_HOURS": "2.5",
        "LOG_FORMAT": "JSON",
    }
    config = load_config(env)
    assert (config.health_port, config.health_host) == (9100, "0.0.0.0")
    assert config.health_poll_grace_hours == 2.5
    assert config.log_format == "json"
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        load_config({**env, "LOG_FORMAT": "yaml"})
    with pytest.raises(ConfigError, match="HEALTH_PORT"):
        load_config({**env, "HEALTH_PORT": "70000"})
