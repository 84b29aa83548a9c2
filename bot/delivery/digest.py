"""Render hits as Telegram messages in HTML parse mode, split to fit Telegram's length limit.

Each paper is a block (`bot.delivery.paper_block`, which also measures lengths the way
Telegram does: visible text in UTF-16 code units); a digest is a header and the numbered
blocks, packed in order into as few messages as fit.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.arxiv.calendar import days_label
from bot.delivery.paper_block import (
    MAX_MESSAGE_LENGTH,
    block_length,
    clean,
    format_paper,
    measured_block,
    telegram_length,
)
from bot.i18n import texts
from bot.i18n.translate import ENGLISH_TEXTS, Translator, translator
from bot.models import Hit, Match, Paper

# A JSON string's text (quoted, escaped as json.dumps does).
_json_string = json.encoder.encode_basestring_ascii

__all__ = [
    "MAX_MESSAGE_LENGTH",
    "DigestPart",
    "format_paper",
    "held_ids",
    "render_digest",
    "render_held",
    "render_held_parts",
    "render_parts",
    "split_blocks",
    "telegram_length",
]

_BLOCK_SEPARATOR = "\n\n"


# --- messages ---------------------------------------------------------------------------------


def _continuation(number: int, total: int) -> str:
    return f"<i>({number}/{total})</i>"


def _pack(header_length: int, lengths: Sequence[int], limit: int, gap: int) -> list[range]:
    """Greedily group consecutive blocks (of these Telegram lengths) into messages, joined by
    a separator of length gap; the indices of each message's blocks."""
    # Reserve room for the widest marker possible: there are never more messages than blocks.
    marker_room = telegram_length(_continuation(len(lengths), len(lengths)))
    starts = [0]
    used = header_length
    for index, length in enumerate(lengths):
        size = gap + length
        if used + size > limit and index > starts[-1]:
            starts.append(index)
            used = marker_room
        if used + size > limit:
            raise ValueError(f"a block of {length} characters does not fit in {limit}")
        used += size
    return [
        range(start, end) for start, end in zip(starts, [*starts[1:], len(lengths)], strict=True)
    ]


def _heads(header: str, count: int) -> list[str]:
    """What each of `count` messages starts with: the header, then "(k/n)" lines."""
    return [header] + [_continuation(number, count) for number in range(2, count + 1)]


def _assemble(
    header: str, blocks: Sequence[str], groups: Sequence[range], separator: str
) -> list[str]:
    """The messages: header or "(k/n)" line, then the group's blocks."""
    heads = _heads(header, len(groups))
    messages = []
    for head, group in zip(heads, groups, strict=True):
        parts = [blocks[index] for index in group]
        messages.append(separator.join([head, *parts] if head else parts))
    return messages


def split_blocks(
    header: str,
    blocks: Sequence[str],
    limit: int = MAX_MESSAGE_LENGTH,
    *,
    separator: str = _BLOCK_SEPARATOR,
) -> list[str]:
    """Pack blocks, in order, into as few messages as possible, each within limit.

    The first message starts with header, the others with a "(2/3)" line; blocks are joined by
    separator (a blank line) and never split. ValueError if a block cannot fit even alone.
    """
    if not blocks:
        return [header] if header else []
    lengths = [telegram_length(block) for block in blocks]
    groups = _pack(telegram_length(header), lengths, limit, telegram_length(separator))
    return _assemble(header, blocks, groups, separator)


def _digest_header(
    hits: Sequence[Hit], heading: str, days: Sequence[dt.date] | None, tr: Translator
) -> str:
    """The heading, then the dates ("Fri 8 Mar – Mon 11 Mar 2024": `days`, else the range of
    the papers' announcement days) and the count, in the language of `tr`."""  # noqa: RUF002
    if not days:
        days = [hit.paper.announced for hit in hits if hit.paper.announced is not None]
    dates = days_label(days, with_year=True, formatter=tr.day, year_first=tr.year_first)
    summary = " · ".join(filter(None, [dates, tr.plural(texts.PAPERS, len(hits))]))
    return f"<b>{html.escape(clean(heading))}</b>\n{html.escape(summary)}"


@dataclass(frozen=True, slots=True)
class DigestPart:
    """One message of a digest and the ids of the papers it carries. A part held for later
    has no text yet, but `held`: what `render_held` makes its text from when it is released."""

    text: str
    arxiv_ids: tuple[str, ...]
    held: str | None = None


