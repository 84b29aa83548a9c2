"""A hostile arXiv on loopback, against the real application and the real `python -m bot`: a
feed that trickles, a gzip bomb, a body that never ends, a Retry-After of 31 years. The bot
keeps answering, fails the poll (never "no new papers"), stays small, plans the next poll, and
stops on SIGTERM within 10 s whatever is in flight. The last test meets all of them in one
poll of the real process, with declared entities and bad bytes besides, and checks that the
good papers of the poisoned feeds are stored."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import resource
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from bot.models import Paper
from bot.storage.store import Store
from tests.conftest import TOKEN, TRUNCATED_ATOM, BotUnderTest, StartBot
from tests.fakes import FakeBotAPI, FeedServer
from tests.fakes.feed_server import Answer, endless, gzip_bomb, retry_after, trickle
from tests.feedgen import atom_feed, in_title, sample_papers, with_entity_bomb
from tests.process import bot_process, live_env

FIXTURES = Path(__file__).parent / "fixtures" / "arxiv"
API_ANSWER = (FIXTURES / "api-2025-11-23-all_all-10-entries.xml").read_bytes()
FEED = "/atom/cs.AI"
API = "/api/query"
USER = 4343
TIMEOUT = 30.0
# A child that regresses to reading a bomb whole fails its test instead of taking the memory
# of the machine (the bot's address space, thread stacks and all, is far below this).
ADDRESS_SPACE_GUARD = 2 << 30


async def wait_for_log(path: Path, text: str, timeout: float = TIMEOUT, count: int = 1) -> str:
    """Wait until the process's log has `text` (`count` times); the whole log."""
    async with asyncio.timeout(timeout):
        while (output := await asyncio.to_thread(path.read_text, errors="replace")).count(
            text
        ) < count:
            await asyncio.sleep(0.05)
    return output


