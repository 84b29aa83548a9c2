"""Logging never shows the bot token, whoever logs it and however it is encoded."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.logs import REDACTED, SecretRedactor, install_redaction

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
