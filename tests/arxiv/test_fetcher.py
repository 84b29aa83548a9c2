"""Tests for bot.arxiv.fetcher: polite, conditional, retried fetching, and feed URL planning."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import gzip
import itertools
import json
import resource
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bot.arxiv.fetcher import (
    SEARCH_LANE,
    FetchResult,
    FetchStatus,
    PoliteFetcher,
    count_by_category,
    normalize_categories,
    plan_feed_urls,
)
from bot.arxiv.http import FeedError, FetchBusy, FetchError, make_http_client, parse_retry_after
from bot.models import UrlState
from tests.conftest import TEST_USER_AGENT as UA
from tests.fakes.clock import FakeClock
from tests.fakes.feed_server import (
    Answer,
    FeedServer,
    endless,
    gzip_bomb,
    retry_after,
    trickle,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "arxiv"
FEED = (FIXTURES / "atom-cs-2025-11-23-sunday-empty.xml").read_bytes()
PATH = "/atom/cs"
API = "/api/query"
ROOT = Path(__file__).parents[2]
MiB = 1 << 20
NOW = dt.datetime(2025, 11, 24, 5, 10, tzinfo=dt.UTC)


def xml_only(body: bytes, content_type: str, url: str) -> None:
    """A stand-in for the feed check: an XML document or a FeedError."""
    if not body.lstrip().startswith(b"<?xml"):
        raise FeedError("not a feed", url=url, status_code=200)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_fetcher(client: httpx.AsyncClient, clock: FakeClock) -> Callable[..., PoliteFetcher]:
    """A fetcher on the real client with the fake clock; keyword arguments override."""

    def make(**options: object) -> PoliteFetcher:
        settings: dict[str, object] = {
            "clock": clock,
            "sleep": clock.sleep,
            "wall_clock": lambda: NOW,
            "rand": lambda: 1.0,
        }
        settings.update(options)
        return PoliteFetcher(client, **settings)  # type: ignore[arg-type]

    return make


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return make_http_client(UA, transport=httpx.MockTransport(handler))


# Politeness -----------------------------------------------------------------------------------


async def test_sends_the_descriptive_user_agent(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher]
) -> None:
    """Every request carries the bot's own User-Agent."""
    server.set_response(PATH, FEED)
    await make_fetcher().fetch(server.url + PATH)
    assert server.requests[0].headers["user-agent"] == UA


def test_a_generic_user_agent_is_refused() -> None:
    """httpx's default User-Agent does not identify the bot: the fetcher will not use it."""
    with pytest.raises(ValueError, match="User-Agent"):
        PoliteFetcher(httpx.AsyncClient())


async def test_requests_are_at_least_min_interval_apart(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher], clock: FakeClock
) -> None:
    """Three fetches in a row wait 3 s before the second and the third, none before the first."""
    server.set_response(PATH, FEED)
    fetcher = make_fetcher()
    for _ in range(3):
        await fetcher.fetch(server.url + PATH, conditional=False)
    assert clock.sleeps == [3.0, 3.0]
    assert len(server.requests) == 3


async def test_spacing_counts_from_the_start_of_the_previous_request(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher], clock: FakeClock
) -> None:
    """Time already passed since the last request start is not waited again."""
    server.set_response(PATH, FEED)
    fetcher = make_fetcher()
    await fetcher.fetch(server.url + PATH)
    clock.now += 2.0  # the first request started 2 s ago
    server.set_response("/other", FEED)
    await fetcher.fetch(server.url + "/other")
    assert clock.sleeps == [1.0]


async def test_spacing_as_the_loopback_server_sees_it(
    client: httpx.AsyncClient, make_fetcher: Callable[..., PoliteFetcher], clock: FakeClock
) -> None:
    """Concurrent fetches over real HTTP reach the server one at a time, min_interval apart
    (the server stamps arrivals on the fetcher's clock, so a loaded machine cannot blur it)."""
    async with FeedServer(clock=clock) as server:
        server.set_response(PATH, FEED, delay=0.05)
        fetcher = make_fetcher(min_interval=3.0)
        await asyncio.gather(
            *(fetcher.fetch(server.url + PATH, conditional=False) for _ in range(3))
        )
    times = [request.time for request in server.requests]
    assert len(times) == 3
    assert all(later - earlier >= 3.0 for earlier, later in itertools.pairwise(times))


