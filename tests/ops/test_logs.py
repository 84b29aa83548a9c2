"""Logging never shows the bot token, whoever logs it and however it is encoded."""

from __future__ import annotations

import json
import logging
import sys
import threading
import warnings
from collections.abc import Iterator

import pytest

from bot.ops.logs import (
    REDACTED,
    JsonFormatter,
    RedactingFormatter,
    SecretRedactor,
    install_redaction,
    log_uncaught,
    token_secrets,
)

TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuv"


@pytest.fixture
def redaction() -> Iterator[None]:
    factory = logging.getLogRecordFactory()
    install_redaction([TOKEN])
    yield
    logging.setLogRecordFactory(factory)


def test_redactor_replaces_plain_and_url_encoded_forms() -> None:
    """The token and its percent-encoded form are both replaced."""
    redact = SecretRedactor([TOKEN])
    text = f"GET https://api.telegram.org/bot{TOKEN}/getMe and 123456%3ATEST-token"
    assert TOKEN not in redact(text)
    assert redact(f"/bot{TOKEN}/x") == f"/bot{REDACTED}/x"
    assert redact("123456%3ATEST-token_abcdefghijklmnopqrstuv") == REDACTED


@pytest.mark.usefixtures("redaction")
def test_httpx_style_request_log_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    """httpx's 'HTTP Request: POST <url>' line reaches handlers without the token."""
    caplog.set_level(logging.INFO)
    url = f"https://api.telegram.org/bot{TOKEN}/getUpdates"
    logging.getLogger("httpx").info('HTTP Request: %s %s "%s"', "POST", url, "HTTP/1.1 200 OK")
    assert TOKEN not in caplog.text
    assert REDACTED in caplog.text


def test_json_lines_carry_time_level_logger_message_and_exception_without_the_token() -> None:
    """A JSON log line is one object with time, level, logger, message and the traceback;
    the token is redacted in the message and in the exception text alike."""
    formatter = JsonFormatter(SecretRedactor([TOKEN]))
    try:
        raise RuntimeError(f"cannot reach https://api.telegram.org/bot{TOKEN}/getMe")
    except RuntimeError:
        record = logging.LogRecord(
            "bot.app", logging.ERROR, __file__, 1, "Failed at %s", (f"/bot{TOKEN}/x",), None
        )
        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert set(entry) == {"time", "level", "logger", "message", "exception"}
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "bot.app"
    assert entry["message"] == f"Failed at /bot{REDACTED}/x"
    assert "RuntimeError: cannot reach" in entry["exception"]
    assert TOKEN not in line
    assert entry["time"].endswith("+00:00")


def test_the_token_is_redacted_whatever_its_case_and_its_secret_part_alone() -> None:
    """python-telegram-bot capitalizes an error text it was given ("Bad Request: cannot
    serve …/bot123:AAH…" becomes "Cannot serve …/bot123:aah…"): the token is found in any
    case, plain or URL-encoded; the secret part after the colon is found alone too."""
    redact = SecretRedactor(token_secrets(TOKEN))
    assert token_secrets(TOKEN) == [TOKEN, TOKEN.split(":", 1)[1]]
    assert redact(f"Cannot serve http://x/bot{TOKEN.lower()}/getme") == (
        f"Cannot serve http://x/bot{REDACTED}/getme"
    )
    assert redact("123456%3atest-TOKEN_abcdefghijklmnopqrstuv") == REDACTED
    assert redact("secret: TEST-token_abcdefghijklmnopqrstuv.") == f"secret: {REDACTED}."
    assert token_secrets("") == []


@pytest.fixture
def hooks() -> Iterator[None]:
    saved = sys.excepthook, threading.excepthook, sys.unraisablehook
    yield
    sys.excepthook, threading.excepthook, sys.unraisablehook = saved
    logging.captureWarnings(False)


@pytest.mark.usefixtures("redaction", "hooks")
def test_uncaught_exceptions_and_warnings_go_through_the_redacting_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After log_uncaught, an exception nobody caught (in the main thread or another) and a
    warning are log records, which the bot's formatter redacts, traceback included, rather
    than text printed raw."""
    caplog.set_level(logging.INFO)
    log_uncaught(logging.getLogger("bot"))
    try:
        raise RuntimeError(f"crashed on /bot{TOKEN}/getMe")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    thread = threading.Thread(target=lambda: 1 / 0)
    thread.start()
    thread.join()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(f"careful with /bot{TOKEN}/x", UserWarning, stacklevel=1)
    crashed = [r for r in caplog.records if r.getMessage().startswith("Uncaught exception")]
    assert [r.levelname for r in crashed] == ["CRITICAL", "ERROR"]  # the main thread's first
    assert all(r.exc_info is not None for r in crashed)
    formatter = RedactingFormatter(SecretRedactor([TOKEN]), "%(levelname)s %(message)s")
    text = "\n".join(formatter.format(record) for record in caplog.records)
    assert "RuntimeError: crashed on /bot<redacted>/getMe" in text
    assert "ZeroDivisionError" in text
    assert "careful with /bot<redacted>/x" in text
    assert TOKEN not in text
