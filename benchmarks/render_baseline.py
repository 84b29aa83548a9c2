"""The digest renderer as it was before rendering was made fast: the baseline of
benchmarks/render.py, which checks that the new one gives byte-identical messages.

A frozen copy of bot/delivery/digest.py at commit ce6bddd, with the title highlighting of
bot/matching/ranking.py at that commit (it parsed every query and tokenised the title for
every paper) copied in below, so that later changes to either cannot speed up the baseline.
(It shares the translator, whose Chinese dates are cached since: that saves it ~0.1 ms per
Chinese digest, nothing next to its ~60 ms.) Do not edit it except to follow renamed imports.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import unicodedata
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from bot.arxiv.calendar import days_label
from bot.arxiv.latex import to_unicode
from bot.i18n import texts
from bot.i18n.translate import ENGLISH_TEXTS, Translator
from bot.matching.evaluator import occurrences
from bot.matching.normalize import CharTable, words
from bot.matching.parser import parse_query
from bot.matching.query import QueryError, Term, positive_terms
from bot.models import Hit, Paper

MAX_MESSAGE_LENGTH = 4096

_BLOCK_SEPARATOR = "\n\n"
_ELLIPSIS = "\u2026"
_MAX_AUTHORS = 3

_TAG = re.compile(r"<[^>]*>")
# The only named entities Telegram understands, plus all numeric ones.
_ENTITY = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]+)|#[xX]([0-9a-fA-F]+));")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
# What is left after whitespace is collapsed: control characters Telegram rejects, and lone
# surrogates, which cannot be encoded as UTF-8 at all.
_UNSENDABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Characters that attach to the one before: a cut just before them would split a grapheme.
_JOINING = frozenset("\u200c\u200d\ufe0e\ufe0f")
# Fields are sacrificed in this order when a paper does not fit in one message.
_SHRINK_ORDER = ("abstract", "meta", "authors", "title")


# --- title highlighting, from bot/matching/ranking.py at ce6bddd --------------------------------

_WORD_RUN = re.compile("w+")


def _run_char(codepoint: int) -> str:
    kind = unicodedata.category(chr(codepoint))
    return "w" if kind[0] in "LNM" or kind == "Cf" else " "


_RUN_TABLE = CharTable(_run_char)


def _title_terms(queries: Sequence[str]) -> list[Term]:
    terms: list[Term] = []
    for text in queries:
        try:
            query = parse_query(text)
        except QueryError:
            continue
        terms += (term for term in positive_terms(query) if term.field in (None, "title"))
    return terms


def highlight_spans(text: str, queries: Sequence[str]) -> list[tuple[int, int]]:
    terms = _title_terms(queries)
    tokens: list[str] = []
    runs: list[tuple[int, int]] = []
    for run in _WORD_RUN.finditer(text.translate(_RUN_TABLE)):
        for token in words(text[run.start() : run.end()]):
            tokens.append(token)
            runs.append(run.span())
    spans = [
        (runs[start][0], runs[start + len(term.words) - 1][1])
        for term in terms
        for start in occurrences(term, tokens)
    ]
    merged: list[tuple[int, int]] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((begin, end))
    return merged


# --- lengths ----------------------------------------------------------------------------------


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _decode_entity(match: re.Match[str]) -> str:
    name, decimal, hexadecimal = match.groups()
    if name:
        return _NAMED_ENTITIES[name]
    codepoint = int(decimal) if decimal else int(hexadecimal, 16)
    return chr(codepoint) if codepoint <= 0x10FFFF else "\ufffd"


def telegram_length(html_text: str) -> int:
    """The length Telegram counts: visible text after entity parsing, in UTF-16 code units."""
    return _utf16_length(_ENTITY.sub(_decode_entity, _TAG.sub("", html_text)))


# --- text helpers -----------------------------------------------------------------------------


def _clean(text: str) -> str:
    """One line of sendable text: whitespace runs become one space, control characters go."""
    return _UNSENDABLE.sub("", " ".join(text.split()))


def _joins_previous(char: str) -> bool:
    return char in _JOINING or unicodedata.category(char).startswith("M")


def _truncate(text: str, max_units: int) -> str:
    """Shorten to at most max_units UTF-16 units, at a word boundary if one is near, with '…'."""
    if _utf16_length(text) <= max_units:
        return text
    if max_units < 1:
        return ""
    # Slicing the UTF-16 form and ignoring a dangling half never splits a surrogate pair.
    cut = text.encode("utf-16-le")[: 2 * (max_units - 1)].decode("utf-16-le", "ignore")
    while cut and (_joins_previous(text[len(cut)]) or cut[-1] == "\u200d"):
        cut = cut[:-1]
    space = cut.rfind(" ")
    if space >= len(cut) // 2:  # no word boundary in the second half (e.g. CJK): cut anywhere
        cut = cut[:space]
    return cut.rstrip(" ,;:") + _ELLIPSIS


# --- one paper --------------------------------------------------------------------------------


def _href(url: str) -> str:
    """The URL percent-encoded where needed and escaped for a double-quoted attribute."""
    return html.escape(urllib.parse.quote(_clean(url), safe=":/?#[]@!$&'()*+,;=%~"), quote=True)


def _authors_text(authors: Sequence[str], tr: Translator) -> str:
    names = [name for name in map(_clean, authors) if name]
    shown = ", ".join(names[:_MAX_AUTHORS])
    return tr(texts.ET_AL, authors=shown) if len(names) > _MAX_AUTHORS else shown


def _meta_text(hit: Hit, tr: Translator) -> str:
    """Categories and why the paper is here: "cs.AI · cs.CL — matched: diffusion — title"."""
    categories = " · ".join(filter(None, map(_clean, hit.paper.categories)))
    if hit.matches:
        reasons = "; ".join(
            f"{_clean(m.query)} — {', '.join(m.fields)}" if m.fields else _clean(m.query)
            for m in hit.matches
        )
    else:
        reasons = ", ".join(filter(None, map(_clean, hit.keywords)))
    matched = tr(texts.MATCHED, reasons=reasons) if reasons else ""
    return "\n".join(part for part in (categories, matched) if part)


def _cross_list(paper: Paper, tr: Translator) -> str:
    """ "cross-list from math.ST": arXiv lists the primary category first."""
    primary = _clean(paper.categories[0]) if paper.categories else ""
    return tr(texts.CROSS_LIST_FROM, category=primary) if primary else tr(texts.CROSS_LIST)


def _announce_mark(paper: Paper, tr: Translator) -> str:
    """How the paper was announced, when it is not a new submission: "cross-list from
    math.ST", "revised v2", "withdrawn v3"."""
    kind = paper.announce_type
    if paper.withdrawn:
        if paper.version > 1:
            return tr(texts.WITHDRAWN_VERSION, version=paper.version)
        return tr(texts.WITHDRAWN)
    if kind == "new":
        return ""
    if kind == "cross":
        return _cross_list(paper, tr)
    if kind.startswith("replace"):
        if paper.version > 1:
            revised = tr(texts.REVISED_VERSION, version=paper.version)
        else:
            revised = tr(texts.REVISED)
        if kind == "replace-cross":
            return tr(texts.REVISED_CROSS_LIST, revised=revised, cross_list=_cross_list(paper, tr))
        return revised
    return _clean(kind)  # a type arXiv introduced later: show it as it is


