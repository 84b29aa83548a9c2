"""Property: whatever text a user sends after whichever command, and whatever data a button
press carries, the real application answers it, within Telegram's limits (the fake Bot API
refuses what Telegram refuses), and logs no error.

Hypothesis drives the examples from a worker thread; each example runs in the test's event
loop, where the application runs, in a chat of its own.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import COMMAND_HANDLERS
from tests.conftest import FIXTURES, BotUnderTest, StartBot
from tests.fakes import FeedServer

API_PATH = "/api/query"
TEN_RESULTS = FIXTURES / "api-2025-11-21-all_electron-10-entries.xml"
ATOM = "application/atom+xml; charset=utf-8"
COMMANDS = [name for name, _ in COMMAND_HANDLERS]
MAX_USER_MESSAGE = 4096  # what a Telegram app lets a user send
EXAMPLES = 120  # per property: enough to reach every command many times, ~30 s in all
DEADLINE = 30.0  # seconds an answer may take at most (an upper bound, not a pause)
_chats = itertools.count(500_000)
# What the bot says to a chat; a refusal of these is a bug (a refused getChat of a channel
# that does not exist is not).
SAYING = frozenset(
    {"sendMessage", "sendDocument", "editMessageText", "editMessageReplyMarkup"}
    | {"answerCallbackQuery"}
)

T = TypeVar("T")

# Anything a Telegram client can send: every character but lone surrogates.
_CHARACTER = st.characters(blacklist_categories=("Cs",))
_WORD = st.text(_CHARACTER, max_size=12)
_ARGUMENTS = st.one_of(
    st.text(_CHARACTER, max_size=80),
    st.text(_CHARACTER, min_size=1_000, max_size=4_000),
    st.lists(_WORD, max_size=80).map(",".join),  # query lists
    st.lists(_WORD, max_size=40).map(" ".join),  # category lists, ids
    st.from_regex(r"[-+]?[0-9²³¹⁰٣]{0,30}", fullmatch=True),  # numbers and near-numbers
    st.sampled_from(
        [
            "America",
            "Etc",
            "cat:cs.LGG",
            "cat:cs.*",
            "ti:",
            '"',
            "a OR -b",
            "((((((((((a",
            "<b>x</b> &amp;",
            "2508.13167 hep-th/0505137",
            " ".join(f"2508.{n:05d}" for n in range(370)),
            "list " + "x" * 3_000,
            "@" + "c" * 3_000,
            "-" + "9" * 3_000,
            "zh",
            "off",
        ]
    ),
)


@pytest.fixture
async def bot(start_bot: StartBot, feeds: FeedServer) -> AsyncIterator[BotUnderTest]:
    """The bot with the cs.AI feed ingested and a search API that finds ten papers."""
    feeds.set_response(API_PATH, TEN_RESULTS.read_bytes(), content_type=ATOM)
    async with start_bot(arxiv_api_url=feeds.url + API_PATH) as running_bot:
        await running_bot.wait_for_papers(86)
        yield running_bot


async def _until(check: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(DEADLINE):
        while not check():
            await asyncio.sleep(0.02)
    assert check(), what


class Probe:
    """Runs one exchange at a time in the application's loop and checks its outcome."""

    def __init__(self, bot: BotUnderTest, caplog: pytest.LogCaptureFixture) -> None:
        self.bot = bot
        self.caplog = caplog
        self.loop = asyncio.get_running_loop()

    def run(self, exchange: Awaitable[T]) -> T:
        """Run a coroutine in the test's loop, from hypothesis's thread."""
        future = asyncio.run_coroutine_threadsafe(exchange, self.loop)  # type: ignore[arg-type]
        return future.result(timeout=4 * DEADLINE)

    def _refused(self) -> list[tuple[str, int, str]]:
        return [r for r in self.bot.telegram.rejected if r[0] in SAYING]

    def _errors(self) -> list[str]:
        records = self.caplog.records
        return [f"{r.name}: {r.getMessage()}" for r in records if r.levelno >= logging.ERROR]

    async def _finished(self, chat_id: int) -> None:
        """Wait until the chat's earlier updates are handled: an unknown command sent after
        them is answered after them (a chat's updates are handled in order)."""
        marker = f"/done{chat_id}"
        telegram = self.bot.telegram
        telegram.user_sends(chat_id, marker)
        await _until(
            lambda: any(marker in m.plain_text for m in telegram.messages_to(chat_id)),
            f"the chat {chat_id} is answered again",
        )

    async def command(self, text: str, language: str, subscribed: bool) -> None:
        """Send a command in a new chat (one that follows "learning" already, if
        `subscribed`): something comes back, no error, nothing refused."""
        telegram, chat_id = self.bot.telegram, next(_chats)

        def answers() -> int:
            return len(telegram.messages_to(chat_id)) + len(telegram.documents_to(chat_id))

        if subscribed:
            telegram.user_sends(chat_id, "/subscribe learning", language_code=language)
            await _until(lambda: answers() > 0, "an answer to /subscribe")
        before = answers()
        errors, refused = len(self._errors()), len(self._refused())
        telegram.user_sends(chat_id, text, language_code=language)
        await _until(lambda: answers() > before, f"an answer to {text[:80]!r}")
        await self._finished(chat_id)
        assert self._errors()[errors:] == [], text[:200]
        assert self._refused()[refused:] == [], text[:200]

    async def press(self, data: str) -> None:
        """Press a button carrying `data` under a message of the bot: the press is answered,
        no error, nothing refused."""
        telegram, chat_id = self.bot.telegram, next(_chats)
        telegram.user_sends(chat_id, "/lang")
        await _until(lambda: bool(telegram.messages_to(chat_id)), "the /lang menu")
        errors, refused = len(self._errors()), len(self._refused())
        answers = len(telegram.callback_answers)
        (menu,) = telegram.messages_to(chat_id)
        telegram.press_button(chat_id, menu.message_id, data, require_button=False)
        await _until(lambda: len(telegram.callback_answers) > answers, f"an answer to {data!r}")
        await self._finished(chat_id)
        assert self._errors()[errors:] == [], data
        assert self._refused()[refused:] == [], data