def peak_rss(pid: int) -> int:
    """The process's peak resident set size so far, in bytes (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {pid}")


async def ask(bot: BotUnderTest, text: str, timeout: float = TIMEOUT) -> str:
    """Send `text` as the user; the plain text of the one reply."""
    before = len(bot.telegram.messages_to(USER))
    bot.telegram.user_sends(USER, text)
    messages = await bot.telegram.wait_for_messages(USER, before + 1, timeout=timeout)
    return messages[before].plain_text


# Case 1: a feed that trickles -----------------------------------------------------------------


async def test_a_trickling_feed_leaves_help_and_search_answered(
    start_bot: StartBot, feeds: FeedServer
) -> None:
    """While the poll is stuck on a feed that sends a byte every 0.2 s (its deadline far off),
    /help is answered, and /search answers "arXiv is busy, try again" after its bounded wait
    for its turn instead of hanging behind the poll, which is still running."""
    feeds.set_answer(FEED, trickle(0.2))
    feeds.set_response(API, API_ANSWER, content_type="application/atom+xml")
    async with start_bot(
        arxiv_api_url=feeds.url + API, http_deadline=600.0, search_queue_timeout=1.0
    ) as bot:
        await feeds.wait_for_requests(1, path=FEED, timeout=TIMEOUT)
        assert "/subscribe" in await ask(bot, "/help")
        assert "arXiv is busy" in await ask(bot, "/search diffusion")
        assert feeds.requests_to(API) == []
        assert feeds.hung_up == 0  # the poll is still in its trickle
        assert len(feeds.requests_to(FEED)) == 1


async def test_sigterm_stops_the_real_bot_within_10_s_during_a_trickling_poll(
    tmp_path: Path,
) -> None:
    """The real process, its poll stuck on a feed that trickles a byte a second and a /search
    waiting behind it for its turn: SIGTERM stops it within 10 s, with status 0."""
    async with FakeBotAPI(TOKEN) as api, FeedServer() as feeds:
        feeds.set_answer(FEED, trickle(1.0))
        feeds.set_response(API, API_ANSWER, content_type="application/atom+xml")
        env = live_env(
            tmp_path,
            api.base_url,
            feeds.url,
            ARXIV_API_URL=feeds.url + API,
            SEARCH_QUEUE_TIMEOUT="300",  # the search is still waiting at SIGTERM
        )
        log_path = tmp_path / "bot.log"
        async with bot_process(env, log_path) as process:
            await feeds.wait_for_requests(1, path=FEED, timeout=TIMEOUT)
            api.user_sends(USER, "/help")
            await api.wait_for_messages(USER, 1, timeout=TIMEOUT)
            api.user_sends(USER, "/search diffusion")
            await api.wait_for_call("sendChatAction", timeout=TIMEOUT)  # it waits for arXiv
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                pytest.fail("the bot did not stop within 10 s of SIGTERM")
    output = log_path.read_text()
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert feeds.requests_to(API) == []
    answers = [message.plain_text for message in api.messages_to(USER)]
    assert len(answers) == 2  # the search that was waiting got an answer too
    assert "arXiv" in answers[1]


async def test_sigterm_stops_the_real_bot_within_10_s_whatever_is_in_flight(
    tmp_path: Path,
) -> None:
    """A reply stuck at SIGTERM (Telegram answers 429 "retry after 60" to every send, so the
    rate limiter waits a minute between tries): the command gets its 3 s grace, is cancelled
    and logged, and the process exits cleanly within 10 s (status 0). (Were anything else to
    hold the stop, the 7 s backstop would exit with status 1.)"""
    async with FakeBotAPI(TOKEN) as api, FeedServer() as feeds:
        feeds.set_response(FEED, TRUNCATED_ATOM.read_bytes())
        api.fail_next("sendMessage", status=429, retry_after=60, times=100)
        env = live_env(tmp_path, api.base_url, feeds.url)
        log_path = tmp_path / "bot.log"
        async with bot_process(env, log_path) as process:
            api.user_sends(USER, "/help")
            await api.wait_for_call("sendMessage", timeout=TIMEOUT)
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                pytest.fail("the bot did not stop within 10 s of SIGTERM")
    output = log_path.read_text()
    assert process.returncode == 0, output
    assert "Stopping: cancelled 1 command(s) still in flight" in output


def test_the_limits_are_settings() -> None:
    """The deadline, the body cap and the search's wait come from the environment (or the
    config file), with defaults; out-of-range values stop the start naming the key."""
    base = {"BOT_TOKEN": TOKEN, "BOT_CONFIG": "config/bot.toml"}
    config = load_config(base)
    assert (config.http_deadline, config.http_max_body_mb, config.search_queue_timeout) == (
        90.0,
        50,
        10.0,
    )
    env = {
        **base,
        "HTTP_DEADLINE": "20",
        "HTTP_MAX_BODY_MB": "8",
        "SEARCH_QUEUE_TIMEOUT": "2.5",
    }
    config = load_config(env)
    assert (config.http_deadline, config.http_max_body_mb, config.search_queue_timeout) == (
        20.0,
        8,
        2.5,
    )
    for key, value in [
        ("HTTP_DEADLINE", "0"),
        ("HTTP_MAX_BODY_MB", "0"),
        ("HTTP_MAX_BODY_MB", "lots"),
        ("SEARCH_QUEUE_TIMEOUT", "-1"),
    ]:
        with pytest.raises(ConfigError, match=f"^{key}:"):
            load_config({**base, key: value})


# Case 2: a gzip bomb, a body that never ends ---------------------------------------------------


@pytest.mark.parametrize(
    "answer", [gzip_bomb(6 << 30), endless()], ids=["gzip bomb of 6 GiB", "endless body"]
)
async def test_an_oversized_feed_fails_the_poll_and_the_bot_stays_small(
    tmp_path: Path, answer: Answer
) -> None:
    """The real process polls a feed that inflates to 6 GiB (or never ends): the poll fails at
    the 50 MiB cap, logged as a failed poll (never "no new papers") with the next poll planned,
    no paper is stored, /help is answered, and the peak RSS stays under 300 MB."""
    async with FakeBotAPI(TOKEN) as api, FeedServer() as feeds:
        feeds.set_answer(FEED, answer)
        env = live_env(tmp_path, api.base_url, feeds.url)
        log_path = tmp_path / "bot.log"
        async with bot_process(env, log_path) as process:
            guard = (ADDRESS_SPACE_GUARD, ADDRESS_SPACE_GUARD)
            resource.prlimit(process.pid, resource.RLIMIT_AS, guard)
            await feeds.wait_for_requests(1, path=FEED, timeout=TIMEOUT)
            await wait_for_log(log_path, "Feed poll failed")
            api.user_sends(USER, "/help")
            await api.wait_for_messages(USER, 1, timeout=TIMEOUT)
            peak = peak_rss(process.pid)
            assert process.returncode is None
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), timeout=TIMEOUT)
    output = log_path.read_text()
    assert peak < 300 * 10**6, f"peak RSS {peak / 1e6:.0f} MB"
    assert "larger than 50 MiB" in output
    assert output.count("Next feed poll at") >= 2  # at start, and after the failed poll
    store = await Store.open(tmp_path / "bot.sqlite3")
    try:
        assert await store.count_papers() == 0
    finally:
        await store.close()


# Case 6: Retry-After: 999999999 from the search API ---------------------------------------------


async def test_a_huge_retry_after_on_search_does_not_stop_the_feed_polls(
    start_bot: StartBot, feeds: FeedServer
) -> None:
    """/search answered 429 with Retry-After: 999999999: the user hears that arXiv is
    rate-limiting, the next /search is answered the same without asking arXiv, and the next
    feed poll still fetches the feed."""
    feeds.set_answer(API, retry_after("999999999"))
    async with start_bot(arxiv_api_url=feeds.url + API) as bot:
        await bot.wait_for_papers(86)
        assert "rate-limiting" in await ask(bot, "/search diffusion")
        assert "rate-limiting" in await ask(bot, "/search transformers")
        assert len(feeds.requests_to(API)) == 1
        polls = len(feeds.requests_to(FEED))
        await bot.run_job("poll")
        assert len(feeds.requests_to(FEED)) == polls + 1


# Every hostile answer in one run of the real process ---------------------------------------------

# Each category has a feed URL of its own (see `hostile_arxiv`), polled in this order.
HOSTILE = ("cs.AI", "cs.CL", "cs.CV", "cs.DB", "cs.DC", "cs.DL", "cs.LG")
OTHER_USER = 4747
HELP_WITHIN = 2.0  # seconds: the bound on another user's /help during the poll
PEAK_WITHIN = 300 * 10**6  # bytes of peak RSS
POLL_WITHIN = 240.0  # an upper bound on waiting for the hostile poll to end


Spoiler = Callable[[bytes, Paper], bytes]  # a feed, the paper of the entry to spoil


def latin1_title(feed: bytes, paper: Paper) -> bytes:
    """The paper's title in Latin-1 inside a UTF-8 feed: one invalid UTF-8 byte (its "ö")."""
    return feed.replace(paper.title.encode(), paper.title.encode("latin-1"))


