"""Settings read once, at start, from a TOML file in config/ overridden by the environment."""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.arxiv import categories as arxiv_categories

DEFAULT_CONFIG_FILE = Path("config/bot.toml")
VERSION = "0.1.0"

TOKEN_HELP = (
    "BOT_TOKEN is not set. To get a token, open Telegram, talk to @BotFather "
    "(https://t.me/BotFather), send /newbot and follow the steps; then start the bot with "
    "the token in the environment, e.g.  BOT_TOKEN=123456789:AA... python -m bot"
)

_TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,}$")
_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class ConfigError(Exception):
    """A missing or malformed setting; the message names the key."""


@dataclass(frozen=True)
class Config:
    """Every setting the bot runs with. Built once by `load_config`."""

    bot_token: str = field(repr=False)
    bot_api_url: str = "https://api.telegram.org/bot"
    arxiv_rss_base: str = "https://rss.arxiv.org/rss/"
    arxiv_categories: tuple[str, ...] = ("cs.AI", "cs.CL", "cs.CV", "cs.LG")
    arxiv_api_url: str = "https://export.arxiv.org/api/query"  # /search asks it
    database_path: Path = Path("data/bot.sqlite3")
    admin_ids: frozenset[int] = frozenset()
    digest_time: dt.time = dt.time(8, 0)
    digest_timezone: str = "UTC"
    poll_delay_minutes: int = 10
    repoll_interval_hours: float = 6.0
    digest_lookback_days: int = 7
    # Papers last stored or revised longer ago than this are deleted (with their ledger).
    paper_retention_days: int = 365
    http_timeout: float = 30.0  # seconds without progress: connecting, or between two reads
    # arXiv, however slowly it answers: a request (headers and body) ends within this many
    # seconds; a body may decode to this many MiB; a /search waits this long for its turn.
    http_deadline: float = 90.0
    http_max_body_mb: int = 50
    search_queue_timeout: float = 10.0
    contact: str = ""
    polling_timeout: int = 30
    log_level: str = "INFO"
    max_digest_messages: int = 3
    # Telegram's flood limits; above 30/s only with paid broadcasts enabled for the bot.
    telegram_global_per_s: float = 30.0
    telegram_private_per_s: float = 1.0
    telegram_private_burst: int = 3
    telegram_group_per_min: int = 20
    # Network failures, timeouts and 5xx while sending: tries per message in one outbox flush,
    # and the first backoff in seconds (doubling, full jitter, capped at 30 s).
    telegram_send_attempts: int = 4
    telegram_retry_backoff: float = 1.0
    # A digest part still unsent this many hours after it was queued ends unsent (its papers
    # wait for the next digest): nothing is retried for ever.
    telegram_part_max_age_hours: float = 24.0
    # The optional HTTP endpoint with /healthz and /metrics: port 0 keeps it off.
    health_port: int = 0
    health_host: str = "127.0.0.1"
    # /healthz turns 503 once the poll due after the last successful one is this many hours
    # late (the days arXiv does not announce have no poll due, so weekends do not count).
    health_poll_grace_hours: float = 8.0
    # /healthz says "starting" (200) until a poll reaches arXiv, and 503 if none did within
    # this many minutes of the start; 503 too once a digest part has waited this many minutes
    # in the outbox.
    health_start_grace_minutes: float = 30.0
    health_outbox_grace_minutes: float = 60.0
    log_format: str = "text"  # or "json": one JSON object per line
    # The settings file that was read (BOT_CONFIG, else config/bot.toml in the working
    # folder), or None when there was none: the start-up log says which.
    config_file: Path | None = field(default=None, compare=False)

    @property
    def feed_url(self) -> str:
        return self.arxiv_rss_base + "+".join(self.arxiv_categories)

    @property
    def user_agent(self) -> str:
        contact = f"; {self.contact}" if self.contact else ""
        return f"arxiv-digest-bot/{VERSION} (Telegram digest bot; polite polling{contact})"


def load_config(environ: Mapping[str, str] | None = None, *, require_token: bool = True) -> Config:
    """Read the config file (BOT_CONFIG or config/bot.toml), then apply environment overrides."""
    env = os.environ if environ is None else environ
    config_file, values = _read_file(env)
    for key in _PARSERS:
        raw = env.get(_env_name(key))
        if raw is not None:
            values[key] = raw
    parsed: dict[str, Any] = {}
    for key, raw in values.items():
        if key not in _PARSERS:
            raise ConfigError(f"{key}: unknown setting")
        parsed[_FIELD_NAMES.get(key, key)] = _parse(key, raw)
    token = parsed.get("bot_token", "")
    if not token and require_token:
        raise ConfigError(TOKEN_HELP)
    parsed["bot_token"] = token
    config = Config(**parsed, config_file=config_file)
    if config.paper_retention_days < config.digest_lookback_days:
        raise ConfigError(
            f"PAPER_RETENTION_DAYS ({config.paper_retention_days}) must be at least"
            f" DIGEST_LOOKBACK_DAYS ({config.digest_lookback_days}): papers a digest may still"
            " carry are kept"
        )
    return config


def _env_name(key: str) -> str:
    return key.upper()


def _read_file(env: Mapping[str, str]) -> tuple[Path | None, dict[str, Any]]:
    """The settings file and its values: BOT_CONFIG if set (it must exist), else
    config/bot.toml relative to the working folder if it is there, else none."""
    explicit = env.get("BOT_CONFIG")
    path = Path(explicit) if explicit else DEFAULT_CONFIG_FILE
    if not path.exists():
        if explicit:
            raise ConfigError(f"BOT_CONFIG: file {explicit!r} does not exist")
        return None, {}
    try:
        with path.open("rb") as handle:
            return path, dict(tomllib.load(handle))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"BOT_CONFIG: {path} is not valid TOML: {exc}") from exc


