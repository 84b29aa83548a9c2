"""One paper as a block of Telegram HTML, and the Telegram length arithmetic it relies on.

Lengths are measured the way Telegram measures them (visible text in UTF-16 code units).
Escaping never changes the visible length of a text, so fields are shortened as plain text
and escaped afterwards: a cut can never fall inside a tag or an entity. For the same reason a
block's length is the sum of its fields' lengths and of the few visible characters around
them (the number, line breaks): tags count nothing, and no entity can span two pieces.

The same paper is rendered for every chat whose digest carries it, so what does not depend
on the chat (LaTeX shown as Unicode, tidied and escaped texts, their lengths, the authors line
and the announcement mark in a language) is computed once per paper and kept in bounded
caches; the chat's part (number, "matched: …" line, bold title words) is added per hit.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from bot.arxiv.latex import to_unicode
from bot.i18n import texts
from bot.i18n.translate import ENGLISH_TEXTS, Translator
from bot.matching.ranking import clear_highlight_caches, highlight_spans
from bot.models import Hit, Match, Paper

MAX_MESSAGE_LENGTH = 4096

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

# A day brings ~3,000 papers, several days' worth after a holiday. A paper cached here and in
# highlighting holds ~5 kB (its abstract as HTML, mostly, and as Unicode if it had LaTeX), and
# its key keeps the Paper alive (~2 kB, as `bot.matching.normalize.document`'s cache of 8,192
# papers does): a full cache is ~40 MB, ~60 MB with the papers (benchmarks/render.py).
_CACHED_PAPERS = 8192


# --- lengths ----------------------------------------------------------------------------------


def _utf16_length(text: str) -> int:
    """The length of plain text in UTF-16 code units (lone surrogates count one)."""
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


def clean(text: str) -> str:
    """One line of sendable text: whitespace runs become one space, control characters go."""
    tidy = _UNSENDABLE.sub("", " ".join(text.split()))
    # Stored texts are mostly tidy already: the cached paper then shares the stored one.
    return text if tidy == text else tidy


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


@dataclass(frozen=True, slots=True)
class _Text:
    """A text as shown: plain, escaped, and its Telegram length."""

    plain: str
    html: str
    units: int


def _text(plain: str) -> _Text:
    return _Text(plain, html.escape(plain), _utf16_length(plain))


_EMPTY_TITLE = _text(_ELLIPSIS)  # what shows for a title shortened to nothing


# --- the block's lines ------------------------------------------------------------------------

# Tags around each field's line; the first line is the linked title.
_TAGS = {
    "authors": ("", ""),
    "meta": ("", ""),  # categories, then why the paper matched
    "mark": ("<i>", "</i>"),
    "abstract": ("<blockquote expandable>", "</blockquote>"),
}


@dataclass(frozen=True, slots=True)
class _Line:
    """A line after a block's first: the field's plain text (what gets shortened), its
    Telegram length, and the HTML it adds: a line break and the escaped text between its
    tags, or nothing for an empty field."""

    plain: str
    units: int
    html: str

    @property
    def length(self) -> int:
        """The Telegram length the line adds to its block: its line break's and its text's."""
        return 1 + self.units if self.plain else 0


def _line(name: str, plain: str) -> _Line:
    before, after = _TAGS[name]
    escaped = f"\n{before}{html.escape(plain)}{after}" if plain else ""
    return _Line(plain, _utf16_length(plain), escaped)


@dataclass(slots=True)
class _Fields:
    """The texts of one block, which shortening replaces one by one."""

    title: _Text
    authors: _Line
    meta: _Line
    mark: _Line
    abstract: _Line

    def length(self, number: str) -> int:
        """The block's Telegram length: the number's (ASCII), the title's and the lines'."""
        return (
            len(number)
            + (self.title.units or 1)
            + self.authors.length
            + self.meta.length
            + self.mark.length
            + self.abstract.length
        )


def _shorten(fields: _Fields, number: str, max_length: int) -> None:
    """Shorten the fields in `_SHRINK_ORDER` until the block fits; ValueError if it cannot."""
    for name in _SHRINK_ORDER:
        excess = fields.length(number) - max_length
        if excess <= 0:
            return
        field: _Text | _Line = getattr(fields, name)
        plain = _truncate(field.plain, field.units - excess)
        setattr(fields, name, _text(plain) if name == "title" else _line(name, plain))
    if fields.length(number) > max_length:
        raise ValueError(f"a paper cannot be shown in {max_length} characters")


# --- what a paper shows in every chat, cached -------------------------------------------------


def _link(url: str) -> str:
    """The opening tag of a link to the URL, percent-encoded where needed and escaped."""
    href = html.escape(urllib.parse.quote(clean(url), safe=":/?#[]@!$&'()*+,;=%~"), quote=True)
    return f'<a href="{href}">'


@dataclass(frozen=True, slots=True)
class _Shown:
    """What a paper shows in any chat and language: link, title, names, categories, abstract."""

    link: str
    title: _Text
    authors: tuple[str, ...]  # the names, tidied, none empty
    categories: _Text  # "cs.AI · cs.CL"
    abstract: _Line


@functools.lru_cache(maxsize=_CACHED_PAPERS)
def _shown(paper: Paper) -> _Shown:
    """The paper's visible texts: LaTeX shown as Unicode, whitespace tidied (cached)."""
    return _Shown(
        link=_link(paper.url),
        title=_text(clean(to_unicode(paper.title)) or f"arXiv:{clean(paper.arxiv_id)}"),
        authors=tuple(filter(None, (clean(to_unicode(name)) for name in paper.authors))),
        categories=_text(" · ".join(filter(None, map(clean, paper.categories)))),
        abstract=_line("abstract", clean(to_unicode(paper.abstract))),
    )


