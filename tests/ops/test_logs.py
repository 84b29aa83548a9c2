"""Logging never shows the bot token, whoever logs it and however it is encoded."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator

import pytest

from bot.ops.logs import REDACTED, JsonFormatter, SecretRedactor, install_redaction

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
