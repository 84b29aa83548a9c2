"""Updates of different chats run side by side, one chat's in order; a stop does not wait for
a command that waits for arXiv."""

from __future__ import annotations

import asyncio
import datetime as dt
import warnings
from pathlib import Path

from telegram import Chat, Message, Update

from bot.telegram.updates import ChatOrderedProcessor, chat_key
from tests.conftest import USER, StartBot
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