def _cross_list(paper: Paper, tr: Translator) -> str:
    """ "cross-list from math.ST": arXiv lists the primary category first."""
    primary = clean(paper.categories[0]) if paper.categories else ""
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
    return clean(kind)  # a type arXiv introduced later: show it as it is


@dataclass(frozen=True, slots=True)
class _Localized:
    """A paper's texts in one language: its `_Shown`, authors line and announcement mark."""

    shown: _Shown
    authors: _Line  # "Ada Lovelace, Alan Turing, Grace Hopper et al."
    mark: _Line  # "cross-list from math.ST"
    length: int  # the block's Telegram length without its number and categories/matched line
    categories_length: int  # what the categories add to that line: their text and line break


# Keyed on the translator as well: a paper shown in both languages takes two entries, which
# share the large texts of its one `_Shown`.
@functools.lru_cache(maxsize=2 * _CACHED_PAPERS)
def _localized(paper: Paper, tr: Translator) -> _Localized:
    """The paper's texts in the language of `tr` (cached)."""
    shown = _shown(paper)
    names = shown.authors
    authors = ", ".join(names[:_MAX_AUTHORS])
    if len(names) > _MAX_AUTHORS:
        authors = tr(texts.ET_AL, authors=authors)
    fields = _Fields(
        shown.title,
        _line("authors", authors),
        _line("meta", ""),
        _line("mark", _announce_mark(paper, tr)),
        shown.abstract,
    )
    categories = shown.categories
    categories_length = categories.units + 1 if categories.plain else 0
    return _Localized(shown, fields.authors, fields.mark, fields.length(""), categories_length)


# --- one paper --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _matched(matches: tuple[Match, ...], keywords: tuple[str, ...], tr: Translator) -> _Text:
    """Why the paper is here: "matched: diffusion — title" (cached: many of a chat's papers
    match the same of its queries in the same fields, and chats render one after another)."""
    if matches:
        reasons = tr(texts.REASON_SEPARATOR).join(
            tr(texts.MATCHED_IN, query=clean(m.query), fields=_field_names(m.fields, tr))
            if m.fields
            else clean(m.query)
            for m in matches
        )
    else:
        reasons = ", ".join(filter(None, map(clean, keywords)))
    return _text(tr(texts.MATCHED, reasons=reasons) if reasons else "")