async def test_one_request_at_a_time() -> None:
    """Concurrent callers never have two requests in flight."""
    in_flight = 0
    most = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200, content=FEED)

    async with make_http_client(UA, transport=httpx.MockTransport(handler)) as http:
        fetcher = PoliteFetcher(http, min_interval=0.0)
        urls = [f"https://rss.arxiv.org/atom/c{n}" for n in range(5)]
        await asyncio.gather(*(fetcher.fetch(url) for url in urls))
    assert most == 1


# Conditional GET and content hash -------------------------------------------------------------


async def test_etag_makes_the_second_fetch_a_304(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher]
) -> None:
    """The last ETag is sent as If-None-Match; the server's 304 is NOT_MODIFIED, no body."""
    server.set_response(PATH, FEED, headers={"ETag": '"v1"'})
    fetcher = make_fetcher()
    first = await fetcher.fetch(server.url + PATH)
    second = await fetcher.fetch(server.url + PATH)
    assert first.status is FetchStatus.CHANGED
    assert first.body == FEED
    assert first.etag == '"v1"'
    assert second.status is FetchStatus.NOT_MODIFIED
    assert second.body == b""
    assert not second.changed
    assert "if-none-match" not in server.requests[0].headers
    assert server.requests[1].headers["if-none-match"] == '"v1"'


async def test_last_modified_is_sent_back(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher]
) -> None:
    """A Last-Modified date comes back as If-Modified-Since, and a match is a 304."""
    stamp = "Mon, 24 Nov 2025 05:00:04 GMT"
    server.set_response(PATH, FEED, headers={"Last-Modified": stamp})
    fetcher = make_fetcher()
    await fetcher.fetch(server.url + PATH)
    result = await fetcher.fetch(server.url + PATH)
    assert server.requests[1].headers["if-modified-since"] == stamp
    assert result.status is FetchStatus.NOT_MODIFIED


async def test_same_body_without_etag_is_unchanged(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher]
) -> None:
    """Without validators the content hash tells an unchanged body; a new body is CHANGED."""
    server.set_response(PATH, FEED)
    fetcher = make_fetcher()
    assert (await fetcher.fetch(server.url + PATH)).status is FetchStatus.CHANGED
    assert (await fetcher.fetch(server.url + PATH)).status is FetchStatus.UNCHANGED
    server.set_response(PATH, FEED + b"\n")
    assert (await fetcher.fetch(server.url + PATH)).status is FetchStatus.CHANGED


async def test_new_etag_same_body_is_unchanged(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher]
) -> None:
    """A server that changes its ETag but not its body still costs no parsing."""
    server.set_response(PATH, FEED, headers={"ETag": '"a"'})
    fetcher = make_fetcher()
    await fetcher.fetch(server.url + PATH)
    server.set_response(PATH, FEED, headers={"ETag": '"b"'})
    result = await fetcher.fetch(server.url + PATH)
    assert result.status is FetchStatus.UNCHANGED
    assert fetcher.state()[server.url + PATH].etag == '"b"'


async def test_remember_false_waits_for_the_caller(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher]
) -> None:
    """With remember=False nothing is kept until remember(result): a crash before storing
    never turns the next poll into a 304."""
    server.set_response(PATH, FEED, headers={"ETag": '"v1"'})
    fetcher = make_fetcher()
    url = server.url + PATH
    result = await fetcher.fetch(url, remember=False)
    assert fetcher.state() == {}
    again = await fetcher.fetch(url, remember=False)
    assert again.status is FetchStatus.CHANGED
    fetcher.remember(again)
    assert (await fetcher.fetch(url)).status is FetchStatus.NOT_MODIFIED
    assert result.state == UrlState(etag='"v1"', last_modified=None, sha256=result.sha256)


async def test_state_survives_a_restart(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher]
) -> None:
    """state() can be persisted and load_state()d into a new fetcher, which then sends the
    ETag and recognises the body."""
    server.set_response(PATH, FEED, headers={"ETag": '"v1"'})
    url = server.url + PATH
    first = make_fetcher()
    await first.fetch(url)
    saved = first.state()
    second = make_fetcher()
    second.load_state(saved)
    assert (await second.fetch(url)).status is FetchStatus.NOT_MODIFIED
    third = make_fetcher(state=saved)
    third.forget(url)
    assert (await third.fetch(url)).status is FetchStatus.CHANGED