def _plain_fields(hit: Hit, tr: Translator) -> dict[str, str]:
    """The visible texts of a paper: LaTeX shown as Unicode, whitespace tidied."""
    paper = hit.paper
    return {
        "title": _clean(to_unicode(paper.title)) or f"arXiv:{_clean(paper.arxiv_id)}",
        "authors": _authors_text([to_unicode(name) for name in paper.authors], tr),
        "meta": _meta_text(hit, tr),
        "mark": _announce_mark(paper, tr),
        "abstract": _clean(to_unicode(paper.abstract)),
    }


def _title_html(title: str, queries: Sequence[str]) -> str:
    """The escaped title with the words the queries matched in bold."""
    out, done = [], 0
    for start, end in highlight_spans(title, queries) if queries else []:
        out += [html.escape(title[done:start]), f"<b>{html.escape(title[start:end])}</b>"]
        done = end
    out.append(html.escape(title[done:]))
    return "".join(out)


def _paper_html(
    paper: Paper, fields: dict[str, str], index: int | None, queries: Sequence[str] = ()
) -> str:
    number = f"{index}. " if index is not None else ""
    title = _title_html(fields["title"] or _ELLIPSIS, queries)
    lines = [f'{number}<a href="{_href(paper.url)}">{title}</a>']
    if fields["authors"]:
        lines.append(html.escape(fields["authors"]))
    if fields["meta"]:
        lines.append(html.escape(fields["meta"]))
    if fields["mark"]:
        lines.append(f"<i>{html.escape(fields['mark'])}</i>")
    if fields["abstract"]:
        lines.append(f"<blockquote expandable>{html.escape(fields['abstract'])}</blockquote>")
    return "\n".join(lines)