def _field_names(fields: Sequence[str], tr: Translator) -> str:
    """A match's fields in the chat's language ("title, abstract"); a new one as it is."""
    names = (tr(texts.MATCHED_FIELDS[f]) if f in texts.MATCHED_FIELDS else f for f in fields)
    return tr(texts.FIELD_SEPARATOR).join(names)


def _meta(categories: _Text, matched: _Text) -> _Line:
    """The line of categories and why the paper matched, as `_line("meta", ...)` makes it from
    their plain texts joined by a line break (escaping keeps the line break)."""
    if not (categories.plain and matched.plain):
        either = categories if categories.plain else matched
        return _Line(either.plain, either.units, f"\n{either.html}" if either.plain else "")
    return _Line(
        f"{categories.plain}\n{matched.plain}",
        categories.units + 1 + matched.units,
        f"\n{categories.html}\n{matched.html}",
    )


def _title_html(title: _Text, queries: Sequence[str]) -> str:
    """The escaped title ('…' if it was shortened to nothing), the words the queries matched
    in bold."""
    title = title if title.plain else _EMPTY_TITLE
    spans = highlight_spans(title.plain, queries) if queries else []
    return _bold(title.plain, tuple(spans)) if spans else title.html


@functools.lru_cache(maxsize=16_384)
def _bold(text: str, spans: tuple[tuple[int, int], ...]) -> str:
    """The escaped text with these ranges in bold (cached: the chats that follow the same
    words highlight the same ones in a paper's title)."""
    out, done = [], 0
    for start, end in spans:
        out += [html.escape(text[done:start]), f"<b>{html.escape(text[start:end])}</b>"]
        done = end
    out.append(html.escape(text[done:]))
    return "".join(out)


def measured_block(hit: Hit, index: int | None, max_length: int, tr: Translator) -> tuple[str, int]:
    """`format_paper`'s block and its Telegram length."""
    paper = _localized(hit.paper, tr)
    shown = paper.shown
    number = f"{index}. " if index is not None else ""
    meta = _meta(shown.categories, _matched(hit.matches, hit.keywords, tr))
    queries = [match.query for match in hit.matches] or list(hit.keywords)
    length = len(number) + paper.length + meta.length
    if length <= max_length:  # as good as always: arXiv abstracts have at most 1,920 characters
        title = _title_html(shown.title, queries)
        return (
            f"{number}{shown.link}{title}</a>{paper.authors.html}{meta.html}"
            f"{paper.mark.html}{shown.abstract.html}"
        ), length
    fields = _Fields(shown.title, paper.authors, meta, paper.mark, shown.abstract)
    _shorten(fields, number, max_length)
    title = _title_html(fields.title, queries)
    # The layout: "3. " and the linked title, then a line for each field that is not empty.
    return (
        f"{number}{shown.link}{title}</a>{fields.authors.html}{fields.meta.html}"
        f"{fields.mark.html}{fields.abstract.html}"
    ), fields.length(number)


def block_length(hit: Hit, index: int | None, max_length: int, tr: Translator) -> int:
    """The Telegram length of `measured_block`'s block, without building it (as good as
    always: only a block too long for `max_length` is built, to be shortened)."""
    paper = _localized(hit.paper, tr)
    matched = _matched(hit.matches, hit.keywords, tr)
    # `_meta`'s line: a line break before each of its two texts that is not empty.
    length = paper.length + paper.categories_length + (matched.units + 1 if matched.plain else 0)
    if index is not None:
        length += len(str(index)) + 2  # "3. "
    return length if length <= max_length else measured_block(hit, index, max_length, tr)[1]


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
    return measured_block(hit, index, max_length, tr)[0]


def clear_caches() -> None:
    """Forget everything cached for rendering, highlighting included (tests and benchmarks
    start cold with it; it frees the memory)."""
    _localized.cache_clear()
    _shown.cache_clear()
    _matched.cache_clear()
    _bold.cache_clear()
    clear_highlight_caches()