async def test_conditional_false_sends_no_validators(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher]
) -> None:
    """conditional=False (e.g. a benchmark's re-ingest) asks for the full body."""
    server.set_response(PATH, FEED, headers={"ETag": '"v1"'})
    fetcher = make_fetcher()
    await fetcher.fetch(server.url + PATH)
    result = await fetcher.fetch(server.url + PATH, conditional=False)
    assert "if-none-match" not in server.requests[1].headers
    assert result.status is FetchStatus.UNCHANGED


# Retries --------------------------------------------------------------------------------------


async def test_429_honours_retry_after_seconds(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher], clock: FakeClock
) -> None:
    """A 429 with Retry-After: 7 is retried after 7 s (more than the 3 s spacing)."""
    server.script(PATH, Answer("Rate exceeded.", status=429, headers={"Retry-After": "7"}))
    server.set_response(PATH, FEED)
    result = await make_fetcher().fetch(server.url + PATH)
    assert result.status is FetchStatus.CHANGED
    assert clock.sleeps == [7.0]
    assert len(server.requests) == 2


async def test_503_honours_retry_after_as_an_http_date(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher], clock: FakeClock
) -> None:
    """Retry-After may be a date: 30 s after the wall clock means a 30 s wait."""
    later = email.utils.format_datetime(NOW + dt.timedelta(seconds=30), usegmt=True)
    server.script(PATH, Answer("busy", status=503, headers={"Retry-After": later}))
    server.set_response(PATH, FEED)
    await make_fetcher().fetch(server.url + PATH)
    assert clock.sleeps == [30.0]


async def test_backoff_is_exponential_with_full_jitter(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher], clock: FakeClock
) -> None:
    """Without Retry-After the waits are rand * min(cap, 3 * 2**n); then FetchError."""
    server.set_response(PATH, "busy", status=503)
    fetcher = make_fetcher(min_interval=0.0, rand=lambda: 0.5, backoff_cap=5.0)
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch(server.url + PATH)
    assert clock.sleeps == [1.5, 2.5, 2.5]
    assert caught.value.status_code == 503
    assert caught.value.attempts == 4
    assert len(server.requests) == 4


async def test_backoff_without_jitter_doubles(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher], clock: FakeClock
) -> None:
    """With the jitter at its top the waits are 3, 6, 12 s (and never below the spacing)."""
    server.set_response(PATH, "busy", status=502)
    with pytest.raises(FetchError):
        await make_fetcher().fetch(server.url + PATH)
    assert clock.sleeps == [3.0, 6.0, 12.0]


async def test_rate_limit_that_never_ends_raises(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher]
) -> None:
    """After the last attempt the 429 is a FetchError (a FeedError), never an empty feed;
    it keeps arXiv's plain-text body and its advice."""
    server.set_response(PATH, "Rate exceeded.", status=429, headers={"Retry-After": "5"})
    with pytest.raises(FeedError) as caught:
        await make_fetcher(max_attempts=2).fetch(server.url + PATH)
    error = caught.value
    assert isinstance(error, FetchError)
    assert error.status_code == 429
    assert error.body == b"Rate exceeded."
    assert error.retry_after == 5.0


async def test_too_long_retry_after_is_not_waited_for(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher], clock: FakeClock
) -> None:
    """A Retry-After of an hour fails at once, and so does the next fetch before that hour is
    over, without a request; after it, fetching works again."""
    server.script(PATH, Answer("later", status=503, headers={"Retry-After": "3600"}))
    server.set_response(PATH, FEED)
    fetcher = make_fetcher(max_wait=300.0)
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch(server.url + PATH)
    assert caught.value.retry_after == 3600.0
    with pytest.raises(FetchError, match="wait"):
        await fetcher.fetch(server.url + PATH)
    assert len(server.requests) == 1
    assert clock.sleeps == []
    clock.now += 3600
    assert (await fetcher.fetch(server.url + PATH)).status is FetchStatus.CHANGED


async def test_timeout_is_retried_then_raised(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher]
) -> None:
    """A server that hangs past the client's timeout is retried; then FetchError, not "no
    papers"."""
    server.set_response(PATH, FEED, delay=5.0)
    with pytest.raises(FetchError, match="timed out") as caught:
        await make_fetcher(max_attempts=2).fetch(server.url + PATH)
    assert caught.value.status_code is None
    assert len(server.requests) == 2