_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


async def test_every_command_answers_any_text(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    """Random text after every command (English and Chinese chats, following a keyword or
    none): each is answered, with messages Telegram accepts, and nothing is logged as an
    error."""
    caplog.set_level(logging.WARNING)
    probe = Probe(bot, caplog)

    @_SETTINGS
    @given(
        command=st.sampled_from(COMMANDS),
        args=_ARGUMENTS,
        language=st.sampled_from(["en", "zh"]),
        subscribed=st.booleans(),
    )
    def answered(command: str, args: str, language: str, subscribed: bool) -> None:
        text = f"/{command} {args}"[:MAX_USER_MESSAGE]
        probe.run(probe.command(text, language, subscribed))

    await asyncio.to_thread(answered)


async def test_every_button_answers_any_data(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    """A press whose data was forged, for each kind of button (More, /settings, /lang), is
    answered, and nothing is logged as an error."""
    caplog.set_level(logging.WARNING)
    probe = Probe(bot, caplog)

    @_SETTINGS
    @given(
        prefix=st.sampled_from(["more:", "settings:", "lang:"]),
        rest=st.one_of(
            st.text(_CHARACTER, max_size=40),
            st.from_regex(r"-?[0-9²]{0,25}", fullmatch=True),
            st.sampled_from(["zh", "en", "new", "cross", "revisions", "1"]),
        ),
    )
    def answered(prefix: str, rest: str) -> None:
        data = (prefix + rest).encode()[:64].decode(errors="ignore")  # Telegram's limit
        probe.run(probe.press(data))

    await asyncio.to_thread(answered)