def render_parts(
    hits: Sequence[Hit],
    *,
    heading: str | None = None,
    limit: int = MAX_MESSAGE_LENGTH,
    days: Sequence[dt.date] | None = None,
    tr: Translator = ENGLISH_TEXTS,
    rendered: int | None = None,
) -> list[DigestPart]:
    """The hits as numbered papers under a header with dates and count, split into messages.

    The header names `days` when given (the days since the chat's last digest, "Fri 8 Mar –
    Mon 11 Mar 2024"), else the range of the papers' announcement days. Headings, dates and
    marks are in the language of `tr`; `heading` defaults to its "arXiv digest". Only the
    first `rendered` messages (None: all; the first always) get their text; the others are
    held (`render_held` gives the same text later: most of a long digest's pages are never
    asked for, and building them was most of the cost of composing).
    """  # noqa: RUF002 - the en dash is the typographic range sign the header uses
    if not hits:
        return []
    heading = tr(texts.DIGEST_HEADING) if heading is None else heading
    header = _digest_header(hits, heading, days, tr)
    # Each paper must fit in a message of its own, after the header or a continuation line.
    head_room = max(telegram_length(header), telegram_length(_continuation(len(hits), len(hits))))
    gap = telegram_length(_BLOCK_SEPARATOR)
    room = limit - head_room - gap
    # The packing needs every block's length, but only the rendered messages their text.
    lengths = [block_length(hit, index, room, tr) for index, hit in enumerate(hits, 1)]
    groups = _pack(telegram_length(header), lengths, limit, gap)
    parts = []
    for number, (head, group) in enumerate(
        zip(_heads(header, len(groups)), groups, strict=True), 1
    ):
        ids = tuple(hits[index].paper.arxiv_id for index in group)
        if rendered is not None and number > max(1, rendered):  # the header's is always made
            entries = [(index + 1, hits[index]) for index in group]
            recipe = _held(number, len(groups), entries, tr.language, room, limit)
            parts.append(DigestPart("", ids, recipe))
            continue
        blocks = [measured_block(hits[index], index + 1, room, tr)[0] for index in group]
        parts.append(DigestPart(_BLOCK_SEPARATOR.join([head, *blocks]), ids))
    return parts


def _held(
    number: int, total: int, hits: Sequence[tuple[int, Hit]], language: str, room: int, limit: int
) -> str:
    """What a held message is rendered from, as JSON: its place, each paper's number, id and
    matches (the chat's queries that matched it; its keywords when they are other words),
    and the language and room it is rendered in. Written piece by piece, as each paper's
    matches are shared by many chats: a morning holds ~200,000 of these messages."""
    papers = ",".join(
        f"[{index},{_json_string(hit.paper.arxiv_id)},{_matches_json(hit.matches, hit.keywords)}]"
        for index, hit in hits
    )
    return (
        f'{{"part":[{number},{total}],"papers":[{papers}],'
        f'"lang":{_json_string(language)},"room":{room},"limit":{limit}}}'
    )


@functools.lru_cache(maxsize=1 << 16)
def _matches_json(matches: tuple[Match, ...], keywords: tuple[str, ...]) -> str:
    """A held paper's matches, then its keywords when they are not the matches' queries."""
    found = json.dumps([[match.query, list(match.fields)] for match in matches])
    if list(keywords) != [match.query for match in matches]:
        return f"{found},{json.dumps(list(keywords))}"
    return found


def held_ids(held: str) -> list[str]:
    """The papers a held message needs, by arXiv id."""
    return [str(entry[1]) for entry in json.loads(held)["papers"]]


def render_held(held: str, papers: Mapping[str, Paper]) -> str:
    """A held message's text, from `render_parts`'s `held` and its papers as stored now: the
    text it would have had, unless a paper changed since (a revision) or is gone (pruned)."""
    recipe = json.loads(held)
    tr = translator(recipe["lang"])
    limit = int(recipe["limit"])
    hits = []
    for index, arxiv_id, matches, *keywords in recipe["papers"]:
        paper = papers.get(arxiv_id)
        if paper is None:
            continue
        found = tuple(Match(query, tuple(fields)) for query, fields in matches)
        words = tuple(keywords[0]) if keywords else tuple(match.query for match in found)
        hits.append((int(index), Hit(paper, words, found)))
    head = _continuation(*recipe["part"])
    room = int(recipe["room"])
    blocks = [measured_block(hit, index, room, tr)[0] for index, hit in hits]
    text = _BLOCK_SEPARATOR.join([head, *blocks])
    if blocks and telegram_length(text) > limit:  # a paper grew since: they share the room
        gap = telegram_length(_BLOCK_SEPARATOR)
        share = (limit - telegram_length(head)) // len(blocks) - gap
        blocks = [measured_block(hit, index, share, tr)[0] for index, hit in hits]
        text = _BLOCK_SEPARATOR.join([head, *blocks])
    return text


def render_held_parts(
    parts: Sequence[tuple[int, str | None]], papers: Mapping[str, Paper]
) -> dict[int, str | None]:
    """`render_held` for each (part number, held) that is held (None: its text is stored)."""
    return {number: None if held is None else render_held(held, papers) for number, held in parts}


def render_digest(
    hits: Sequence[Hit],
    *,
    heading: str | None = None,
    limit: int = MAX_MESSAGE_LENGTH,
    tr: Translator = ENGLISH_TEXTS,
) -> list[str]:
    """The texts of render_parts: the messages of a digest, [] for no hits."""
    return [part.text for part in render_parts(hits, heading=heading, limit=limit, tr=tr)]