async def test_timeout_then_success(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher]
) -> None:
    """One hang, then the feed: the fetch succeeds on the second attempt."""
    server.script(PATH, Answer(FEED, delay=5.0))
    server.set_response(PATH, FEED)
    result = await make_fetcher().fetch(server.url + PATH)
    assert result.body == FEED


async def test_transport_errors_are_retried() -> None:
    """A refused connection is retried like a timeout, then raised as FetchError."""
    calls = 0

    def refuse(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("connection refused", request=request)

    clock = FakeClock()
    async with mock_client(refuse) as http:
        fetcher = PoliteFetcher(http, max_attempts=3, clock=clock, sleep=clock.sleep)
        with pytest.raises(FetchError, match="request failed"):
            await fetcher.fetch("https://rss.arxiv.org/atom/cs")
    assert calls == 3


async def test_client_errors_are_not_retried(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher]
) -> None:
    """A 404 (an unknown path, HTML) fails at once with its status: no retry."""
    with pytest.raises(FetchError) as caught:
        await make_fetcher().fetch(server.url + "/rss/cs.XX")
    assert caught.value.status_code == 404
    assert len(server.requests) == 1


async def test_400_keeps_the_body(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher]
) -> None:
    """arXiv explains a 400 in the body: the error carries it for the caller."""
    body = (FIXTURES / "api-2026-04-12-http400-error-incorrect-id.xml").read_bytes()
    server.set_response("/api/query", body, status=400)
    with pytest.raises(FetchError) as caught:
        await make_fetcher().fetch(server.url + "/api/query")
    assert caught.value.body == body


async def test_unexpected_304_is_an_error() -> None:
    """A 304 to a request that had no validators cannot be "not modified": FetchError."""
    async with mock_client(lambda request: httpx.Response(304)) as http:
        fetcher = PoliteFetcher(http, min_interval=0.0)
        with pytest.raises(FetchError, match="304"):
            await fetcher.fetch("https://rss.arxiv.org/atom/cs")


# Validation -----------------------------------------------------------------------------------


async def test_invalid_body_raises_and_is_not_remembered(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher]
) -> None:
    """An HTML page with 200 fails validation: FeedError, and neither its ETag nor its hash
    is kept, so the next poll fetches in full and does not call the page "unchanged"."""
    page = "<html><body>We are down for maintenance</body></html>"
    server.set_response(PATH, page, content_type="text/html", headers={"ETag": '"err"'})
    fetcher = make_fetcher()
    url = server.url + PATH
    with pytest.raises(FeedError):
        await fetcher.fetch(url, validate=xml_only)
    with pytest.raises(FeedError):
        await fetcher.fetch(url, validate=xml_only)
    assert fetcher.state() == {}
    assert "if-none-match" not in server.requests[1].headers


async def test_empty_body_fails_validation(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher]
) -> None:
    """An empty 200 is an error for a validator, never an empty feed."""
    server.set_response(PATH, b"")
    with pytest.raises(FeedError):
        await make_fetcher().fetch(server.url + PATH, validate=xml_only)


async def test_validator_sees_body_type_and_url(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher]
) -> None:
    """The validator gets what bot.arxiv.http's check needs: body, content type and URL."""
    seen: list[tuple[bytes, str, str]] = []

    def record(body: bytes, content_type: str, url: str) -> None:
        seen.append((body, content_type, url))

    server.set_response(PATH, FEED, content_type="application/atom+xml")
    result = await make_fetcher().fetch(server.url + PATH, validate=record)
    assert seen == [(FEED, "application/atom+xml", server.url + PATH)]
    assert isinstance(result, FetchResult)
    assert result.content_type == "application/atom+xml"


# Hostile servers: deadlines, size caps, huge Retry-After, stopping ---------------------------


