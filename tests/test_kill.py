"""The outbox under SIGKILL: a fan-out survives the bot process being killed and restarted.

A real database holds composed digests for a few hundred chats (1, 2 or 3 parts each, every
part marked). The real `python -m bot` process sends them to the fake Bot API, is killed with
SIGKILL at seeded random moments, several times, and is restarted on the same database each
time. The fake's record and the database are the verdict: every part arrives, each chat's parts
in order; the database never counts as sent a part that Telegram did not get; and a part
arrives again only if a kill cut off its confirmation, once per such kill.

Not "at most one duplicate per kill": the bot keeps sends in flight while earlier ones are
being confirmed (that is how it fills Telegram's pipe), so one kill can cut off the
confirmation of several parts; at 120 messages/s a kill has cut off up to 6. No Bot API call
can tell whether a message was posted, so those parts must be sent again. The test measures,
after each kill, exactly which parts it cut off (received by the fake, still pending in the
database of the dead process) and allows those, and nothing else, one more copy.

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
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from bot.store import Store, utcnow
from tests.conftest import TOKEN, TRUNCATED_ATOM
from tests.fakes import FakeBotAPI, FeedServer
from tests.process import bot_env, bot_process

CHATS = 300
GROUP_EVERY = 5  # every fifth chat is a group
KILLS = 4
# Fast limits keep the test quick; the fake referees the same ones.
GLOBAL_PER_S = 120
PRIVATE_PER_S = 50.0
PRIVATE_BURST = 10
GROUP_PER_MIN = 1000
MARKER = re.compile(r"\[kill-test (-?\d+):(\d+)\]")
TIMEOUT = 60.0

Part = tuple[int, int]  # chat id, part number


@dataclass(frozen=True)
class Kill:
    """SIGKILL once the fake has received `after` sendMessage calls in all, `delay` s later."""

    after: int
    delay: float


def plan_kills(rng: random.Random, total: int) -> list[Kill]:
    """Kills spread over the fan-out, right as a message arrives or a few ms later, and one
    while a restarted bot is still starting (its `after` is already reached)."""
    counts = sorted(rng.sample(range(total // 20, total * 9 // 10), KILLS - 1))
    kills = [Kill(after, rng.choice((0.0, rng.uniform(0.0, 0.05)))) for after in counts]
    at = rng.randrange(1, KILLS)
    kills.insert(at, Kill(counts[at - 1], rng.uniform(0.1, 1.5)))
    return kills


async def settled(api: FakeBotAPI) -> None:
    """Let the fake take in whatever a killed bot had already written to its socket."""
    calls = -1
    while calls != len(api.calls):
        calls = len(api.calls)
        await asyncio.sleep(0.1)


def marked(text: str) -> Part:
    match = MARKER.search(text)
    assert match, text
    return int(match[1]), int(match[2])


async def compose_outbox(path: Path, rng: random.Random) -> list[Part]:
    """Chats with one composed digest each, through the bot's own store; returns the parts."""
    store = await Store.open(path)
    try:
        # A daily slot half a day away: no digest job comes due during the test.
        slot = (utcnow() + dt.timedelta(hours=12)).time().replace(second=0, microsecond=0)
        parts: list[Part] = []
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
    finally:
        await store.close()


async def pending_parts(path: Path) -> set[Part]:
    """The parts the database still has to send (the bot is not running)."""
    store = await Store.open(path)
    try:
        return {marked(part.text) for part in await store.pending_parts()}
    finally:
        await store.close()


async def sends(api: FakeBotAPI, count: int, log: Path, about: str) -> None:
    """Wait for the fake's `count`-th sendMessage call in all."""
    try:
        await api.wait_for_call("sendMessage", count, timeout=TIMEOUT)
    except AssertionError:
        tail = (await asyncio.to_thread(log.read_text, errors="replace")).splitlines()[-20:]
        raise AssertionError(f"no sendMessage number {count}; {about}; log:", *tail) from None


