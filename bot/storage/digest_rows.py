"""Composed digests as the transaction that queues them writes them (`bot.storage.deliveries`'s
`compose_digests`): each table's rows as one JSON value.

Encoding a morning's batch (~500 chats, ~11,000 outbox rows, ~8 MB of text) is CPU work, so
it is done where the digests are composed (the worker process, `bot.pipeline.composer`): the
bot's process then only hands the values to SQLite. One JSON value per statement, rather than
rows bound one by one (executemany), because every bound row takes the GIL back, and beside a
busy thread each of those waits up to the interpreter's switch interval (5 ms).

The outbox rows' texts (the messages, and the recipes of held ones) are not in their JSON but
in one UTF-8 blob beside it, each row naming where its texts are: escaping megabytes of text
into JSON, and SQLite unescaping it again, was a quarter of the worker's time, and a single
character beyond the BMP made the whole JSON string four bytes a character.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from bot.storage.base import timestamp


@dataclass(frozen=True, slots=True)
class ComposedDigest:
    """A chat's digest to record: its parts (text, arxiv ids; none when nothing was pending,
    and then only the marks are recorded), the run of matches and fingerprint it read with
    (None: leave the chat's mark), when its daily run was (None: not the daily run), and the
    last arXiv announcement day it names (None: not known)."""

    chat_id: int
    parts: Sequence[tuple[str, Sequence[str]]]
    read: tuple[int, str] | None = None
    daily_at: dt.datetime | None = None
    # Parts after `parts`, held without their text: what they are rendered from on release
    # (bot.delivery.digest.render_held), and their arxiv ids.
    held: Sequence[tuple[str, Sequence[str]]] = ()
    through: dt.date | None = None

    @property
    def papers(self) -> list[str]:
        every = [*self.parts, *self.held]
        return sorted({arxiv_id for _, found in every for arxiv_id in found})

    def rows(self, visible: int) -> list[tuple[int, str, Sequence[str], str | None, bool]]:
        """Its outbox rows: part number, text, arxiv ids, what a held part is rendered
        from, whether the part is held (after the first `visible`)."""
        rendered = [(text, found, None) for text, found in self.parts]
        later = [("", found, held) for held, found in self.held]
        return [
            (number, text, found, held, number > visible)
            for number, (text, found, held) in enumerate([*rendered, *later], start=1)
        ]


@dataclass(frozen=True, slots=True)
class DigestRows:
    """A batch of digests as JSON arrays of rows, one per statement of the transaction, and
    the outbox rows' texts beside them."""

    # [chat id, parts in all, papers, last announcement day named (or null)]: the digests
    # queued (with a part)
    digests: str
    # [chat id, part number, [arxiv ids], is held, text at, text length, held at, held
    # length (-1: none)]: where in `texts` (bytes, from 0) the part's text and held recipe are.
    parts: str
    texts: bytes  # the parts' texts and held recipes, in UTF-8, one after another
    papers: str  # [chat id, arxiv id]: the ledger's new entries
    reads: str  # [chat id, run read up to, fingerprint]: the read marks recorded
    daily: str  # [chat id, timestamp]: the daily runs recorded


def encode_digests(digests: Sequence[ComposedDigest], visible: int) -> DigestRows:
    """The batch's rows; parts after the first `visible` of a digest are held (behind a
    "More" button). ValueError if a chat has two digests in it."""
    if len({digest.chat_id for digest in digests}) < len(digests):
        raise ValueError("one digest run per chat at a time")
    queued = [digest for digest in digests if digest.parts or digest.held]
    papers = {digest.chat_id: digest.papers for digest in queued}
    parts, texts = _outbox_rows(queued, visible)
    return DigestRows(
        digests=as_json(
            [
                [
                    d.chat_id,
                    len(d.parts) + len(d.held),
                    len(papers[d.chat_id]),
                    d.through.isoformat() if d.through else None,
                ]
                for d in queued
            ]
        ),
        parts=as_json(parts),
        texts=b"".join(texts),
        papers=as_json(
            [[chat_id, arxiv_id] for chat_id, ids in papers.items() for arxiv_id in ids]
        ),
        reads=as_json([[d.chat_id, *d.read] for d in digests if d.read is not None]),
        daily=as_json([[d.chat_id, timestamp(d.daily_at)] for d in digests if d.daily_at]),
    )


def _outbox_rows(
    digests: Sequence[ComposedDigest], visible: int
) -> tuple[list[list[object]], list[bytes]]:
    """The digests' outbox rows, and the texts they point into (`DigestRows.parts`)."""
    rows: list[list[object]] = []
    texts: list[bytes] = []
    at = 0
    for digest in digests:
        for number, text, found, held, is_held in digest.rows(visible):
            encoded = text.encode()
            row: list[object] = [digest.chat_id, number, list(found), int(is_held), at]
            row.append(len(encoded))
            texts.append(encoded)
            at += len(encoded)
            if held is None:
                row += [at, -1]
            else:
                recipe = held.encode()
                row += [at, len(recipe)]
                texts.append(recipe)
                at += len(recipe)
            rows.append(row)
    return rows, texts


# The columns of an outbox row from `DigestRows` (json_each alias `p`, the texts bound as ?2):
# its number, arxiv ids (the JSON text of the array), is held, text and held recipe. A BLOB's
# substr counts bytes (from 1), and its slices are cast to text as they were encoded: UTF-8.
# (An empty blob is bound as NULL: then every text is empty.)
PART_NUMBER = "json_extract(p.value, '$[1]')"
PART_IDS = "json_extract(p.value, '$[2]')"
PART_IS_HELD = "json_extract(p.value, '$[3]')"
_SLICE = "COALESCE(CAST(substr(?2, json_extract(p.value, '$[{0}]') + 1,"
_SLICE += " json_extract(p.value, '$[{1}]')) AS TEXT), '')"
PART_TEXT = _SLICE.format(4, 5)
PART_HELD = f"IIF(json_extract(p.value, '$[7]') < 0, NULL, {_SLICE.format(6, 7)})"


def as_json(rows: Sequence[object]) -> str:
    """Rows as one JSON parameter, for a statement to read with json_each."""
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