async def test_a_trickling_answer_fails_at_the_total_deadline(
    server: FeedServer, clock: FakeClock
) -> None:
    """A server that sends its headers, then one byte every 50 ms for ever, never lets a read
    time out (30 s here); the request's total deadline (0.5 s) ends it: a FetchError, not a
    hang, and the connection is dropped."""
    server.set_answer(PATH, trickle(0.05))
    async with make_http_client(UA, timeout=30.0) as http:
        fetcher = PoliteFetcher(http, deadline=0.5, max_attempts=1, clock=clock, sleep=clock.sleep)
        async with asyncio.timeout(30):
            with pytest.raises(FetchError, match="deadline") as caught:
                await fetcher.fetch(server.url + PATH)
            while server.hung_up < 1:
                await asyncio.sleep(0.01)
    assert caught.value.status_code is None
    assert len(server.requests) == 1


async def test_a_search_waits_a_bounded_time_behind_a_stuck_fetch(
    server: FeedServer, clock: FakeClock
) -> None:
    """While a feed fetch holds arXiv's one request slot (a trickling feed, 60 s deadline), a
    search allowed to wait 0.2 s for its turn fails with FetchBusy, without a request, and the
    feed fetch goes on undisturbed (until the bot stops)."""
    server.set_answer(PATH, trickle(0.05))
    server.set_response(API, FEED)
    async with make_http_client(UA, timeout=30.0) as http:
        fetcher = PoliteFetcher(http, deadline=60.0, max_attempts=1, clock=clock, sleep=clock.sleep)
        poll = asyncio.create_task(fetcher.fetch(server.url + PATH))
        await server.wait_for_requests(1, path=PATH, timeout=30)
        async with asyncio.timeout(30):
            with pytest.raises(FetchBusy, match="busy"):
                await fetcher.fetch(server.url + API, lane=SEARCH_LANE, queue_timeout=0.2)
        assert server.requests_to(API) == []
        assert not poll.done()
        fetcher.close()  # the bot stops: the stuck fetch ends
        with pytest.raises(FetchError, match="stopping"):
            await asyncio.wait_for(poll, 30)


async def test_close_ends_everything_in_flight_at_once(server: FeedServer) -> None:
    """close() (the bot is stopping) ends at once, with FetchError, a fetch sleeping out a
    back-off, one stuck in a trickle and one queued behind it; a fetch after it fails
    without a request. The HTTP client stays usable for whoever closes it."""
    server.script("/busy", retry_after("200"))
    server.set_response("/busy", FEED)
    server.set_answer(PATH, trickle(0.05))
    server.set_response("/other", FEED)
    async with make_http_client(UA, timeout=30.0) as http:
        fetcher = PoliteFetcher(http, deadline=600.0, min_interval=0.0)
        sleeping = asyncio.create_task(fetcher.fetch(server.url + "/busy", lane=SEARCH_LANE))
        await server.wait_for_requests(1, path="/busy", timeout=30)
        stuck = asyncio.create_task(fetcher.fetch(server.url + PATH))
        await server.wait_for_requests(1, path=PATH, timeout=30)
        queued = asyncio.create_task(fetcher.fetch(server.url + "/other"))
        await asyncio.sleep(0)  # it starts and queues for the request slot
        fetcher.close()
        async with asyncio.timeout(30):
            for task in (sleeping, stuck, queued):
                with pytest.raises(FetchError, match="stopping"):
                    await task
            with pytest.raises(FetchError, match="stopping"):
                await fetcher.fetch(server.url + "/other")
        assert server.requests_to("/other") == []
        assert len(server.requests_to("/busy")) == 1
        assert (await http.get(server.url + "/other")).status_code == 200


async def test_a_gzip_bomb_fails_at_the_decoded_size_cap(
    server: FeedServer, clock: FakeClock
) -> None:
    """A gzip body that would inflate to 6 GiB is decoded as it streams and given up at the cap
    (1 MiB here): a FetchError that says so, at once (no retry: it would come again), never an
    empty or truncated feed, and the connection is dropped."""
    server.set_answer(PATH, gzip_bomb(6 << 30))
    async with make_http_client(UA, timeout=30.0) as http:
        fetcher = PoliteFetcher(http, max_body=MiB, clock=clock, sleep=clock.sleep)
        async with asyncio.timeout(30):
            with pytest.raises(FetchError, match="larger than 1 MiB") as caught:
                await fetcher.fetch(server.url + PATH, validate=xml_only)
            while server.hung_up < 1:
                await asyncio.sleep(0.01)
    assert caught.value.status_code == 200
    assert len(server.requests) == 1
    assert fetcher.state() == {}


