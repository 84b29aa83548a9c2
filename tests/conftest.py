"""Shared fixtures: the fake Telegram Bot API, the loopback feed server, the real application."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import services as services_mod
from bot.app import running
from bot.arxiv.api import ArxivSearch
from bot.arxiv.fetcher import PoliteFetcher
from bot.arxiv.http import make_http_client
from bot.config import Config
from bot.delivery.outbox import Outbox
from bot.models import Paper
from bot.schedule import poll_running
from bot.services import Services
from bot.storage.store import Store
from tests.fakes import FakeBotAPI, FeedServer, SentMessage
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_api import WAIT  # the one bound on waits, for the fakes' too

# Opt in to python-telegram-bot's timedelta durations (RetryAfter.retry_after); the int form
# warns, and warnings are errors here. The bot's entry point sets the same.
os.environ.setdefault("PTB_TIMEDELTA", "true")

FIXTURES = Path(__file__).parent / "fixtures" / "arxiv"
TRUNCATED_ATOM = FIXTURES / "atom-cs.AI-2025-08-20-truncated.xml"
TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuv"
USER = 1001
TEST_USER_AGENT = "arxiv-digest-bot/0.1.0 (tests; mailto:tests@example.org)"


@pytest.fixture
def shell_umask() -> Iterator[int]:
    """The process's umask set to 022, a shell's usual one, for the test and restored after
    (child processes inherit it): a file created without a mode of its own is 0644."""
    before = os.umask(0o022)
    try:
        yield 0o022
    finally:
        os.umask(before)


@pytest.fixture
async def telegram() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(TOKEN) as api:
        yield api


@pytest.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    async with FeedServer() as server:
        server.set_response(
            "/atom/cs.AI", TRUNCATED_ATOM.read_bytes(), content_type="application/atom+xml"
        )
        yield server


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    """An empty loopback feed server, for tests that script its answers."""
    async with FeedServer() as feeds:
        yield feeds


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client as the bot builds it, with a short timeout for the hang tests."""
    async with make_http_client(TEST_USER_AGENT, timeout=0.3) as http:
        yield http


@pytest.fixture
def config(telegram: FakeBotAPI, feeds: FeedServer, tmp_path: Path) -> Config:
    """Settings pointing the bot at the fakes and a real SQLite file."""
    return Config(
        bot_token=TOKEN,
        bot_api_url=telegram.base_url,
        arxiv_rss_base=feeds.url + "/atom/",
        arxiv_categories=("cs.AI",),
        database_path=tmp_path / "data" / "bot.sqlite3",
        polling_timeout=1,
        http_timeout=5,
        # Tests talk fast to one chat; the real limits are exercised in test_ratelimit.py,
        # test_fakes.py and one end-to-end test that turns the referee on.
        telegram_private_per_s=50,
        telegram_private_burst=20,
    )


class BotUnderTest:
    """The running application, and a user who talks to it through the fake Bot API."""

    def __init__(self, app: Any, telegram: FakeBotAPI) -> None:
        self.app = app
        self.telegram = telegram
        self._job_names: dict[str, str] = {}

    @property
    def services(self) -> Services:
        return services_mod.get(self.app.bot_data)

    async def ask(
        self, text: str, chat_id: int = USER, replies: int = 1, **kwargs: Any
    ) -> list[SentMessage]:
        """Send a message as the user and wait for `replies` new messages in that chat."""
        before = len(self.telegram.messages_to(chat_id))
        self.telegram.user_sends(chat_id, text, **kwargs)
        messages = await self.telegram.wait_for_messages(chat_id, before + replies)
        return messages[before:]

    async def settle(self, chat_id: int = USER, quiet: float = 0.0) -> list[SentMessage]:
        """The chat's messages once the bot is idle (`idle`): every reply and digest part that
        the updates and jobs so far lead to has been sent, however slow the machine.

        `quiet` > 0 then also waits until no new message came for that many seconds, for a
        check that nothing more comes from outside the bot's own work (a pause proves only
        that nothing came during it, so it is never what a test waits for)."""
        await self.idle()
        count = len(self.telegram.messages_to(chat_id))
        while quiet > 0:
            await asyncio.sleep(quiet)
            await self.idle()
            if len(self.telegram.messages_to(chat_id)) == count:
                break
            count = len(self.telegram.messages_to(chat_id))
        return self.telegram.messages_to(chat_id)

    async def idle(self, timeout: float = WAIT) -> None:
        """Wait until the bot has nothing in hand: every update sent to it so far fetched and
        handled to its end, and no scheduled job (a digest, a catch-up, an outbox flush, a
        poll) running. `timeout` only bounds the wait: a bot still busy then is a failure."""
        busy = self._busy()
        try:
            async with asyncio.timeout(timeout):
                while busy:
                    await asyncio.sleep(0.01)
                    busy = self._busy()
        except TimeoutError:
            raise AssertionError(f"the bot is still busy after {timeout} s: {busy}") from None

    def _busy(self) -> str:
        """What the bot is doing right now, or "" when it is idle (one consistent look: no
        await in between)."""
        if self.telegram.pending_updates:
            return f"{len(self.telegram.pending_updates)} update(s) not fetched yet"
        # Updates put in the application's queue and not yet marked done by its processing
        # (python-telegram-bot calls task_done() once an update's handlers have returned).
        # Queue.join() waits for the same count but cannot be read at one instant with the rest.
        handling = int(getattr(self.app.update_queue, "_unfinished_tasks", 0))
        if handling:
            return f"{handling} update(s) being handled"
        running = self.running_jobs()
        if running:
            return f"job(s) running: {', '.join(running)}"
        return ""

    def running_jobs(self) -> list[str]:
        """The names of the scheduled jobs running now (APScheduler's count of each job's
        instances in flight, the one it enforces max_instances with)."""
        assert self.app.job_queue is not None
        # A job run once leaves the schedule as it starts: its name is remembered from before.
        self._job_names.update((job.job.id, str(job.name)) for job in self.app.job_queue.jobs())
        instances = self.app.job_queue.scheduler._lookup_executor("default")._instances
        return [self._job_names.get(job_id, job_id) for job_id, n in instances.items() if n]

    async def press_more(self, chat_id: int = USER) -> list[SentMessage]:
        """Press every "More" button the chat gets until the digest is complete."""
        while True:
            messages = await self.settle(chat_id)
            pending = [m for m in messages if any(d.startswith("more:") for d in m.callback_data)]
            if not pending:
                return messages
            message = pending[-1]
            edits = len(self.telegram.calls_to("editMessageReplyMarkup"))
            self.telegram.press_button(chat_id, message.message_id, message.callback_data[0])
            await self.telegram.wait_for_call("editMessageReplyMarkup", count=edits + 1)

    async def wait_for_papers(self, count: int, timeout: float = WAIT) -> None:
        """Wait until the start-up poll has stored at least `count` papers, and has ended
        (indexed and matched them, planned the next poll)."""
        async with asyncio.timeout(timeout):
            while (
                await self.services.store.count_papers() < count
                or poll_running(self.app.bot_data)
                or self.services.metrics.poll_running_since is not None
            ):
                await asyncio.sleep(0.05)

    async def run_job(self, name: str) -> None:
        """Run a scheduled job now, as the scheduler would when it comes due."""
        assert self.app.job_queue is not None
        jobs = self.app.job_queue.get_jobs_by_name(name)
        assert jobs, f"no job named {name}"
        await jobs[0].run(self.app)


