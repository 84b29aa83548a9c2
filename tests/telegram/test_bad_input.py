"""Input that used to end in "Sorry, something went wrong": each now gets a clear answer from
the real application (through the fake Bot API, which refuses what Telegram refuses: a
message over 4,096 characters among others), and nothing is logged as an error."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator

import pytest

from bot.i18n import texts
from bot.models import Paper
from tests.conftest import FIXTURES, USER, BotUnderTest, StartBot
from tests.fakes import FeedServer, SentMessage

API_PATH = "/api/query"
ZERO = FIXTURES / "api-2025-11-23-zero-results.xml"
ATOM = "application/atom+xml; charset=utf-8"
MANY_QUERIES = ",".join(f"w{number}" for number in range(15_000))
MANY_IDS = " ".join(f"2508.{10_000 + number}" for number in range(370))


@pytest.fixture
async def bot(start_bot: StartBot, feeds: FeedServer) -> AsyncIterator[BotUnderTest]:
    """The bot with the cs.AI feed ingested and its search API on the loopback server
    (which finds nothing)."""
    feeds.set_response(API_PATH, ZERO.read_bytes(), content_type=ATOM)
    async with start_bot(arxiv_api_url=feeds.url + API_PATH) as running_bot:
        await running_bot.wait_for_papers(86)
        yield running_bot


def assert_no_error(bot: BotUnderTest, caplog: pytest.LogCaptureFixture) -> None:
    """Nothing logged as an error, nothing refused by Telegram, no apology sent."""
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert bot.telegram.rejected == []
    sorry = texts.INTERNAL_ERROR
    assert [m.plain_text for m in bot.telegram.sent if m.plain_text == sorry] == []


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("/time " + "x" * 5_000, "Expected a time as HH:MM (24-hour clock), got 'xxx"),
        ("/timezone America", "Unknown time zone 'America'"),
        ("/timezone " + "A" * 5_000, "Unknown time zone 'AAA"),
        ("/export ²", "Usage: /export (the last 7 days)"),
        ("/export " + "9" * 5_000, "Usage: /export (the last 7 days)"),
        ("/latest ²", "matched: ²"),  # a query (² is 2), not a number
        ("/latest -+5", "The query only excludes terms"),
        ("/latest " + "9" * 5_000, "You follow no keywords yet."),
        ("/latest " + MANY_QUERIES, "That is 15000 queries; at most 50 at a time."),
        ("/unsubscribe " + MANY_QUERIES, "That is 15000 queries; at most 50 at a time."),
        ("/search " + MANY_IDS, "That is 370 arXiv ids; /search looks up at most 10 at a time."),
        ("/channel " + "c" * 5_000, "I cannot find the channel ccc"),
        ("/channel " + "9" * 5_000, "I cannot find the channel 999"),
    ],
    ids=lambda value: value[:24],
)
async def test_bad_input_gets_a_clear_answer(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture, command: str, answer: str
) -> None:
    """Over-long arguments, a folder of the tz database, superscript digits, 15,000 queries
    and 370 ids each get an answer that says what is wrong (echoing at most a short piece of
    the input), within Telegram's limits; no error is logged."""
    caplog.set_level(logging.WARNING)
    replies = await bot.ask(command)
    messages = await bot.settle()
    assert answer in replies[0].plain_text, replies[0].plain_text
    args = command.split(maxsplit=1)[1]
    if len(args) > 200:
        assert not [m for m in messages if args[:200] in m.plain_text], "not echoed whole"
    assert_no_error(bot, caplog)


async def test_a_preview_with_a_very_long_title_is_answered(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    """/subscribe previews last week's matches with their titles: a title of 6,000
    characters is shortened in the preview, and the subscription is confirmed."""
    caplog.set_level(logging.WARNING)
    title = "Zanzibarization " + "of remarkably long titles " * 230
    paper = Paper(
        arxiv_id="2508.99999",
        title=title,
        authors=("A. Author",),
        abstract="An abstract.",
        categories=("cs.AI",),
        announced=dt.datetime.now(dt.UTC).date(),
    )
    await bot.services.store.add_papers([paper])
    (reply,) = await bot.ask("/subscribe zanzibarization")
    assert "Subscribed to zanzibarization." in reply.plain_text
    assert "• Zanzibarization of remarkably long titles" in reply.plain_text
    assert "…" in reply.plain_text
    assert len(reply.plain_text) < 1_000
    assert await bot.services.store.subscriptions_for(USER) == ["zanzibarization"]
    assert_no_error(bot, caplog)


async def _pressed(bot: BotUnderTest, message: SentMessage, data: str) -> dict[str, object]:
    """Press a button with forged data on a message of the bot; Telegram's answer to it."""
    answered = len(bot.telegram.callback_answers)
    bot.telegram.press_button(USER, message.message_id, data, require_button=False)
    await bot.telegram.wait_for_call("answerCallbackQuery", count=answered + 1)
    return bot.telegram.callback_answers[answered]


async def test_forged_more_buttons_are_answered_as_expired(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    """A "More" press whose data was forged (superscript digits, a digest that does not
    exist, one of another chat, a number too large for the database) is answered "no longer
    valid", sends nothing to the chat and touches no message."""
    caplog.set_level(logging.WARNING)
    await bot.ask("/subscribe learning", chat_id=2002)
    await bot.ask("/digest", chat_id=2002)
    others = await bot.services.store.digest_chat(1)
    assert others == 2002, "the other chat's digest is number 1"
    (message,) = await bot.ask("/help")
    for data in ("more:²", "more:999999", "more:1", "more:" + "9" * 40, "more:-1"):
        answer = await _pressed(bot, message, data)
        assert answer.get("text") == texts.BUTTON_EXPIRED, data
    assert bot.telegram.messages_to(USER) == [message], "nothing else was sent"
    assert bot.telegram.calls_to("editMessageReplyMarkup") == []
    assert_no_error(bot, caplog)