async def test_a_gzip_stream_under_the_cap_is_read_whole(
    server: FeedServer, clock: FakeClock
) -> None:
    """The decoder keeps up with a long gzip stream in many small chunks (and the fake's bomb
    is an honest gzip body): 5 MiB and 12,345 bytes of zeros come out exactly."""
    size = 5 * MiB + 12345
    server.set_answer(PATH, gzip_bomb(size))
    async with make_http_client(UA, timeout=30.0) as http:
        fetcher = PoliteFetcher(http, max_body=size, clock=clock, sleep=clock.sleep)
        result = await fetcher.fetch(server.url + PATH)
    assert len(result.body) == size
    assert result.body.count(0) == size


async def test_a_body_that_never_ends_fails_at_the_size_cap(
    server: FeedServer, clock: FakeClock
) -> None:
    """A body that never ends (no Content-Length, chunk after chunk as fast as we read) fails
    once it passes the cap, as a failed fetch."""
    server.set_answer(PATH, endless())
    async with make_http_client(UA, timeout=30.0) as http:
        fetcher = PoliteFetcher(http, max_body=2 * MiB, clock=clock, sleep=clock.sleep)
        async with asyncio.timeout(30):
            with pytest.raises(FetchError, match="larger than 2 MiB"):
                await fetcher.fetch(server.url + PATH)
            while server.hung_up < 1:
                await asyncio.sleep(0.01)
    assert len(server.requests) == 1


async def test_a_declared_length_over_the_cap_is_not_read(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher]
) -> None:
    """A Content-Length above the cap fails before the body is read."""
    server.set_response(PATH, b"<rss>" + b" " * (MiB + 10) + b"</rss>")
    with pytest.raises(FetchError, match="larger than 1 MiB"):
        await make_fetcher(max_body=MiB).fetch(server.url + PATH)


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", lambda data: gzip.compress(data[:100]) + gzip.compress(data[100:])),
        ("deflate", zlib.compress),  # zlib-wrapped, as the RFC says
        ("deflate", lambda data: zlib.compress(data, wbits=-15)),  # raw, as some servers send
        ("identity", lambda data: data),
    ],
)
async def test_compressed_bodies_are_decoded(
    server: FeedServer,
    make_fetcher: Callable[..., PoliteFetcher],
    encoding: str,
    encode: Callable[[bytes], bytes],
) -> None:
    """gzip (one member or several), deflate (wrapped or raw) and identity bodies come out as
    the feed; the cap counts decoded bytes, so a body exactly at the cap is still whole."""
    server.set_response(PATH, encode(FEED), headers={"Content-Encoding": encoding})
    result = await make_fetcher(max_body=len(FEED)).fetch(server.url + PATH)
    assert result.body == FEED
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


async def test_an_unknown_content_encoding_is_an_error(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher]
) -> None:
    """A body in an encoding we did not ask for is a failed fetch, not bytes to parse."""
    server.set_response(PATH, FEED, headers={"Content-Encoding": "br"})
    with pytest.raises(FetchError, match="br"):
        await make_fetcher().fetch(server.url + PATH)


async def test_a_corrupt_gzip_body_is_an_error(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher]
) -> None:
    """Bytes that are not gzip under Content-Encoding: gzip fail the fetch."""
    server.set_response(PATH, b"not gzip at all", headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match="decode"):
        await make_fetcher(max_attempts=1).fetch(server.url + PATH)


MEMORY_PROBE = """
import asyncio, json, resource, sys
from bot.arxiv.fetcher import PoliteFetcher
from bot.arxiv.http import FetchError, make_http_client

async def main(url):
    async with make_http_client("arxiv-digest-bot/0 (memory probe)") as http:
        try:
            await PoliteFetcher(http, max_attempts=1).fetch(url)
            outcome = "fetched"
        except FetchError as exc:
            outcome = str(exc)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"outcome": outcome, "peak": peak}))

asyncio.run(main(sys.argv[1]))
"""


def _limit_memory() -> None:
    """The probe's guard: a regression fails its test instead of taking the machine's memory."""
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