StartBot = Callable[..., contextlib.AbstractAsyncContextManager[BotUnderTest]]


@pytest.fixture
def start_bot(config: Config, telegram: FakeBotAPI) -> StartBot:
    """Start the real application (optionally with changed settings) inside the test's loop."""

    @contextlib.asynccontextmanager
    async def start(**changes: Any) -> AsyncIterator[BotUnderTest]:
        async with running(dataclasses.replace(config, **changes)) as app:
            yield BotUnderTest(app, telegram)

    return start


@pytest.fixture
async def bot(start_bot: StartBot) -> AsyncIterator[BotUnderTest]:
    """The bot, started, with the real cs.AI feed of 2025-08-20 ingested (86 papers)."""
    async with start_bot() as running_bot:
        await running_bot.wait_for_papers(86)
        yield running_bot


def mentions(keyword: str, paper: Paper) -> bool:
    """Independent oracle: the keyword's words, each maybe plural, consecutive in the title
    or abstract, across spaces and hyphens."""
    words = [re.escape(word) + "(?:e?s)?" for word in keyword.split()]
    pattern = r"(?<![^\W_])" + r"[\s\-]+".join(words) + r"(?![^\W_])"
    return re.search(pattern, f"{paper.title} {paper.abstract}", re.IGNORECASE) is not None


def ids_in(messages: list[SentMessage]) -> list[str]:
    """The arXiv ids linked from messages, in order."""
    found: list[str] = []
    for message in messages:
        found += re.findall(r'href="https://arxiv\.org/abs/([^"]+)"', message.text)
    return found


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = WAIT) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def pipeline(config: Config, clock: FakeClock) -> AsyncIterator[Services]:
    """The services the pipeline runs on, built as app.on_startup builds them but on a fake
    clock (its `now` is UTC epoch seconds): the store stamps rows with it and the polite
    fetcher waits on it, so days pass in no time. No Telegram application is started."""

    def wall() -> dt.datetime:
        return dt.datetime.fromtimestamp(clock.now, dt.UTC)

    store = await Store.open(config.database_path, clock=wall)
    http = make_http_client(TEST_USER_AGENT, timeout=config.http_timeout)
    fetcher = PoliteFetcher(http, clock=clock, sleep=clock.sleep, wall_clock=wall, rand=lambda: 0.5)
    fetcher.load_state({url: state for url, (state, _) in (await store.fetch_state()).items()})
    outbox = Outbox(store, visible_parts=100)
    services = Services(
        config=config,
        store=store,
        http=http,
        outbox=outbox,
        fetcher=fetcher,
        search=ArxivSearch(fetcher, base=config.arxiv_api_url),
    )
    try:
        yield services
    finally:
        await http.aclose()
        await asyncio.to_thread(services.drafting.close)
        await store.close()


def noon_zone() -> str:
    """A time zone where it is about noon now (Etc/GMT+N is N hours behind UTC): a figure of
    "today" in /stats counts the same whenever within a few seconds the test runs."""
    behind = (dt.datetime.now(dt.UTC).hour - 1) % 24 - 11  # -11..12 hours: zones that exist
    return f"Etc/GMT{behind:+d}"


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (for the health endpoint)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