# The feeds with papers: category, the first paper's number, what spoils the 11th of its 21
# entries, and whether that entry is stored all the same.
POISONED: tuple[tuple[str, int, Spoiler | None, bool], ...] = (
    ("cs.AI", 1, None, True),  # clean, but served after a trickle
    ("cs.CL", 101, lambda feed, bad: with_entity_bomb(feed, bad.arxiv_id), False),
    ("cs.CV", 201, lambda feed, bad: in_title(feed, bad.arxiv_id, b"&#xD800;"), False),
    ("cs.DB", 301, latin1_title, True),  # with one U+FFFD for the bad byte
)


async def hostile_arxiv(feeds: FeedServer, database: Path) -> dict[str, tuple[set[str], str]]:
    """Serve one hostile answer per feed URL, and make each category a feed URL of its own (the
    bot packs categories into URLs by the sizes it stored last: here, more than half of
    arXiv's 2,000-item limit each). Returns, per feed with papers, the ids that must be stored
    and the id that must not be ("" if none)."""
    expected = {}
    for category, first, spoil, kept in POISONED:
        papers = sample_papers(21, first=first)
        bad = papers[10]
        feed = atom_feed(papers, categories=category, updated=dt.datetime.now(dt.UTC))
        body = spoil(feed, bad) if spoil is not None else feed
        feeds.set_response(f"/atom/{category}", body, content_type="application/atom+xml")
        good = {paper.arxiv_id for paper in papers if kept or paper is not bad}
        expected[category] = (good, "" if kept else bad.arxiv_id)
    feeds.script("/atom/cs.AI", trickle(1.0))  # first a trickle; the retry gets the feed
    feeds.set_answer("/atom/cs.DC", gzip_bomb(6 << 30))
    feeds.set_answer("/atom/cs.DL", endless())
    feeds.set_answer("/atom/cs.LG", retry_after("999999999"))  # last: it stops the feed lane
    store = await Store.open(database)
    try:
        await store.save_category_sizes({category: 1001 for category in HOSTILE})
    finally:
        await store.close()
    return expected


