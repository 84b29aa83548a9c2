"""Polite HTTP to arXiv: one request at a time, spaced, conditional, retried with backoff.

arXiv asks robots to make one request at a time, at least 3 seconds apart, with a descriptive
User-Agent (https://info.arxiv.org/help/api/tou.html). `PoliteFetcher` does that for every
request the bot makes (feeds and the search API), and saves what it can: a conditional GET with
the last ETag / Last-Modified, and a content hash, so an unchanged feed is not parsed again.
No server can hold it: each request has a total deadline, each body a cap on its decoded size,
each Retry-After a ceiling, and the search API's back-off is apart from the feeds'
(bot.arxiv.slot). `close()` ends everything in flight when the bot stops. It never turns a
failure into "nothing new": every failure raises `FetchError` (a `FeedError`, bot.arxiv.http).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import httpx

from bot.arxiv.http import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_BODY,
    Answer,
    BodyError,
    FetchError,
    get,
    parse_retry_after,
)
from bot.arxiv.slot import FEED_LANE, RequestSlot
from bot.arxiv.slot import SEARCH_LANE as SEARCH_LANE
from bot.models import UrlState

log = logging.getLogger(__name__)

# Statuses that mean "later": 429 and 503 may say when (Retry-After), the gateway errors not.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# The longest Retry-After believed: "999999999" is read as an hour.
MAX_RETRY_AFTER = 3600.0
# arXiv serves at most this many items in one RSS/Atom feed.
FEED_ITEM_LIMIT = 2000
# Items per category per day when nothing better is known: a busy category (cs.LG) carries
# many more, most carry fewer. Callers should pass what they saw (`count_by_category`).
DEFAULT_CATEGORY_ESTIMATE = 300

# "cs.AI", "astro-ph.CO", "cond-mat.str-el", "hep-th", "math-ph", "cs" (a whole archive).
CATEGORY_RE = re.compile(r"^[a-z]+(?:-[a-z]+)*(?:\.[A-Za-z]+(?:-[A-Za-z]+)*)?$")

Validator = Callable[[bytes, str, str], None]  # (body, content type, url); raises FeedError


class FetchStatus(StrEnum):
    CHANGED = "changed"  # a body we have not seen: parse it
    NOT_MODIFIED = "not_modified"  # the server answered 304 to our conditional GET
    UNCHANGED = "unchanged"  # a 200 whose body hashes to what we saw last time


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of a successful fetch."""

    url: str
    status: FetchStatus
    body: bytes  # b"" for NOT_MODIFIED
    etag: str | None
    last_modified: str | None
    sha256: str | None
    content_type: str = ""

    @property
    def changed(self) -> bool:
        return self.status is FetchStatus.CHANGED

    @property
    def state(self) -> UrlState:
        return UrlState(self.etag, self.last_modified, self.sha256)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PoliteFetcher:
    """Fetches URLs through one httpx client, one request at a time and `min_interval` apart.

    Retries 429/5xx answers, timeouts and transport errors up to `max_attempts` times: after
    the server's Retry-After when it gives one (seconds or an HTTP date, at most
    `max_retry_after`), else after an exponential backoff with full jitter (uniform in
    [0, min(cap, base * 2**n)]), kept per lane (FEED_LANE, SEARCH_LANE). A wait longer than
    `max_wait` is not waited for: the fetch fails at once and the next call of the same lane
    before that time fails too, so a poll job never blocks for an hour.

    Each request must be complete within `deadline` seconds (a server that trickles bytes
    never trips a read timeout) and its body may decode to at most `max_body` bytes (a gzip
    bomb, a body that never ends); over it, the fetch fails without a retry.

    `clock`/`sleep` (monotonic seconds), `wall_clock` (for HTTP dates) and `rand` are there for
    tests; production code leaves them alone.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        min_interval: float = 3.0,
        max_attempts: int = 4,
        backoff_base: float = 3.0,
        backoff_cap: float = 60.0,
        max_wait: float = 300.0,
        max_retry_after: float = MAX_RETRY_AFTER,
        deadline: float = DEFAULT_DEADLINE,
        max_body: int = DEFAULT_MAX_BODY,
        state: Mapping[str, UrlState] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall_clock: Callable[[], dt.datetime] = _utcnow,
        rand: Callable[[], float] = random.random,
    ) -> None:
        user_agent = client.headers.get("user-agent", "")
        if not user_agent.strip() or user_agent.startswith("python-httpx/"):
            raise ValueError("a descriptive User-Agent is required by arXiv's usage policy")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if deadline <= 0 or max_body < 1:
            raise ValueError("deadline and max_body must be positive")
        self._client = client
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._max_wait = max_wait
        self._max_retry_after = max_retry_after
        self._deadline = deadline
        self._max_body = max_body
        self._wall_clock = wall_clock
        self._rand = rand
        self._slot = RequestSlot(
            min_interval=min_interval, max_wait=max_wait, clock=clock, sleep=sleep
        )
        self._state: dict[str, UrlState] = dict(state or {})

    # State ----------------------------------------------------------------------------

    def state(self) -> dict[str, UrlState]:
        """A copy of what is remembered per URL, for the caller to persist."""
        return dict(self._state)

    def load_state(self, state: Mapping[str, UrlState]) -> None:
        """Replace what is remembered (e.g. with what was persisted before a restart)."""
        self._state = dict(state)

    def remember(self, result: FetchResult) -> None:
        """Make this result the reference for the next conditional GET and hash comparison."""
        if result.status is FetchStatus.NOT_MODIFIED:
            return  # nothing new to remember; the stored validators are still right
        self._state[result.url] = result.state

    def forget(self, url: str) -> None:
        """The next fetch of `url` is unconditional and its body counts as changed."""
        self._state.pop(url, None)

    def close(self) -> None:
        """The bot is stopping: every fetch in flight (a request, a wait, a back-off) ends now
        with FetchError, and so does every later one. The client is the caller's to close."""
        self._slot.close()

    # Fetching -------------------------------------------------------------------------

    async def fetch(
        self,
        url: str,
        *,
        validate: Validator | None = None,
        conditional: bool = True,
        remember: bool = True,
        attempts: int | None = None,
        lane: str = FEED_LANE,
        queue_timeout: float | None = None,
    ) -> FetchResult:
        """GET `url` politely; a FetchResult, or FetchError when it cannot be had.

        `validate(body, content_type, url)` checks a 200 body before anything is remembered
        (bot.arxiv.http's feed check: an HTML page is an error, not an empty feed). With
        `remember=False` the caller calls `remember(result)` once it has stored what the body
        carried, so a crash in between never makes the next poll skip the feed. `attempts`
        overrides `max_attempts` (a user waiting for /search should not wait for four).
        `lane` is whose back-off applies (FEED_LANE, SEARCH_LANE). `queue_timeout` bounds the
        seconds spent waiting for the request slot and its spacing: past it, FetchBusy.
        """
        limit = self._max_attempts if attempts is None else max(1, attempts)
        work = self._fetch(url, validate, conditional, remember, limit, lane, queue_timeout)
        return await self._slot.run(url, work)

    async def _fetch(
        self,
        url: str,
        validate: Validator | None,
        conditional: bool,
        remember: bool,
        limit: int,
        lane: str,
        queue_timeout: float | None,
    ) -> FetchResult:
        now = asyncio.get_running_loop().time()
        give_up_at = None if queue_timeout is None else now + queue_timeout
        headers = self._conditional_headers(url) if conditional else {}
        error: FetchError | None = None
        for attempt in range(1, limit + 1):
            try:
                await self._slot.take(url, lane, give_up_at)
            except FetchError:
                if error is not None:
                    raise error from None  # the answer that made us wait says more
                raise
            try:
                answer = await self._request(url, headers, attempt)
            finally:
                self._slot.release()
            if isinstance(answer, Answer):
                return self._result(url, answer, headers, validate, remember, attempt)
            error, delay = answer
            self._slot.back_off(lane, delay)
            if attempt == limit or delay > self._max_wait:
                raise error
            log.warning("%s; attempt %d of %d, again in %.1f s", error, attempt, limit, delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _conditional_headers(self, url: str) -> dict[str, str]:
        known = self._state.get(url)
        headers: dict[str, str] = {}
        if known is not None and known.etag:
            headers["If-None-Match"] = known.etag
        if known is not None and known.last_modified:
            headers["If-Modified-Since"] = known.last_modified
        return headers

    async def _request(
        self, url: str, headers: Mapping[str, str], attempt: int
    ) -> Answer | tuple[FetchError, float]:
        """One GET, whole within the deadline: the answer, or a retryable error and its delay.
        A body over the cap (or one that does not decode) raises FetchError: not retried."""
        try:
            answer = await get(
                self._client, url, headers, deadline=self._deadline, max_body=self._max_body
            )
        except BodyError as exc:
            raise FetchError(str(exc), url=url, status_code=200, attempts=attempt) from None
        except TimeoutError:
            reason = f"no complete answer within the {self._deadline:g} s deadline"
        except httpx.TimeoutException as exc:
            reason = f"timed out: {exc!r}"
        except httpx.RequestError as exc:
            reason = f"request failed: {exc!r}"
        else:
            if answer.status_code in RETRY_STATUSES:
                return self._retryable(url, answer, attempt)
            return answer
        return FetchError(reason, url=url, attempts=attempt), self._backoff(attempt)

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1))]."""
        ceiling = min(self._backoff_cap, self._backoff_base * 2.0 ** (attempt - 1))
        return self._rand() * ceiling

    def _retryable(self, url: str, answer: Answer, attempt: int) -> tuple[FetchError, float]:
        retry_after = parse_retry_after(answer.headers.get("retry-after"), self._wall_clock())
        if retry_after is not None:
            retry_after = min(retry_after, self._max_retry_after)
        error = FetchError(
            f"HTTP {answer.status_code} {answer.reason}",
            url=url,
            status_code=answer.status_code,
            retry_after=retry_after,
            body=answer.body,
            attempts=attempt,
        )
        return error, retry_after if retry_after is not None else self._backoff(attempt)

    def _result(
        self,
        url: str,
        answer: Answer,
        sent: Mapping[str, str],
        validate: Validator | None,
        remember: bool,
        attempt: int,
    ) -> FetchResult:
        known = self._state.get(url, UrlState())
        if answer.status_code == 304:
            if not sent:
                raise FetchError("HTTP 304 to an unconditional request", url=url, status_code=304)
            return FetchResult(
                url, FetchStatus.NOT_MODIFIED, b"", known.etag, known.last_modified, known.sha256
            )
        if answer.status_code != 200:
            raise FetchError(
                f"HTTP {answer.status_code} {answer.reason}",
                url=url,
                status_code=answer.status_code,
                body=answer.body,
                attempts=attempt,
            )
        body = answer.body
        content_type = answer.headers.get("content-type", "")
        if validate is not None:
            validate(body, content_type, url)  # raises FeedError: nothing is remembered
        digest = hashlib.sha256(body).hexdigest()
        status = FetchStatus.UNCHANGED if digest == known.sha256 else FetchStatus.CHANGED
        result = FetchResult(
            url=url,
            status=status,
            body=body,
            etag=answer.headers.get("etag"),
            last_modified=answer.headers.get("last-modified"),
            sha256=digest,
            content_type=content_type,
        )
        if remember:
            self.remember(result)
        return result


# ---------------------------------------------------------------------------------------------
# Which feed URLs to poll


def plan_feed_urls(
    base: str,
    categories: Iterable[str],
    per_category_estimate: Mapping[str, int] | None = None,
    limit: int = FEED_ITEM_LIMIT,
    *,
    default_estimate: int = DEFAULT_CATEGORY_ESTIMATE,
) -> list[str]:
    """Feed URLs covering `categories` in as few requests as arXiv's item limit allows.

    Categories are combined with "+" (base + "cs.AI+cs.LG") so that the estimated items of each
    URL stay within `limit`; a category covered by a whole archive also asked for ("cs.AI"
    with "cs") is dropped. The estimates are upper bounds (a paper listed in two categories
    comes once), so a URL may carry fewer items than planned, never more than the estimate.
    A category estimated above the limit gets a URL of its own. The order is deterministic.
    ValueError names a category that is not written like an arXiv category.
    """
    wanted = normalize_categories(categories)
    estimates = per_category_estimate or {}
    sizes = {cat: max(0, estimates.get(cat, default_estimate)) for cat in wanted}
    # First-fit decreasing: near-optimal for bin packing, and plenty for a few dozen items.
    groups: list[list[str]] = []
    loads: list[int] = []
    for cat in sorted(wanted, key=lambda c: (-sizes[c], c)):
        for index, load in enumerate(loads):
            if load + sizes[cat] <= limit:
                groups[index].append(cat)
                loads[index] += sizes[cat]
                break
        else:
            groups.append([cat])
            loads.append(sizes[cat])
    return sorted(base + "+".join(sorted(group)) for group in groups)


def normalize_categories(categories: Iterable[str]) -> list[str]:
    """Distinct, checked categories, sorted, without those covered by a listed archive."""
    wanted: set[str] = set()
    for raw in categories:
        cat = raw.strip()
        if not CATEGORY_RE.match(cat):
            raise ValueError(f"not an arXiv category: {raw!r}")
        wanted.add(cat)
    archives = {cat for cat in wanted if "." not in cat}
    return sorted(cat for cat in wanted if "." not in cat or cat.split(".")[0] not in archives)


def count_by_category(
    categories: Sequence[str], papers_categories: Iterable[Sequence[str]]
) -> dict[str, int]:
    """How many papers each requested category carried (estimates for plan_feed_urls).

    A paper counts for every requested category it lists, and for a requested archive when
    one of its categories is in it ("cs" for "cs.AI").
    """
    counts = dict.fromkeys(categories, 0)
    for listed in papers_categories:
        hit: set[str] = set()
        for cat in listed:
            if cat in counts:
                hit.add(cat)
            archive = cat.split(".")[0]
            if archive in counts:
                hit.add(archive)
        for cat in hit:
            counts[cat] += 1
    return counts