def _parse(key: str, raw: Any) -> Any:
    try:
        return _PARSERS[key](raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{_env_name(key)}: {exc}") from None


def _text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"expected text, got {raw!r}")
    return raw.strip()


def _token(raw: Any) -> str:
    token = _text(raw)
    if token and not _TOKEN_RE.match(token):
        # Never echo the value: it is a secret even when malformed.
        raise ValueError("malformed bot token (expected digits, a colon and the secret part)")
    return token


def _url(raw: Any) -> str:
    url = _text(raw)
    if not re.match(r"^https?://[^\s/]+", url):
        raise ValueError(f"not an http(s) URL: {url!r}")
    return url


def _categories(raw: Any) -> tuple[str, ...]:
    """arXiv categories or archives joined with '+' (or a TOML list), checked against arXiv's
    taxonomy: "cs.lg" is taken as cs.LG, an alias as its merged category, a typo refused."""
    items = raw.split("+") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ValueError(f"expected categories joined with '+', got {raw!r}")
    cats = [str(item).strip() for item in items if str(item).strip()]
    if not cats:
        raise ValueError("no category given")
    return arxiv_categories.validate_all(cats)


def _database(raw: Any) -> Path:
    url = _text(raw)
    if not url.startswith("sqlite:///"):
        raise ValueError(f"only sqlite:///path URLs are supported for now, got {url!r}")
    path = url.removeprefix("sqlite:///")
    if not path:
        raise ValueError("no database path after sqlite:///")
    return Path(path)


def _admin_ids(raw: Any) -> frozenset[int]:
    items = re.split(r"[,\s]+", raw.strip()) if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ValueError(f"expected comma-separated Telegram user ids, got {raw!r}")
    ids = set()
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        if not re.fullmatch(r"-?\d+", text):
            raise ValueError(f"{text!r} is not a numeric Telegram user id")
        ids.add(int(text))
    return frozenset(ids)


def parse_time(raw: Any) -> dt.time:
    """Parse HH:MM (24-hour clock)."""
    match = _TIME_RE.match(_text(raw))
    if not match:
        raise ValueError(f"expected a time as HH:MM (24-hour clock), got {raw!r}")
    return dt.time(int(match.group(1)), int(match.group(2)))


# The longest IANA zone name is 32 characters; anything much longer is not a name.
MAX_TIMEZONE_LENGTH = 64


def parse_timezone(raw: Any) -> str:
    """Accept an IANA time zone name such as Europe/Berlin or UTC."""
    name = _text(raw)
    if len(name) > MAX_TIMEZONE_LENGTH or not re.fullmatch(
        r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*", name
    ):
        raise ValueError(
            f"{name[:MAX_TIMEZONE_LENGTH]!r} is not a time zone name like Europe/Berlin"
        )
    try:
        ZoneInfo(name)
    # OSError: a folder of the tz database ("America") is no zone, and opening it fails.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r} (use a name like Europe/Berlin)") from None
    return name


def _int_in(low: int, high: int) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"{value} is outside {low}..{high}")
        return value

    return parse


def _float_in(low: float, high: float) -> Callable[[Any], float]:
    def parse(raw: Any) -> float:
        value = float(raw)
        if not low <= value <= high:
            raise ValueError(f"{value} is outside {low}..{high}")
        return value

    return parse


def _log_level(raw: Any) -> str:
    level = _text(raw).upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError(f"expected DEBUG, INFO, WARNING or ERROR, got {raw!r}")
    return level


def _log_format(raw: Any) -> str:
    value = _text(raw).lower()
    if value not in {"text", "json"}:
        raise ValueError(f"expected text or json, got {raw!r}")
    return value


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "bot_token": _token,
    "bot_api_url": _url,
    "arxiv_rss_base": _url,
    "arxiv_categories": _categories,
    "arxiv_api_url": _url,
    "database_url": _database,
    "admin_ids": _admin_ids,
    "digest_time": parse_time,
    "digest_timezone": parse_timezone,
    "poll_delay_minutes": _int_in(0, 180),
    "repoll_interval_hours": _float_in(0.05, 48),
    "digest_lookback_days": _int_in(1, 60),
    "paper_retention_days": _int_in(7, 36500),
    "http_timeout": _float_in(1, 300),
    "http_deadline": _float_in(1, 3600),
    "http_max_body_mb": _int_in(1, 1024),
    "search_queue_timeout": _float_in(0.1, 300),
    "contact": _text,
    "polling_timeout": _int_in(0, 60),
    "log_level": _log_level,
    "max_digest_messages": _int_in(1, 50),
    "telegram_global_per_s": _float_in(0.1, 1000),
    "telegram_private_per_s": _float_in(0.01, 100),
    "telegram_private_burst": _int_in(1, 100),
    "telegram_group_per_min": _int_in(1, 1000),
    "telegram_send_attempts": _int_in(1, 10),
    "telegram_retry_backoff": _float_in(0.01, 60),
    "telegram_part_max_age_hours": _float_in(0.1, 720),
    "health_port": _int_in(0, 65535),
    "health_host": _text,
    "health_poll_grace_hours": _float_in(0.1, 240),
    "health_start_grace_minutes": _float_in(1, 1440),
    "health_outbox_grace_minutes": _float_in(1, 10080),
    "log_format": _log_format,
}
_FIELD_NAMES = {"database_url": "database_path"}