@pytest.mark.parametrize("answer", [gzip_bomb(6 << 30), endless()], ids=["gzip bomb", "endless"])
async def test_peak_memory_stays_under_300_mb_with_the_default_cap(
    server: FeedServer, answer: Answer
) -> None:
    """In a process of its own, with the default cap (50 MB), fetching a 6 GiB gzip bomb or an
    endless body fails at the cap and the process's peak RSS stays under 300 MB."""
    server.set_answer(PATH, answer)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        MEMORY_PROBE,
        server.url + PATH,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=_limit_memory,
    )
    try:
        out, err = await asyncio.wait_for(child.communicate(), 120)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode == 0, err.decode()
    report = json.loads(out)
    assert "larger than 50 MiB" in report["outcome"]
    assert report["peak"] < 300 * 10**6


async def test_a_huge_retry_after_is_capped_at_an_hour(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher], clock: FakeClock
) -> None:
    """Retry-After: 999999999 (31 years) counts as one hour: the fetch fails at once with that
    advice; the same lane fails without a request while more than max_wait (300 s) of the hour
    is left, then waits out the rest and works."""
    server.script(API, retry_after("999999999"))
    server.set_response(API, FEED)
    fetcher = make_fetcher(max_wait=300.0)
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch(server.url + API, lane=SEARCH_LANE)
    assert caught.value.retry_after == 3600.0
    clock.now += 3000
    with pytest.raises(FetchError, match="wait") as again:
        await fetcher.fetch(server.url + API, lane=SEARCH_LANE)
    assert again.value.retry_after == 600.0
    assert len(server.requests) == 1
    clock.now += 400
    result = await fetcher.fetch(server.url + API, lane=SEARCH_LANE)
    assert result.status is FetchStatus.CHANGED
    assert clock.sleeps == [200.0]


@pytest.mark.parametrize("value", ["9" * 400, "Fri, 31 Dec 9999 23:59:59 GMT"])
async def test_absurd_retry_after_values_are_capped_too(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher], value: str
) -> None:
    """A 400-digit number or a date in the year 9999 is an hour too."""
    server.set_answer(API, retry_after(value, status=503))
    with pytest.raises(FetchError) as caught:
        await make_fetcher().fetch(server.url + API, lane=SEARCH_LANE)
    assert caught.value.retry_after == 3600.0


async def test_the_search_back_off_does_not_hold_back_the_feeds(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher], clock: FakeClock
) -> None:
    """A huge Retry-After on a search (any user can cause one) stops searches only: the feed
    poll right after it waits just the 3 s spacing and gets its feed."""
    server.set_answer(API, retry_after("999999999"))
    server.set_response(PATH, FEED)
    fetcher = make_fetcher()
    with pytest.raises(FetchError):
        await fetcher.fetch(server.url + API, lane=SEARCH_LANE)
    result = await fetcher.fetch(server.url + PATH)
    assert result.status is FetchStatus.CHANGED
    assert clock.sleeps == [3.0]


async def test_both_lanes_share_one_request_at_a_time_3_s_apart(
    client: httpx.AsyncClient, make_fetcher: Callable[..., PoliteFetcher], clock: FakeClock
) -> None:
    """Feeds and searches have their own back-off but not their own spacing: together they
    still reach arXiv one at a time, at least 3 s apart, as the server sees it."""
    async with FeedServer(clock=clock) as server:
        server.set_response(PATH, FEED, delay=0.05)
        server.set_response(API, FEED, delay=0.05)
        fetcher = make_fetcher(min_interval=3.0)
        await asyncio.gather(
            fetcher.fetch(server.url + PATH, conditional=False),
            fetcher.fetch(server.url + API, lane=SEARCH_LANE),
            fetcher.fetch(server.url + PATH, conditional=False),
            fetcher.fetch(server.url + API, lane=SEARCH_LANE),
        )
    times = sorted(request.time for request in server.requests)
    assert len(times) == 4
    assert all(later - earlier >= 3.0 for earlier, later in itertools.pairwise(times))


