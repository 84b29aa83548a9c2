"""Honest in-process stand-ins for the services the bot talks to (Telegram, arXiv RSS)."""

from .feed_server import FeedServer, RecordedRequest
from .telegram_api import (
    BOT_USERNAME,
    DEFAULT_TOKEN,
    MAX_MESSAGE_UTF16,
    FakeBotAPI,
    RateLimitHit,
    RateLimits,
    SentDocument,
    SentMessage,
    TelegramParseError,
    parse_message_text,
    telegram_visible_text,
    utf16_len,
)

__all__ = [
    "BOT_USERNAME",
    "DEFAULT_TOKEN",
    "MAX_MESSAGE_UTF16",
    "FakeBotAPI",
    "FeedServer",
    "RateLimitHit",
    "RateLimits",
    "RecordedRequest",
    "SentDocument",
    "SentMessage",
    "TelegramParseError",
    "parse_message_text",
    "telegram_visible_text",
    "utf16_len",
]