async def test_sigkill_during_fan_out_loses_nothing_and_repeats_only_what_a_kill_cut_off(
    tmp_path: Path,
) -> None:
    """Killed with SIGKILL at random moments and restarted each time, the bot delivers every
    part, each chat's in order, and leaves nothing pending. A part counts as sent only once
    Telegram has it; it is sent again only when a kill came before its confirmation was
    recorded, once per such kill, never twice within one run of the process."""
    seed = int(os.environ.get("KILL_TEST_SEED") or random.SystemRandom().randrange(2**32))
    rng = random.Random(seed)
    database = tmp_path / "bot.sqlite3"
    expected = await compose_outbox(database, rng)
    kills = plan_kills(rng, len(expected))
    about = f"seed {seed} (KILL_TEST_SEED={seed} replays it), {len(expected)} parts, {kills}"

    async with FakeBotAPI(TOKEN) as api, FeedServer() as feeds:
        feeds.set_response("/atom/cs.AI", TRUNCATED_ATOM.read_bytes())
        api.enforce_rate_limits(
            global_per_s=GLOBAL_PER_S,
            private_per_s=PRIVATE_PER_S,
            private_burst=PRIVATE_BURST,
            group_limit=GROUP_PER_MIN,
        )
        env = bot_env(
            tmp_path,
            BOT_TOKEN=TOKEN,
            BOT_API_URL=api.base_url,
            ARXIV_RSS_BASE=feeds.url + "/atom/",
            ARXIV_CATEGORIES="cs.AI",
            POLLING_TIMEOUT="1",
            TELEGRAM_GLOBAL_PER_S=str(GLOBAL_PER_S),
            TELEGRAM_PRIVATE_PER_S=str(PRIVATE_PER_S),
            TELEGRAM_PRIVATE_BURST=str(PRIVATE_BURST),
            TELEGRAM_GROUP_PER_MIN=str(GROUP_PER_MIN),
        )
        starts: list[int] = []  # where each run begins in the fake's record of sent messages
        cut_off: list[set[Part]] = []  # per kill: received by Telegram, still pending in the db
        for run, kill in enumerate(kills):
            starts.append(len(api.sent))
            log = tmp_path / f"bot-{run}.log"
            async with bot_process(env, log) as process:
                await sends(api, kill.after, log, about)
                await asyncio.sleep(kill.delay)
                process.kill()
                await process.wait()
            await settled(api)
            received = {marked(message.text) for message in api.sent}
            pending = await pending_parts(database)
            confirmed = set(expected) - pending
            assert confirmed <= received, f"sent, says the db: {confirmed - received}; {about}"
            cut_off.append(received & pending)
        starts.append(len(api.sent))
        log = tmp_path / "bot-last.log"
        async with bot_process(env, log):
            # On a timeout, the verdict below says what is missing.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TIMEOUT):
                    while not set(expected) <= {marked(message.text) for message in api.sent}:
                        await api.wait_for_call("sendMessage", len(api.calls_to("sendMessage")) + 1)
                    while await pending_parts(database):
                        await asyncio.sleep(0.1)
            # A moment longer: anything this run sent twice would show.
            await asyncio.sleep(0.5)
        left = await pending_parts(database)

    about += f", cut off by each kill: {[sorted(parts) for parts in cut_off]}"
    arrivals = [marked(message.text) for message in api.sent]
    misrouted = [(m.chat_id, marked(m.text)) for m in api.sent if marked(m.text)[0] != m.chat_id]
    assert misrouted == [], about
    missing = sorted(set(expected) - set(arrivals))
    assert missing == [], f"lost parts {missing}; {about}"
    assert left == set(), f"still pending: {sorted(left)}; {about}"

    first_arrivals: dict[int, list[int]] = defaultdict(list)
    for chat, number in dict.fromkeys(arrivals):
        first_arrivals[chat].append(number)
    disordered = {c: numbers for c, numbers in first_arrivals.items() if numbers != sorted(numbers)}
    assert disordered == {}, f"parts out of order: {disordered}; {about}"

    # A part arrives once, plus at most once for each kill that cut off its confirmation.
    copies = Counter(arrivals)
    excess = {
        part: times
        for part, times in copies.items()
        if times - 1 > sum(part in parts for parts in cut_off)
    }
    assert excess == {}, f"parts repeated without a kill to explain it: {excess}; {about}"
    for run, (start, end) in enumerate(itertools.pairwise([*starts, len(api.sent)])):
        twice = [part for part, n in Counter(arrivals[start:end]).items() if n > 1]
        assert twice == [], f"run {run} sent {twice} twice; {about}"
