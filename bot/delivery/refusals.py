"""What an error of the Bot API means for a digest part: try again (now, or at the next
flush), or never. Every answer falls in one class; `bot.delivery.outbox` acts on it.

Telegram answers a message it will never accept with 400 Bad Request (or 403 Forbidden, when
the chat is out of reach). Sending the same request again gets the same answer, so a refusal
must end the part, or the chat's later digests would wait behind it for ever. Everything else
(no answer, a timeout, a 5xx, a 429 the rate limiter gave up on, a revoked token, an answer
that cannot be read) may pass later.
"""

from __future__ import annotations

import enum

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    TelegramError,
)

# 400 descriptions that refuse every message to the chat (or to its topic), not this one
# message: the bot was restricted, lost its admin rights in a channel, the topic is closed.
_CHAT_REFUSES = (
    "not enough rights",
    "need administrator rights",
    "have no rights",
    "chat_write_forbidden",
    "chat_restricted",
    "chat_admin_required",
    "chat_send_plain_forbidden",
    "topic_closed",
    "user is deactivated",
    "group chat was deactivated",
)
# 400 descriptions that say the topic the part was sent to no longer exists.
_TOPIC_GONE = ("message thread not found", "topic_deleted", "topic not found")
# How much of Telegram's description is kept for logs and notices (it is outside input).
MAX_REASON = 200


class Verdict(enum.Enum):
    """What to do with a part after an error, from Telegram's answer."""

    RETRY_NOW = "retry now"  # no answer, a timeout, a 5xx: retried in this flush, with backoff
    RETRY_LATER = "retry later"  # 429 given up, 401/404 token, 409, unreadable: next flush
    MIGRATED = "migrated"  # the group became a supergroup (400 migrate_to_chat_id)
    GONE = "gone"  # 403, or 400 chat not found: the chat is out of reach
    TOPIC_GONE = "topic gone"  # 400 message thread not found, for a part sent to a topic
    CHAT_REFUSES = "chat refuses"  # a 400 that refuses every message to the chat (or topic)
    PART_REFUSED = "part refused"  # any other 400: this message will never be accepted


def classify(exc: TelegramError, *, in_topic: bool = False) -> Verdict:
    """The verdict on a part that met `exc`; `in_topic` when it was sent to a forum topic."""
    if isinstance(exc, ChatMigrated):
        return Verdict.MIGRATED
    if isinstance(exc, Forbidden):
        return Verdict.GONE
    if isinstance(exc, BadRequest):  # a NetworkError subclass, but an answer
        text = exc.message.lower()
        if "chat not found" in text:
            return Verdict.GONE
        if in_topic and any(marker in text for marker in _TOPIC_GONE):
            return Verdict.TOPIC_GONE
        if any(marker in text for marker in _CHAT_REFUSES):
            return Verdict.CHAT_REFUSES
        return Verdict.PART_REFUSED
    if isinstance(exc, NetworkError):  # TimedOut included
        return Verdict.RETRY_NOW
    return Verdict.RETRY_LATER  # RetryAfter, InvalidToken, Conflict, anything unreadable


def reason(exc: TelegramError) -> str:
    """Telegram's description (or httpx's message) on one line, bounded: for a notice to the
    chat's owner. No URL, so never the token."""
    message = " ".join(exc.message.split())
    return message if len(message) <= MAX_REASON else message[: MAX_REASON - 1] + "…"


def describe(exc: TelegramError) -> str:
    """The error's kind and its bounded message, for the logs."""
    return f"{type(exc).__name__}: {reason(exc)}"