async def test_a_feed_back_off_lets_a_search_through(
    server: FeedServer, make_fetcher: Callable[..., PoliteFetcher], clock: FakeClock
) -> None:
    """While the feed lane sleeps out a 503's Retry-After, it does not hold the request slot:
    a search goes first, and the feed is fetched after the wait."""
    server.script(PATH, Answer("busy", status=503, headers={"Retry-After": "60"}))
    server.set_response(PATH, FEED)
    server.set_response(API, FEED)
    waited = asyncio.Event()
    released = asyncio.Event()

    async def sleep(seconds: float) -> None:
        if seconds >= 60:  # the feed's back-off lasts until the search is done
            waited.set()
            await released.wait()
        await clock.sleep(seconds)

    fetcher = make_fetcher(sleep=sleep)
    async with asyncio.timeout(30):
        poll = asyncio.create_task(fetcher.fetch(server.url + PATH))
        await waited.wait()
        await fetcher.fetch(server.url + API, lane=SEARCH_LANE)
        released.set()
        assert (await poll).status is FetchStatus.CHANGED
    assert [r.path for r in server.requests] == [PATH, API, PATH]


# Retry-After parsing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Mon, 24 Nov 2025 05:11:00 GMT", 60.0),
        ("Mon, 24 Nov 2025 05:00:00 GMT", 0.0),  # in the past: no wait
        ("soon", None),
        ("", None),
        (None, None),
        ("-5", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After is delta-seconds or an HTTP date; anything else is ignored."""
    assert parse_retry_after(value, NOW) == expected


# Feed URL planning ----------------------------------------------------------------------------

BASE = "https://rss.arxiv.org/rss/"


def test_small_categories_share_one_url() -> None:
    """Categories whose estimates fit within the limit are combined with "+"."""
    assert plan_feed_urls(BASE, ["cs.LG", "cs.AI", "cs.CL"]) == [BASE + "cs.AI+cs.CL+cs.LG"]


def test_urls_split_when_the_limit_would_be_exceeded() -> None:
    """As few URLs as the 2,000-item limit allows, each within it."""
    estimates = {"cs.LG": 1200, "cs.CV": 900, "cs.AI": 700, "cs.CL": 500, "stat.ML": 300}
    urls = plan_feed_urls(BASE, estimates, estimates)
    assert len(urls) == 2  # 3,600 items need two feeds, and two suffice
    for url in urls:
        assert sum(estimates[c] for c in url.removeprefix(BASE).split("+")) <= 2000
    assert sorted(c for url in urls for c in url.removeprefix(BASE).split("+")) == sorted(estimates)


def test_plan_is_deterministic() -> None:
    """Input order and repeats do not change the URLs."""
    estimates = {"cs.LG": 1500, "cs.AI": 900, "math.CO": 100, "hep-th": 150}
    one = plan_feed_urls(BASE, ["cs.LG", "hep-th", "cs.AI", "math.CO"], estimates)
    two = plan_feed_urls(BASE, ["math.CO", "cs.AI", "cs.AI", " hep-th ", "cs.LG"], estimates)
    assert one == two


def test_a_huge_category_gets_its_own_url() -> None:
    """A category estimated above the limit cannot share; it is polled alone."""
    urls = plan_feed_urls(BASE, ["cs", "math.CO"], {"cs": 5000})
    assert urls == [BASE + "cs", BASE + "math.CO"]


def test_an_archive_covers_its_categories() -> None:
    """Asking for "cs" makes "cs.AI" redundant; "math-ph" is not inside "math"."""
    assert normalize_categories(["cs.AI", "cs", "math", "math-ph", "math.CO"]) == [
        "cs",
        "math",
        "math-ph",
    ]


def test_limit_is_a_parameter() -> None:
    """With the default estimate of 300, a limit of 600 takes two categories per URL."""
    urls = plan_feed_urls(BASE, ["a.A", "b.B", "c.C"], limit=600)
    assert urls == [BASE + "a.A+b.B", BASE + "c.C"]


@pytest.mark.parametrize("bad", ["cs.AI+cs.LG", "cs AI", "", "../etc", "cs.AI/x"])
def test_malformed_categories_are_refused(bad: str) -> None:
    """Something that is not written like an arXiv category never reaches a URL."""
    with pytest.raises(ValueError, match="category"):
        plan_feed_urls(BASE, [bad])


def test_count_by_category_gives_estimates() -> None:
    """A paper counts for each requested category (or archive) it lists."""
    listed = [("cs.AI", "cs.LG"), ("cs.LG",), ("math.CO", "cs.DM"), ("hep-th",)]
    assert count_by_category(["cs.AI", "cs.LG", "math", "astro-ph"], listed) == {
        "cs.AI": 1,
        "cs.LG": 2,
        "math": 1,
        "astro-ph": 0,
    }
