"""Logging set-up that keeps secrets (the bot token) out of every log line."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Iterable
from urllib.parse import quote

REDACTED = "<redacted>"


class SecretRedactor:
    """Replaces each secret, and its URL-encoded form, by a placeholder."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms = set()
        for secret in secrets:
            if secret:
                forms.update({secret, quote(secret, safe=""), quote(secret)})
        # Longest first, so that a form containing another is replaced whole.
        self._forms = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text


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
