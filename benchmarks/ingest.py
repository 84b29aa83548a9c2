"""Ingest benchmark: the largest feed arXiv serves (2,000 items), fetched, parsed and stored.

Run from the repository root (needs the test extras: aiohttp serves the feed on loopback):

    .venv/bin/python -m benchmarks.ingest

Three runs through the real pipeline, bot.pipeline.ingest_feed (PoliteFetcher with the feed check →
bot.arxiv.feeds.parse_feed in a worker thread → bot.storage.store.Store.add_papers on a fresh
SQLite file →
the fetch state remembered and persisted):

  cold         the feed into an empty database: 2,000 new papers;
  warm         arXiv rebuilt the feed with the same items (new build date and ETag): the body
               is new, so it is parsed again, and every paper is a duplicate;
  not_modified the same request with the remembered ETag: a 304, nothing to parse.

It also reports the hash shortcut (the same bytes again without an ETag match: no parsing).
The fetcher's 3 s spacing is set to 0 here: it protects arXiv, and the loopback server is not
arXiv. Peak memory is the process's peak resident set size. The last line is

    ingest_cold_s=<s> ingest_warm_s=<s> not_modified_s=<s> peak_mb=<MB>
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import random
import tempfile
import time
from pathlib import Path

from benchmarks.memory import peak_mb
from bot.arxiv.fetcher import PoliteFetcher
from bot.arxiv.http import make_http_client
from bot.models import Paper
from bot.pipeline.polls import FeedStatus, ingest_feed
from bot.storage.store import Store
from tests.fakes.feed_server import FeedServer
from tests.feedgen import rss_feed

ITEMS = 2000
SEED = 20260825
CATEGORIES = "cs.AI+cs.CL+cs.CV+cs.LG"
PATH = "/rss/" + CATEGORIES
USER_AGENT = "arxiv-digest-bot/benchmark (loopback only)"
DAY = dt.date(2026, 8, 25)
BUILT = dt.datetime(2026, 8, 25, 4, 0, 19, tzinfo=dt.UTC)
NOW = BUILT + dt.timedelta(minutes=10)  # the poll after the rebuild


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_WORDS = _words(
    "model learning neural network diffusion transformer graph data training method results "
    "show propose novel approach language vision robust efficient optimization inference "
    "benchmark large scale attention representation generalization adversarial reinforcement "
    "policy reward agent reasoning retrieval generation embedding contrastive supervised loss "
    "gradient convergence theoretical empirical evaluation dataset tasks performance accuracy "
    "state-of-the-art framework architecture layer token sequence prior posterior sampling"
)
_NAMES = _words(
    "Ana Wei Jörg Li Maria Chen Oleksandr Priya Tomás Yuki Fatima Kwame Lars Sofia Hiroshi "
    "Amara Diego Elena Mohammed Ingrid Rahul Chloé Nikola Mei"
)
_SURNAMES = _words(
    "Smith Wang Müller Zhang Kowalski Nguyen Garcia Rossi Okafor Tanaka Ivanova Dubois Pižurica "
    "Singh Andersson O'Brien Kim Costa Haddad Novak Fischer Silva Sato Park"
)
_TEX = (r"$\mathcal{O}(n^2)$", r"$\alpha$", r"$\ell_1$", r"$10^{-3}$", r"J\"org", r"\emph{e.g.}")
_CATS = ("cs.AI", "cs.CL", "cs.CV", "cs.LG", "stat.ML", "cs.RO", "eess.IV", "math.OC", "cs.IR")


def generate_papers(count: int = ITEMS, seed: int = SEED) -> list[Paper]:
    """Papers shaped like a busy day's feed: real-length abstracts, some TeX, mixed types."""
    rng = random.Random(seed)
    papers: list[Paper] = []
    for index in range(count):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(110, 260))]
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), rng.choice(_TEX))
        kind = rng.choices(["new", "cross", "replace", "replace-cross"], [45, 30, 15, 10])[0]
        primary = rng.choice(_CATS)
        others = rng.sample([c for c in _CATS if c != primary], rng.randint(0, 3))
        papers.append(
            Paper(
                arxiv_id=f"2608.{10000 + index:05d}",
                title=" ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 16))).capitalize(),
                authors=tuple(
                    f"{rng.choice(_NAMES)} {rng.choice(_SURNAMES)}"
                    for _ in range(rng.randint(1, 12))
                ),
                abstract=" ".join(words).capitalize() + ".",
                categories=(primary, *others),
                announce_type=kind,
                version=rng.randint(2, 4) if kind.startswith("replace") else 1,
                announced=DAY,
            )
        )
    return papers


async def ingest(fetcher: PoliteFetcher, store: Store, url: str) -> tuple[float, int, FeedStatus]:
    """One poll of one feed as the bot makes it (bot.pipeline.ingest_feed): fetch with the feed
    check, parse off the loop, store, then remember and persist the fetch state."""
    start = time.perf_counter()
    outcome = await ingest_feed(fetcher, store, url, now=NOW)
    return time.perf_counter() - start, len(outcome.new), outcome.status


async def run(items: int) -> str:
    papers = generate_papers(items)
    body = rss_feed(papers, categories=CATEGORIES, updated=BUILT)
    rebuilt = rss_feed(papers, categories=CATEGORIES, updated=BUILT + dt.timedelta(minutes=20))
    print(f"feed: {len(papers)} items, {len(body) / 1e6:.2f} MB (RSS 2.0)")
    print("fetcher: min_interval=0 for this loopback benchmark (3 s against arXiv)")
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "bench.sqlite3")
        try:
            async with FeedServer() as server, make_http_client(USER_AGENT) as client:
                url = server.url + PATH
                fetcher = PoliteFetcher(client, min_interval=0.0)

                server.set_response(PATH, body, headers={"ETag": '"build-1"'})
                cold, new, _ = await ingest(fetcher, store, url)
                assert new == len(papers), f"cold run stored {new} new papers"
                print(f"cold:         {cold:.3f} s  ({new} new papers)")

                server.set_response(PATH, rebuilt, headers={"ETag": '"build-2"'})
                warm, new, _ = await ingest(fetcher, store, url)
                assert new == 0, f"warm run found {new} new papers"
                print(f"warm:         {warm:.3f} s  (rebuilt feed, parsed, all duplicates)")

                not_modified, _, status = await ingest(fetcher, store, url)
                assert status is FeedStatus.UNCHANGED, status
                assert server.requests[-1].headers["If-None-Match"] == '"build-2"'
                print(f"not_modified: {not_modified:.3f} s  (304 for If-None-Match)")

                server.set_response(PATH, rebuilt)  # no ETag: only the hash can tell
                same, _, status = await ingest(fetcher, store, url)
                assert status is FeedStatus.UNCHANGED, status
                print(f"unchanged:    {same:.3f} s  (same bytes again, no ETag: hash, no parse)")
        finally:
            await store.close()
    peak = peak_mb()
    print(f"peak memory:  {peak:.1f} MB (max RSS)")
    return (
        f"ingest_cold_s={cold:.3f} ingest_warm_s={warm:.3f} "
        f"not_modified_s={not_modified:.3f} peak_mb={peak:.1f}"
    )


def main() -> None:
    # A 2,000-item feed is at arXiv's limit on purpose; the bot's warning about it is noise here.
    logging.getLogger("bot.pipeline").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=ITEMS, help="feed size (default 2000)")
    args = parser.parse_args()
    print(asyncio.run(run(args.items)))


if __name__ == "__main__":
    main()