async def keep_asking_help(api: FakeBotAPI, latencies: list[float], done: asyncio.Event) -> None:
    """Another user sends /help, waits for the answer and notes how long it took, again and
    again (a quarter of a second apart) until `done`."""
    while not done.is_set():
        before = len(api.messages_to(OTHER_USER))
        asked = time.monotonic()
        api.user_sends(OTHER_USER, "/help")
        await api.wait_for_messages(OTHER_USER, before + 1, timeout=TIMEOUT)
        latencies.append(time.monotonic() - asked)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 0.25)


async def test_the_real_bot_survives_a_hostile_arxiv_and_keeps_the_good_papers(
    tmp_path: Path,
) -> None:
    """The real process polls an arXiv whose seven feed URLs each answer something hostile, in
    one poll: a trickle (a byte a second: the request misses its 10 s deadline; the retry gets
    the feed), entities declared in a DOCTYPE, a "&#xD800;" in one entry, an invalid UTF-8 byte
    in one entry, a 6 GiB gzip bomb, a body that never ends and a 429 with Retry-After:
    999999999. Throughout, another user's /help is answered within 2 s each time; the peak
    RSS stays under 300 MB; the poll ends and plans the next ("Next feed poll at"); the good
    papers of the poisoned feeds are stored (the bad byte's paper with one U+FFFD), the
    spoiled entries are not; SIGTERM then stops the bot with status 0."""
    database = tmp_path / "bot.sqlite3"
    async with FakeBotAPI(TOKEN) as api, FeedServer() as feeds:
        expected = await hostile_arxiv(feeds, database)
        env = live_env(
            tmp_path,
            api.base_url,
            feeds.url,
            HTTP_DEADLINE="10",
            TELEGRAM_PRIVATE_PER_S="50",  # the user asks faster than Telegram's 1/s per chat
            TELEGRAM_PRIVATE_BURST="20",
        )
        env["ARXIV_CATEGORIES"] = "+".join(HOSTILE)
        log_path = tmp_path / "bot.log"
        latencies: list[float] = []
        done = asyncio.Event()
        async with bot_process(env, log_path) as process:
            guard = (ADDRESS_SPACE_GUARD, ADDRESS_SPACE_GUARD)
            resource.prlimit(process.pid, resource.RLIMIT_AS, guard)
            api.user_sends(OTHER_USER, "/help")  # answered once the bot is up
            await api.wait_for_messages(OTHER_USER, 1, timeout=TIMEOUT)
            asking = asyncio.create_task(keep_asking_help(api, latencies, done))
            try:
                # At start, and once the hostile poll is over.
                await wait_for_log(log_path, "Next feed poll at", POLL_WITHIN, count=2)
            finally:
                done.set()
                await asking
            peak = peak_rss(process.pid)
            assert process.returncode is None
            requested = {request.path for request in feeds.requests}
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), timeout=TIMEOUT)
    output = log_path.read_text()
    assert process.returncode == 0, output
    assert requested == {f"/atom/{category}" for category in HOSTILE}
    assert "no complete answer within the 10 s deadline" in output  # the trickle
    assert "larger than 50 MiB" in output  # the bomb (and the endless body, unless slow)
    assert output.count("Feed poll failed") >= 3  # bomb, endless body, Retry-After
    assert "Feed poll broke" not in output
    assert "Traceback" not in output
    assert len(latencies) >= 10
    assert max(latencies) < HELP_WITHIN, f"/help took {max(latencies):.2f} s"
    assert peak < PEAK_WITHIN, f"peak RSS {peak / 1e6:.0f} MB"
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        stored = {row[0]: row[1] for row in db.execute("SELECT arxiv_id, title FROM papers")}
    for category, (good, spoiled_id) in expected.items():
        assert good <= stored.keys(), f"{category}: {sorted(good - stored.keys())} missing"
        assert spoiled_id not in stored, f"{category}: the spoiled entry {spoiled_id} was stored"
    (spoiled,) = [title for title in stored.values() if "\ufffd" in title]
    assert spoiled == "Schr\ufffddinger bridges for problem 311"
