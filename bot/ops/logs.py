"""Logging set-up that keeps secrets (the bot token) out of every log line, and routes what
would otherwise be printed raw (uncaught exceptions, warnings) through it."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote

REDACTED = "<redacted>"
# The secret part of a bot token alone is redacted too, when it is this long (a token's is
# 35 characters); shorter ones would hide ordinary words.
_MIN_SECRET_PART = 16


def token_secrets(token: str) -> list[str]:
    """What of a bot token (`123456:AAH…`) must never be logged: the token, and its secret
    part after the colon, which an error text may show alone."""
    if not token:
        return []
    _, colon, secret = token.partition(":")
    return [token, secret] if colon and len(secret) >= _MIN_SECRET_PART else [token]


class SecretRedactor:
    """Replaces each secret, and its URL-encoded forms, by a placeholder, whatever their case:
    python-telegram-bot capitalizes an error text, which lower-cases a token that it echoes."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms = set()
        for secret in secrets:
            if secret:
                forms.update({secret, quote(secret, safe=""), quote(secret)})
        # Longest first, so that a form containing another is replaced whole.
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(map(re.escape, ordered)), re.IGNORECASE) if ordered else None
        )

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)


class RedactingFormatter(logging.Formatter):
    """A formatter whose whole output, traceback included, passes through the redactor."""

    def __init__(self, redact: SecretRedactor, fmt: str) -> None:
        super().__init__(fmt)
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and exception when there is
    one; every field passes through the redactor before it is encoded."""

    def __init__(self, redact: SecretRedactor) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
        entry = {
            "time": moment.isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self._redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = self._redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = self._redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = self._redact(self.formatStack(record.stack_info))
        return self._redact(json.dumps(entry, ensure_ascii=False))


def install_redaction(secrets: Iterable[str]) -> SecretRedactor:
    """Redact secrets in every record as it is created, whichever handler later sees it.

    httpx logs each request URL, and Telegram's URLs contain the token, so filtering one
    handler is not enough: the record factory covers handlers added later (pytest's too).
    """
    redact = SecretRedactor(secrets)
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: leave it to logging's own error report
            return record
        record.msg, record.args = redact(message), None
        return record

    logging.setLogRecordFactory(factory)
    return redact


def log_uncaught(log: logging.Logger) -> None:
    """Log what Python would print raw to stderr, past the redactor: an exception nobody
    caught (in any thread), an exception it cannot raise (in a finalizer) and warnings."""

    def uncaught(
        kind: type[BaseException], error: BaseException, trace: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, trace)
            return
        log.critical("Uncaught exception: %s", error, exc_info=(kind, error, trace))

    def in_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or issubclass(args.exc_type, SystemExit):
            return
        name = args.thread.name if args.thread is not None else "?"
        trace = (args.exc_type, args.exc_value, args.exc_traceback)
        log.error("Uncaught exception in thread %s: %s", name, args.exc_value, exc_info=trace)

    def unraisable(args: Any) -> None:
        error = args.exc_value
        trace = (args.exc_type, error, args.exc_traceback) if error is not None else None
        log.error("%s: %r", args.err_msg or "Exception ignored in", args.object, exc_info=trace)

    sys.excepthook = uncaught
    threading.excepthook = in_thread
    sys.unraisablehook = unraisable
    logging.captureWarnings(True)


def setup_early_logging(environ: Mapping[str, str]) -> None:
    """Logging until the configuration is read: to stderr at INFO, with the token of the
    environment (BOT_TOKEN) redacted, as JSON if LOG_FORMAT says so, else the bare messages
    (a configuration error reads as a sentence)."""
    redact = install_redaction(token_secrets(environ.get("BOT_TOKEN", "").strip()))
    handler = logging.StreamHandler(sys.stderr)
    if environ.get("LOG_FORMAT", "").strip().casefold() == "json":
        handler.setFormatter(JsonFormatter(redact))
    else:
        handler.setFormatter(RedactingFormatter(redact, "%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def setup_logging(level: str, secrets: Iterable[str], log_format: str = "text") -> None:
    """Log to stderr at `level` as text lines or JSON objects ("json"), with secrets redacted;
    keep chatty libraries at WARNING."""
    redact = install_redaction(secrets)
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(redact))
    else:
        handler.setFormatter(
            RedactingFormatter(redact, "%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pylatexenc reports each LaTeX fragment it could not parse at INFO; the text is kept raw.
    logging.getLogger("pylatexenc").setLevel(logging.WARNING)
    if level != "DEBUG":
        # httpx logs one INFO line per request: long polling makes that one every few seconds.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