def format_paper(
    hit: Hit,
    index: int | None = None,
    *,
    max_length: int = MAX_MESSAGE_LENGTH,
    tr: Translator = ENGLISH_TEXTS,
) -> str:
    """One paper as an HTML block of at most max_length (Telegram length), numbered if index.

    Too long a block loses the end of its abstract first, then of the categories/keywords line,
    the authors and the title. ValueError if even that cannot make it fit.
    """
    fields = _plain_fields(hit, tr)
    queries = [match.query for match in hit.matches] or list(hit.keywords)
    block = _paper_html(hit.paper, fields, index, queries)
    for name in _SHRINK_ORDER:
        excess = telegram_length(block) - max_length
        if excess <= 0:
            return block
        fields[name] = _truncate(fields[name], _utf16_length(fields[name]) - excess)
        block = _paper_html(hit.paper, fields, index, queries)
    if telegram_length(block) > max_length:
        raise ValueError(f"a paper cannot be shown in {max_length} characters")
    return block


# --- messages ---------------------------------------------------------------------------------


def _continuation(number: int, total: int) -> str:
    return f"<i>({number}/{total})</i>"


def _pack(header: str, blocks: Sequence[str], limit: int, separator: str) -> list[range]:
    """Greedily group consecutive blocks into messages; the indices of each message's blocks."""
    gap = telegram_length(separator)
    # Reserve room for the widest marker possible: there are never more messages than blocks.
    marker_room = telegram_length(_continuation(len(blocks), len(blocks)))
    starts = [0]
    used = telegram_length(header)
    for index, block in enumerate(blocks):
        size = gap + telegram_length(block)
        if used + size > limit and index > starts[-1]:
            starts.append(index)
            used = marker_room
        if used + size > limit:
            raise ValueError(f"a block of {size - gap} characters does not fit in {limit}")
        used += size
    return [
        range(start, end) for start, end in zip(starts, [*starts[1:], len(blocks)], strict=True)
    ]


def _assemble(
    header: str, blocks: Sequence[str], groups: Sequence[range], separator: str
) -> list[str]:
    """The messages: header or "(k/n)" line, then the group's blocks."""
    heads = [header] + [_continuation(number, len(groups)) for number in range(2, len(groups) + 1)]
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
    return _assemble(header, blocks, _pack(header, blocks, limit, separator), separator)


def _digest_header(
    hits: Sequence[Hit], heading: str, days: Sequence[dt.date] | None, tr: Translator
) -> str:
    """The heading, then the dates ("Fri 8 Mar – Mon 11 Mar 2024": `days`, else the range of
    the papers' announcement days) and the count, in the language of `tr`."""  # noqa: RUF002
    if not days:
        days = [hit.paper.announced for hit in hits if hit.paper.announced is not None]
    dates = days_label(days, with_year=True, formatter=tr.day, year_first=tr.year_first)
    summary = " · ".join(filter(None, [dates, tr.plural(texts.PAPERS, len(hits))]))
    return f"<b>{html.escape(_clean(heading))}</b>\n{html.escape(summary)}"


@dataclass(frozen=True, slots=True)
class DigestPart:
    """One message of a digest and the ids of the papers it carries."""

    text: str
    arxiv_ids: tuple[str, ...]


def render_parts(
    hits: Sequence[Hit],
    *,
    heading: str | None = None,
    limit: int = MAX_MESSAGE_LENGTH,
    days: Sequence[dt.date] | None = None,
    tr: Translator = ENGLISH_TEXTS,
) -> list[DigestPart]:
    """The hits as numbered papers under a header with dates and count, split into messages.

    The header names `days` when given (the days since the chat's last digest, "Fri 8 Mar –
    Mon 11 Mar 2024"), else the range of the papers' announcement days. Headings, dates and
    marks are in the language of `tr`; `heading` defaults to its "arXiv digest".
    """  # noqa: RUF002 - the en dash is the typographic range sign the header uses
    if not hits:
        return []
    heading = tr(texts.DIGEST_HEADING) if heading is None else heading
    header = _digest_header(hits, heading, days, tr)
    # Each paper must fit in a message of its own, after the header or a continuation line.
    head_room = max(telegram_length(header), telegram_length(_continuation(len(hits), len(hits))))
    room = limit - head_room - telegram_length(_BLOCK_SEPARATOR)
    blocks = [format_paper(hit, index, max_length=room, tr=tr) for index, hit in enumerate(hits, 1)]
    groups = _pack(header, blocks, limit, _BLOCK_SEPARATOR)
    messages = _assemble(header, blocks, groups, _BLOCK_SEPARATOR)
    return [
        DigestPart(text, tuple(hits[index].paper.arxiv_id for index in group))
        for text, group in zip(messages, groups, strict=True)
    ]


def render_digest(
    hits: Sequence[Hit],
    *,
    heading: str | None = None,
    limit: int = MAX_MESSAGE_LENGTH,
    tr: Translator = ENGLISH_TEXTS,
) -> list[str]:
    """The texts of render_parts: the messages of a digest, [] for no hits."""
    return [part.text for part in render_parts(hits, heading=heading, limit=limit, tr=tr)]
