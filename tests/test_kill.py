"""The outbox under SIGKILL: delivery survives the bot process being killed and restarted.

The real `python -m bot` process runs against the fake Bot API on a real database, is killed
with SIGKILL at seeded random moments, several times, and is restarted on the same database
each time. The fake's record and the database are the verdict: every part arrives, each
chat's parts in order; the database never counts as sent a part that Telegram did not get;
and a part arrives again only if a kill cut off its confirmation, once per such kill.

Not "at most one duplicate per kill": the bot keeps sends in flight while earlier ones are
being confirmed (that is how it fills Telegram's pipe), so one kill can cut off the
confirmation of several parts; at 120 messages/s a kill has cut off up to 6. No Bot API call
can tell whether a message was posted, so those parts must be sent again. The tests measure,
after each kill, exactly which parts it cut off (received by the fake, still pending in the
database of the dead process) and allow those, and nothing else, one more copy.

The kill moments vary from run to run; the seed is in every failure message, and
KILL_TEST_SEED=<seed> replays the same plan.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import os
import random
import re
import socket
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.arxiv.feeds import parse_feed
from bot.storage.store import Store, utcnow
from bot.telegram.subscriptions import subscription_key
from tests.conftest import TOKEN, TRUNCATED_ATOM, ids_in, mentions
from tests.fakes import FakeBotAPI, FeedServer, SentMessage
from tests.process import bot_process, live_env

CHATS = 300
GROUP_EVERY = 5  # every fifth chat is a group
KILLS = 4
CATCH_UP_CHATS = 100
KEYWORD = "diffusion"
# Fast limits keep the tests quick; the fake referees the same ones.
GLOBAL_PER_S = 120
PRIVATE_PER_S = 50.0
PRIVATE_BURST = 10
GROUP_PER_MIN = 1000
MARKER = re.compile(r"\[kill-test (-?\d+):(\d+)\]")
TIMEOUT = 30.0

Part = tuple[int, str]  # chat id, text as the bot sends it


@dataclass(frozen=True)
class Kill:
    """SIGKILL once the fake has received `after` sendMessage calls in all, `delay` s later."""

    after: int
    delay: float


@dataclass
class Runs:
    """What the fake saw of each run of the process, and what each kill cut off."""

    starts: list[int] = field(default_factory=list)  # each run's first index in `api.sent`
    cut_off: list[set[Part]] = field(default_factory=list)  # received, still pending

    def repeats_unexplained(self, sent: list[SentMessage]) -> dict[Part, int]:
        """Parts that arrived more often than once plus once per kill that cut them off."""
        copies = Counter(part_of(message) for message in sent)
        return {
            part: times
            for part, times in copies.items()
            if times - 1 > sum(part in parts for parts in self.cut_off)
        }

    def repeats_within_a_run(self, sent: list[SentMessage]) -> list[list[Part]]:
        """For each run, the parts it sent more than once (a kill is needed for a repeat)."""
        bounds = [*self.starts, len(sent)]
        return [
            [part for part, n in Counter(map(part_of, sent[start:end])).items() if n > 1]
            for start, end in itertools.pairwise(bounds)
        ]


def part_of(message: SentMessage) -> Part:
    return message.chat_id, message.text


def plan_kills(rng: random.Random, low: int, high: int, count: int = KILLS) -> list[Kill]:
    """`count` kills spread over sends `low`..`high`, right as a message arrives or a few ms
    later, and one while a restarted bot is still starting (its `after` is already reached)."""
    counts = sorted(rng.sample(range(low, high), count - 1))
    kills = [Kill(after, rng.choice((0.0, rng.uniform(0.0, 0.05)))) for after in counts]
    at = rng.randrange(1, count)
    kills.insert(at, Kill(counts[at - 1], rng.uniform(0.1, 1.5)))
    return kills


def seeded() -> tuple[int, random.Random]:
    """A fresh seed each run, or KILL_TEST_SEED's, and its generator."""
    seed = int(os.environ.get("KILL_TEST_SEED") or random.SystemRandom().randrange(2**32))
    return seed, random.Random(seed)


