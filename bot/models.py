"""Plain data carried between the pipeline stages; no behaviour beyond derived fields."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

ABS_URL = "https://arxiv.org/abs/"


@dataclass(frozen=True, slots=True)
class Paper:
    """One arXiv paper as announced in a feed, identified by its id without version."""

    arxiv_id: str  # "2508.13167" or old style "hep-th/0505137"; never carries "vN"
    title: str
    authors: tuple[str, ...]
    abstract: str  # without the "arXiv:… Announce Type: … Abstract:" prefix
    categories: tuple[str, ...]  # primary category first
    announce_type: str = "new"  # new | cross | replace | replace-cross
    version: int = 1
    announced: dt.date | None = None  # the day arXiv announced it (US/Eastern date)
    withdrawn: bool = False  # this version withdraws the paper (its abstract says so)

    @property
    def url(self) -> str:
        return ABS_URL + self.arxiv_id

    @property
    def is_revision(self) -> bool:
        return self.announce_type.startswith("replace")

    @property
    def is_cross_list(self) -> bool:
        """Listed in a category we follow, from another primary (categories[0])."""
        return self.announce_type in ("cross", "replace-cross")


@dataclass(frozen=True, slots=True)
class Match:
    """One of a chat's queries that matched a paper, and where it matched."""

    query: str  # as the user typed it
    fields: tuple[str, ...] = ()  # of "title", "abstract", "authors", "categories"


@dataclass(frozen=True, slots=True)
class Hit:
    """A paper together with the chat's queries that matched it."""

    paper: Paper
    keywords: tuple[str, ...] = field(default_factory=tuple)
    matches: tuple[Match, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Chat:
    """A Telegram chat that talks to the bot and its delivery settings."""

    chat_id: int
    digest_time: dt.time
    timezone: str
    active: bool = True
    last_digest_at: dt.datetime | None = None
    want_new: bool = True
    want_cross: bool = True
    want_revisions: bool = False
    categories: tuple[str, ...] | None = None  # None: the configured default categories
    tell_no_match: bool = False  # a one-line note on an announcement day that matched nothing


@dataclass(frozen=True, slots=True)
class ChannelLink:
    """A channel that a private chat's digests are posted in, linked with /channel."""

    chat_id: int  # the private chat that manages the subscriptions
    channel_id: int
    title: str  # "@name", or the channel's title when it has no public name
    active: bool = True  # False once the bot could no longer post there

    @property
    def ref(self) -> str:
        """What /channel takes to link it again: its public name, else its id."""
        return self.title if self.title.startswith("@") else str(self.channel_id)


@dataclass(frozen=True, slots=True)
class OutboxPart:
    """One message of a composed digest waiting in the outbox."""

    digest_id: int
    part_no: int  # 1-based
    parts_total: int
    chat_id: int
    text: str
    arxiv_ids: tuple[str, ...]
    more_after: bool = False  # the next part is held behind a "More" button


@dataclass(frozen=True, slots=True)
class UrlState:
    """What the fetcher remembers about one URL; small enough to store in a database row."""

    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None  # hex digest of the last body


@dataclass(frozen=True, slots=True)
class Document:
    """A paper's fields in normal form, as queries are matched against them (computed once
    at ingest by `bot.matching.normalize.document` and stored with the paper)."""

    title: tuple[str, ...]
    abstract: tuple[str, ...]
    authors: tuple[tuple[str, ...], ...]  # one tuple of words per author, plurals kept
    categories: tuple[str, ...]


# --- what a search of the stored papers looks for ---------------------------------------------
#
# `bot.matching.search_plan` turns a query into one of these (words in normal form); the
# storage package finds the papers through its index of stored normal forms. A plan may find
# more papers than the query matches (never fewer): the exact matcher checks them.


@dataclass(frozen=True, slots=True)
class WordPattern:
    """Consecutive words in one of `fields`: `words`, then a last word that is one of `last`
    or starts with `last_prefix`."""

    fields: tuple[str, ...]  # of "title", "abstract", "authors", "categories"
    words: tuple[str, ...]  # the words before the last (often none)
    last: tuple[str, ...]  # exact spellings of the last word
    last_prefix: str | None = None  # or: any word starting with this


@dataclass(frozen=True, slots=True)
class AllOf:
    """Papers found by every one of `parts` and by none of `excluding`."""

    parts: tuple[SearchPlan, ...]  # at least one
    excluding: tuple[SearchPlan, ...] = ()


@dataclass(frozen=True, slots=True)
class AnyOf:
    """Papers found by at least one of `parts`."""

    parts: tuple[SearchPlan, ...]  # at least one


SearchPlan = WordPattern | AllOf | AnyOf
