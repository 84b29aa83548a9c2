"""Updates of different chats run side by side, one chat's in order; a stop does not wait for
a command that waits for arXiv."""

from __future__ import annotations

import asyncio
import datetime as dt
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from telegram import Chat, Message, Update
from telegram.error import TimedOut

from bot.schedule import digest_job_name
from bot.telegram.updates import MAX_CONCURRENT_UPDATES, ChatOrderedProcessor, chat_key
from tests.conftest import USER, WAIT, BotUnderTest, StartBot, ids_in
from tests.fakes import FakeBotAPI, FeedServer

FIXTURES = Path(__file__).parents[1] / "fixtures" / "arxiv"
ZERO = FIXTURES / "api-2025-11-23-zero-results.xml"
API_PATH = "/api/query"
ATOM = "application/atom+xml; charset=utf-8"
OTHER = 777_000_001  # another user's private chat


def update(update_id: int, chat_id: int) -> Update:
    chat = Chat(id=chat_id, type=Chat.PRIVATE)
    message = Message(message_id=update_id, date=dt.datetime.now(dt.UTC), chat=chat)
    return Update(update_id=update_id, message=message)


async def test_updates_of_one_chat_run_in_order_and_other_chats_do_not_wait() -> None:
    """While chat 1's first update is blocked, its second waits and chat 2's runs to its end."""
    processor = ChatOrderedProcessor()
    await processor.initialize()
    release = asyncio.Event()
    log: list[str] = []

    async def work(name: str, blocker: asyncio.Event | None = None) -> None:
        log.append(f"{name} start")
        if blocker is not None:
            await blocker.wait()
        log.append(f"{name} end")

    first = asyncio.create_task(processor.process_update(update(1, 1), work("1a", release)))
    second = asyncio.create_task(processor.process_update(update(2, 1), work("1b")))
    other = asyncio.create_task(processor.process_update(update(3, 2), work("2a")))
    await other
    assert log == ["1a start", "2a start", "2a end"]
    release.set()
    await asyncio.gather(first, second)
    assert log[3:] == ["1a end", "1b start", "1b end"]
    assert processor._locks == {}  # idle chats are forgotten
    await processor.shutdown()


def test_an_update_belongs_to_its_chat_or_else_its_user() -> None:
    """The key is the chat; an object that is not an update has none."""
    assert chat_key(update(1, -100123)) == -100123
    assert chat_key(object()) is None


async def test_a_stop_cancels_what_outlives_the_grace_without_a_never_awaited_warning() -> None:
    """stop_updates lets a quick update finish, cancels a stuck one, and closes the update
    queued behind it (it never ran) cleanly."""
    processor = ChatOrderedProcessor()
    stuck = asyncio.Event()
    finished: list[str] = []

    async def forever() -> None:
        await stuck.wait()

    async def quick() -> None:
        finished.append("quick")

    tasks = [
        asyncio.create_task(processor.process_update(update(1, 1), forever())),
        asyncio.create_task(processor.process_update(update(2, 1), quick())),
        asyncio.create_task(processor.process_update(update(3, 2), quick())),
    ]
    await asyncio.sleep(0)  # let them start
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cancelled = await processor.stop_updates(grace=0.05)
    assert cancelled == 2  # the stuck one and the one of its chat behind it
    assert finished == ["quick"]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [isinstance(r, asyncio.CancelledError) for r in results] == [True, True, False]


async def test_a_search_waiting_for_arxiv_holds_up_no_other_chat(
    start_bot: StartBot, feeds: FeedServer, telegram: FakeBotAPI
) -> None:
    """A /search whose arXiv answer does not come does not delay another user's /help; the
    bot still stops promptly afterwards (the search is cancelled)."""
    feeds.set_response(API_PATH, ZERO.read_bytes(), content_type=ATOM, delay=3600)
    async with start_bot(arxiv_api_url=feeds.url + API_PATH, http_timeout=3600) as bot:
        before = len(telegram.messages_to(USER))
        telegram.user_sends(USER, "/search electron")
        await feeds.wait_for_requests(1, timeout=30, path=API_PATH)
        (reply,) = await bot.ask("/help", chat_id=OTHER)
        assert "/subscribe" in reply.plain_text
        assert len(telegram.messages_to(USER)) == before  # the search is still waiting


@pytest.fixture
async def bot(start_bot: StartBot) -> AsyncIterator[BotUnderTest]:
    """The bot with the feed ingested, sending at a paid broadcast's pace (the 256 answers
    below take a second, not nine)."""
    async with start_bot(telegram_global_per_s=300) as running_bot:
        await running_bot.wait_for_papers(86)
        yield running_bot


async def test_every_update_slot_waiting_on_telegram_leaves_connections_for_a_digest(
    bot: BotUnderTest, telegram: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every update slot busy with a call that Telegram is slow to answer (members of 256
    groups at once, each /subscribe making the bot ask whether its sender is an admin, each
    answer 2 s late): a digest sent meanwhile is not dropped for want of a connection to
    Telegram ("Pool timeout", the request never sent), and every group is answered."""
    request = bot.app.bot.request
    real = request.do_request
    pool_timeouts: list[str] = []

    async def watched(url: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        try:
            return await real(url, *args, **kwargs)
        except TimedOut as exc:
            if "Pool timeout" in exc.message:
                pool_timeouts.append(url.rsplit("/", 1)[-1])
            raise

    monkeypatch.setattr(request, "do_request", watched)
    await bot.ask("/subscribe diffusion")
    groups = [-(1_002_000_000_000 + n) for n in range(MAX_CONCURRENT_UPDATES)]
    telegram.answer_late("getChatMember", seconds=2.0, times=len(groups))
    for group in groups:
        telegram.user_sends(group, "/subscribe agents", chat_type="supergroup", user_id=USER)
    # All of them are in: every update slot waits for its late answer.
    await telegram.wait_for_call("getChatMember", len(groups), timeout=WAIT)
    before = len(telegram.messages_to(USER))
    await bot.run_job(digest_job_name(USER))
    assert ids_in(telegram.messages_to(USER)[before:]), "the digest was sent"
    await bot.idle()
    assert pool_timeouts == []
    assert all(telegram.messages_to(group) for group in groups), "every group was answered"