@contextlib.asynccontextmanager
async def opened(path: Path) -> AsyncIterator[Store]:
    store = await Store.open(path)
    try:
        yield store
    finally:
        await store.close()


async def pending_parts(path: Path) -> set[Part]:
    """The parts the database still has to send."""
    async with opened(path) as store:
        return {(part.chat_id, part.text) for part in await store.pending_parts()}


@contextlib.asynccontextmanager
async def fakes() -> AsyncIterator[tuple[FakeBotAPI, FeedServer]]:
    """The fake Bot API refereeing the tests' fast limits, and the feed with the real papers."""
    async with FakeBotAPI(TOKEN) as api, FeedServer() as feeds:
        feeds.set_response("/atom/cs.AI", TRUNCATED_ATOM.read_bytes())
        api.enforce_rate_limits(
            global_per_s=GLOBAL_PER_S,
            private_per_s=PRIVATE_PER_S,
            private_burst=PRIVATE_BURST,
            group_limit=GROUP_PER_MIN,
        )
        yield api, feeds


def fast_env(tmp_path: Path, api: FakeBotAPI, feeds: FeedServer) -> dict[str, str]:
    return live_env(
        tmp_path,
        api.base_url,
        feeds.url,
        TELEGRAM_GLOBAL_PER_S=str(GLOBAL_PER_S),
        TELEGRAM_PRIVATE_PER_S=str(PRIVATE_PER_S),
        TELEGRAM_PRIVATE_BURST=str(PRIVATE_BURST),
        TELEGRAM_GROUP_PER_MIN=str(GROUP_PER_MIN),
    )


async def sends(api: FakeBotAPI, count: int, log: Path, about: str) -> None:
    """Wait for the fake's `count`-th sendMessage call in all."""
    try:
        await api.wait_for_call("sendMessage", count, timeout=TIMEOUT)
    except AssertionError:
        tail = (await asyncio.to_thread(log.read_text, errors="replace")).splitlines()[-20:]
        raise AssertionError(f"no sendMessage number {count}; {about}; log:", *tail) from None


async def settled(api: FakeBotAPI) -> None:
    """Wait until the fake has taken in all that a killed bot had written to its sockets
    (the kernel holds it for the fake, however slowly it reads): a request of ours made
    after the kill is answered, so every connection the bot had opened was accepted before
    it (they are accepted in the order they came), then no connection is left open and no
    request is in hand."""
    async with httpx.AsyncClient() as probe:
        (await probe.post(f"{api.base_url}{api.token}/getMe", timeout=TIMEOUT)).raise_for_status()
    try:
        async with asyncio.timeout(TIMEOUT):
            while api.open_connections or api.requests_in_hand:
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(
            f"the fake still has {api.open_connections} connection(s) open and"
            f" {api.requests_in_hand} request(s) in hand after the kill"
        ) from None


async def kill_and_restart(
    api: FakeBotAPI,
    env: dict[str, str],
    tmp_path: Path,
    kills: list[Kill],
    done: Callable[[], bool],
    about: str,
) -> Runs:
    """Run the bot once per kill, killing it as planned, then once more until `done()` and
    nothing is pending (or a timeout: the caller's verdict then says what is missing)."""
    database = tmp_path / "bot.sqlite3"
    runs = Runs()
    for run, kill in enumerate(kills):
        runs.starts.append(len(api.sent))
        log = tmp_path / f"bot-{run}.log"
        async with bot_process(env, log) as process:
            await sends(api, kill.after, log, about)
            await asyncio.sleep(kill.delay)
            process.kill()
            await process.wait()
        await settled(api)
        received = set(map(part_of, api.sent))
        async with opened(database) as store:
            pending = {(part.chat_id, part.text) for part in await store.pending_parts()}
            marked_sent = (await store.counts(utcnow() - dt.timedelta(days=1)))["messages"]
        runs.cut_off.append(received & pending)
        # Nothing counts as sent that Telegram did not get: every message here is an outbox
        # part, so the parts marked sent are exactly the received ones not pending.
        assert marked_sent == len(received - pending), f"after kill {run}: {about}"
    runs.starts.append(len(api.sent))
    async with bot_process(env, tmp_path / "bot-last.log"):
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(TIMEOUT):
                while not done():
                    calls = len(api.calls_to("sendMessage"))
                    await api.wait_for_call("sendMessage", calls + 1, timeout=2 * TIMEOUT)
                while await pending_parts(database):
                    await asyncio.sleep(0.1)
        # A moment longer: anything this run sent twice would show.
        await asyncio.sleep(0.5)
    return runs


def marked(text: str) -> tuple[int, int]:
    match = MARKER.search(text)
    assert match, text
    return int(match[1]), int(match[2])


async def compose_outbox(path: Path, rng: random.Random) -> list[tuple[int, int]]:
    """Chats with one composed digest each, through the bot's own store; returns the parts
    as (chat, part number)."""
    async with opened(path) as store:
        # A daily slot half a day away: no digest job comes due during the test.
        slot = (utcnow() + dt.timedelta(hours=12)).time().replace(second=0, microsecond=0)
        parts: list[tuple[int, int]] = []
        for index in range(CHATS):
            group = index % GROUP_EVERY == 0
            chat_id = -(1_001_000_000_000 + index) if group else 300_000_000 + index
            await store.ensure_chat(chat_id, slot, "UTC")
            count = rng.choice((1, 2, 3))
            numbers = range(1, count + 1)
            texts = [f"<b>Digest</b> {n}/{count} [kill-test {chat_id}:{n}]" for n in numbers]
            await store.compose_digest(chat_id, [(text, ()) for text in texts], visible=3)
            parts += [(chat_id, n) for n in numbers]
        return parts


async def test_sigkill_during_fan_out_loses_nothing_and_repeats_only_what_a_kill_cut_off(
    tmp_path: Path,
) -> None:
    """Killed with SIGKILL at random moments of a fan-out to 300 chats and restarted each
    time, the bot delivers every part, each chat's in order, and leaves nothing pending. A
    part counts as sent only once Telegram has it; it is sent again only when a kill came
    before its confirmation was recorded, once per such kill, never twice within one run."""
    seed, rng = seeded()
    expected = await compose_outbox(tmp_path / "bot.sqlite3", rng)
    kills = plan_kills(rng, len(expected) // 20, len(expected) * 9 // 10)
    about = f"seed {seed} (KILL_TEST_SEED={seed} replays it), {len(expected)} parts, {kills}"

    async with fakes() as (api, feeds):
        env = fast_env(tmp_path, api, feeds)

        def done() -> bool:
            return set(expected) <= {marked(message.text) for message in api.sent}

        runs = await kill_and_restart(api, env, tmp_path, kills, done, about)
    left = await pending_parts(tmp_path / "bot.sqlite3")

    about += f", cut off by each kill: {[sorted(parts) for parts in runs.cut_off]}"
    arrivals = [marked(message.text) for message in api.sent]
    assert all(marked(m.text)[0] == m.chat_id for m in api.sent), about
    missing = sorted(set(expected) - set(arrivals))
    assert missing == [], f"lost parts {missing}; {about}"
    assert left == set(), f"still pending: {sorted(left)}; {about}"
    first_arrivals: dict[int, list[int]] = defaultdict(list)
    for chat, number in dict.fromkeys(arrivals):
        first_arrivals[chat].append(number)
    disordered = {c: numbers for c, numbers in first_arrivals.items() if numbers != sorted(numbers)}
    assert disordered == {}, f"parts out of order: {disordered}; {about}"
    excess = runs.repeats_unexplained(api.sent)
    assert excess == {}, f"parts repeated without a kill to explain it: {excess}; {about}"
    assert not any(runs.repeats_within_a_run(api.sent)), about
    repeats = len(arrivals) - len(set(arrivals))
    cut_off = [len(parts) for parts in runs.cut_off]
    # Shown with -s: the figures quoted in the README.
    print(f"kill test: {len(expected)} parts, {len(kills)} kills, {repeats} repeats, cut {cut_off}")


async def prepare_missed_digests(path: Path) -> list[int]:
    """Chats following KEYWORD whose daily digest came due two days ago, while the bot was
    down, with the real feed's papers stored; returns the chat ids."""
    papers = parse_feed(TRUNCATED_ATOM.read_bytes()).papers
    async with opened(path) as store:
        await store.add_papers(papers)
        chats = [300_000_000 + index for index in range(CATCH_UP_CHATS)]
        slot = (utcnow() + dt.timedelta(hours=12)).time().replace(second=0, microsecond=0)
        for chat_id in chats:
            await store.ensure_chat(chat_id, slot, "UTC")
            await store.add_subscriptions(chat_id, [(subscription_key(KEYWORD), KEYWORD)])
            await store.record_digest(chat_id, utcnow() - dt.timedelta(days=2))
    return chats


async def test_sigkill_while_catching_up_missed_digests_sends_each_digest_once(
    tmp_path: Path,
) -> None:
    """100 chats whose digest came due while the bot was down get it after the bot starts,
    even when it is killed while composing and sending them: every chat receives every
    matching paper, each chat's digest is composed once, and a part is repeated only when a
    kill cut off its confirmation."""
    seed, rng = seeded()
    chats = await prepare_missed_digests(tmp_path / "bot.sqlite3")
    papers = parse_feed(TRUNCATED_ATOM.read_bytes()).papers
    expected = sorted(p.arxiv_id for p in papers if mentions(KEYWORD, p))
    assert len(expected) >= 3, "the real feed has several diffusion papers"
    # The catch-ups start 2 s after the bot; the kills fall among their first messages.
    kills = plan_kills(rng, 1, CATCH_UP_CHATS // 2, count=3)
    about = f"seed {seed} (KILL_TEST_SEED={seed} replays it), {kills}"
    started = utcnow()

    async with fakes() as (api, feeds):
        env = fast_env(tmp_path, api, feeds)

        def done() -> bool:
            return all(set(ids_in(api.messages_to(chat))) >= set(expected) for chat in chats)

        runs = await kill_and_restart(api, env, tmp_path, kills, done, about)
    async with opened(tmp_path / "bot.sqlite3") as store:
        counts = await store.counts(started)

    about += f", cut off by each kill: {[len(parts) for parts in runs.cut_off]}"
    short = {c: sorted(set(expected) - set(ids_in(api.messages_to(c)))) for c in chats}
    assert {c: ids for c, ids in short.items() if ids} == {}, f"papers never sent; {about}"
    assert counts["digests"] == len(chats), f"digests composed: {counts}; {about}"
    assert counts["pending_parts"] == 0, about
    excess = runs.repeats_unexplained(api.sent)
    assert excess == {}, f"parts repeated without a kill to explain it: {excess}; {about}"
    assert not any(runs.repeats_within_a_run(api.sent)), about


async def test_settled_takes_in_what_a_killed_client_wrote_even_on_a_starved_machine() -> None:
    """A client that wrote a whole sendMessage request and died: `settled` returns only once
    the fake has recorded that message, even when the test process got no CPU for a while
    right after the death (simulated: the event loop blocked for 0.3 s), when a fixed pause
    could end before the fake has read the request."""
    async with FakeBotAPI(TOKEN) as api:
        body = b'{"chat_id": 7, "text": "last words"}'
        head = (
            f"POST /bot{TOKEN}/sendMessage HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        _, port = api.url.rsplit(":", 1)
        with socket.create_connection(("127.0.0.1", int(port))) as dying:
            dying.sendall(head + body)
        asyncio.get_running_loop().call_soon(time.sleep, 0.3)  # starved right after the death
        await settled(api)
        assert [m.plain_text for m in api.messages_to(7)] == ["last words"]
