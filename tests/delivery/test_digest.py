"""Tests for bot.delivery.digest: Telegram lengths, paper blocks, digest headers and message
splitting."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.delivery.digest import (
    MAX_MESSAGE_LENGTH,
    DigestPart,
    format_paper,
    held_ids,
    render_digest,
    render_held,
    render_parts,
    split_blocks,
    telegram_length,
)
from bot.i18n.translate import translator
from bot.models import Hit, Match, Paper

# --- an independent checker of Telegram's HTML subset -----------------------------------------

ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
    "a", "tg-emoji", "code", "pre", "blockquote",
}  # fmt: skip
ALLOWED_ENTITIES = {"lt", "gt", "amp", "quot"}


class TelegramHTMLChecker(HTMLParser):
    """Fails on anything Telegram's HTML parse mode would reject; collects the visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.visible: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED_TAGS, tag
        if tag == "a":
            assert len(attrs) == 1
            assert attrs[0][0] == "href"
            assert (attrs[0][1] or "").startswith("https://arxiv.org/abs/")
            self.hrefs.append(attrs[0][1] or "")
        elif tag == "blockquote":
            assert attrs in ([], [("expandable", None)])
        else:
            assert attrs == []
        assert tag not in self.stack, f"nested <{tag}>"
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack, f"</{tag}> without <{tag}>"
        assert self.stack.pop() == tag, f"</{tag}> closes another tag"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise AssertionError(f"self-closing <{tag}/>")

    def handle_data(self, data: str) -> None:
        assert not set(data) & set("<>&"), data
        assert not re.search(r"[\x00-\x09\x0b-\x1f]", data), data
        self.visible.append(data)

    def handle_entityref(self, name: str) -> None:
        assert name in ALLOWED_ENTITIES, name
        self.visible.append(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.visible.append(html.unescape(f"&#{name};"))

    def handle_comment(self, data: str) -> None:
        raise AssertionError("comment")

    def handle_decl(self, decl: str) -> None:
        raise AssertionError("declaration")

    def unknown_decl(self, data: str) -> None:
        raise AssertionError("declaration")


def check_message(message: str) -> TelegramHTMLChecker:
    """Parse a message, asserting it is well-formed Telegram HTML with all tags closed."""
    checker = TelegramHTMLChecker()
    checker.feed(message)
    checker.close()
    assert checker.stack == [], f"unclosed {checker.stack}"
    assert checker.rawdata == "", "unparsed rest"
    return checker


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def visible_length(message: str) -> int:
    """The Telegram length of a message, measured by the independent checker."""
    return utf16_units("".join(check_message(message).visible))


# --- test data --------------------------------------------------------------------------------


def make_paper(index: int = 1, **kwargs: Any) -> Paper:
    fields: dict[str, Any] = {
        "arxiv_id": f"2508.{index:05d}",
        "title": f"Paper number {index}",
        "authors": ("Ada Lovelace", "Alan Turing"),
        "abstract": "We study things.",
        "categories": ("cs.AI", "cs.CL"),
        "announced": dt.date(2025, 8, 20),
    }
    fields.update(kwargs)
    return Paper(**fields)


def make_hit(index: int = 1, keywords: tuple[str, ...] = ("diffusion",), **kwargs: Any) -> Hit:
    return Hit(make_paper(index, **kwargs), keywords)


# --- telegram_length --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("plain", 5),
        ('<b>bold</b> <a href="https://x.y/?a=1&amp;b=2">link</a>', 9),
        ("&lt;&gt;&amp;&quot;", 4),
        ("&#39;&#x27;&#X1F600;", 4),
        ("&nbsp;", 6),  # Telegram only knows four named entities: the rest is literal text
        ("\U0001f600", 2),
        ("\u4e2d\u6587", 2),
        ("a\nb", 3),
        ("<blockquote expandable>q</blockquote>", 1),
    ],
)
def test_telegram_length_examples(text: str, length: int) -> None:
    """Tags don't count, entities count as their character, astral characters count two."""
    assert telegram_length(text) == length


@given(st.text())
def test_telegram_length_of_escaped_text_is_its_utf16_length(text: str) -> None:
    """Escaping text never changes its Telegram length."""
    assert telegram_length(html.escape(text)) == utf16_units(text)


# --- format_paper -----------------------------------------------------------------------------


def test_format_paper_layout() -> None:
    """Linked title, authors, categories, the matched keyword, expandable abstract."""
    block = format_paper(make_hit(7), 3)
    assert block == (
        '3. <a href="https://arxiv.org/abs/2508.00007">Paper number 7</a>\n'
        "Ada Lovelace, Alan Turing\n"
        "cs.AI · cs.CL\n"
        "matched: diffusion\n"
        "<blockquote expandable>We study things.</blockquote>"
    )
    check_message(block)


def test_format_paper_says_why_and_bolds_matched_title_words() -> None:
    """Each matched query is listed with where it hit; its words are bold in the title."""
    paper = make_paper(7, title="Latent Diffusion Models for $\\alpha$-stable noise")
    hit = Hit(
        paper,
        ("diffusion", "au:lovelace"),
        (Match("diffusion", ("title", "abstract")), Match("au:lovelace", ("authors",))),
    )
    block = format_paper(hit, 1)
    assert "Latent <b>Diffusion</b> Models for \u03b1-stable noise</a>" in block
    assert "matched: diffusion — title, abstract; au:lovelace — authors" in block
    check_message(block)


def test_format_paper_without_index_has_no_number() -> None:
    """Without an index the block starts with the title."""
    assert format_paper(make_hit()).startswith("<a href=")


def test_format_paper_escapes_every_external_text() -> None:
    """Title, authors, abstract, categories and keywords cannot inject HTML."""
    evil = '<b>&amp; "x" </blockquote>'
    hit = Hit(
        make_paper(title=evil, authors=(evil,), abstract=evil, categories=(evil,)),
        (evil,),
    )
    block = format_paper(hit)
    check_message(block)
    tags = set(re.findall(r"<[^>]*>", block))
    assert tags <= {
        '<a href="https://arxiv.org/abs/2508.00001">',
        "</a>",
        "<b>",
        "</b>",
        "<blockquote expandable>",
        "</blockquote>",
    }
    assert block.count("<blockquote expandable>") == 1
    assert "&lt;b&gt;&amp;amp; &quot;x&quot; &lt;/blockquote&gt;" in block


def test_format_paper_strips_control_characters_and_collapses_whitespace() -> None:
    """NUL and other control characters vanish; line breaks in the abstract become spaces."""
    hit = make_hit(title="A\x00B\x07C", abstract="line one\nline\x0btwo\r\n  three\x1b")
    block = format_paper(hit)
    check_message(block)
    assert ">ABC</a>" in block
    assert "line one line two three</blockquote>" in block


def test_format_paper_href_is_quoted_safely() -> None:
    """A strange id cannot break out of the href attribute."""
    block = format_paper(make_hit(arxiv_id='x" onclick="y <z>'))
    assert 'href="https://arxiv.org/abs/x%22%20onclick=%22y%20%3Cz%3E"' in block
    check_message(block)


@pytest.mark.parametrize(
    ("authors", "shown"),
    [
        ((), None),
        (("A",), "A"),
        (("A", "B", "C"), "A, B, C"),
        (("A", "B", "C", "D"), "A, B, C et al."),
    ],
)
def test_format_paper_authors(authors: tuple[str, ...], shown: str | None) -> None:
    """Up to three authors are listed; more become "et al."; none means no line."""
    lines = format_paper(make_hit(authors=authors)).split("\n")
    if shown is None:
        assert lines[1].startswith("cs.AI")
    else:
        assert lines[1] == shown


@pytest.mark.parametrize(
    ("announce_type", "version", "mark"),
    [
        ("new", 1, None),
        ("cross", 1, "cross-list from math.ST"),
        ("replace", 2, "revised v2"),
        ("replace", 1, "revised"),
        ("replace-cross", 3, "revised v3, cross-list from math.ST"),
    ],
)
def test_format_paper_announce_mark(announce_type: str, version: int, mark: str | None) -> None:
    """Papers that are not new say how they were announced; a cross-list names its primary
    category (the first one arXiv lists), which leads the categories line too."""
    hit = make_hit(announce_type=announce_type, version=version, categories=("math.ST", "cs.LG"))
    block = format_paper(hit)
    marks = re.findall(r"<i>(.*?)</i>", block)
    assert marks == ([mark] if mark else [])
    assert "\nmath.ST · cs.LG" in block


def test_format_paper_withdrawn_mark() -> None:
    """A withdrawal (shown only to chats that got the paper and follow revisions) says so."""
    hit = make_hit(announce_type="replace", version=3, withdrawn=True)
    assert re.findall(r"<i>(.*?)</i>", format_paper(hit)) == ["withdrawn v3"]


def test_format_paper_old_style_id_links_to_its_abstract() -> None:
    """An old-style id (hep-th/0505137) keeps its slash in the link."""
    block = format_paper(make_hit(arxiv_id="hep-th/0505137"))
    assert '<a href="https://arxiv.org/abs/hep-th/0505137">' in block


def test_format_paper_several_keywords_and_none() -> None:
    """All matched keywords are listed; without keywords the "matched" part is left out."""
    assert "matched: diffusion, large language model" in format_paper(
        make_hit(keywords=("diffusion", "large language model"))
    )
    assert "matched" not in format_paper(make_hit(keywords=()))


def test_format_paper_truncates_abstract_at_word_boundary() -> None:
    """An abstract too long for the room is cut after a whole word and ends with an ellipsis."""
    abstract = " ".join(f"word{i}&<" for i in range(1000))
    block = format_paper(make_hit(abstract=abstract), 1, max_length=1000)
    assert telegram_length(block) <= 1000
    check_message(block)
    quoted = html.unescape(re.findall(r"<blockquote expandable>(.*)</blockquote>", block)[0])
    assert quoted.endswith("\u2026")
    assert abstract.startswith(quoted[:-1])
    assert abstract[len(quoted) - 1] == " "  # the cut falls on a space: the last word is whole
    assert telegram_length(block) > 1000 - 20  # and little room is wasted


def test_format_paper_truncation_never_splits_a_surrogate_pair_or_entity() -> None:
    """Cutting text of emoji and escaped characters leaves whole characters and entities."""
    abstract = "\U0001f600&<>\u4e2d" * 2000
    for room in range(300, 340):
        block = format_paper(make_hit(abstract=abstract), max_length=room)
        assert telegram_length(block) <= room
        assert visible_length(block) == telegram_length(block)
        block.encode("utf-8")  # a lone surrogate would fail here


def test_format_paper_truncation_keeps_emoji_sequences_whole() -> None:
    """A cut never leaves half of a ZWJ emoji sequence or a letter without its accent."""
    scientist = "\U0001f469\u200d\U0001f52c"
    accented = "e\u0301"
    for piece in (scientist, accented):
        abstract = piece * 500
        for room in range(250, 262):
            block = format_paper(make_hit(abstract=abstract), max_length=room)
            quoted = html.unescape(re.findall(r"<blockquote expandable>(.*)</", block)[0])
            assert quoted[:-1] == piece * (len(quoted[:-1]) // len(piece))


def test_format_paper_shortens_other_fields_when_needed() -> None:
    """Absurdly long titles and keyword lists are shortened too, the title last."""
    hit = make_hit(title="T" * 5000, keywords=tuple(f"keyword{i}" for i in range(50)) * 20)
    block = format_paper(hit, 1, max_length=MAX_MESSAGE_LENGTH)
    assert telegram_length(block) <= MAX_MESSAGE_LENGTH
    check_message(block)
    assert "<blockquote" not in block
    with pytest.raises(ValueError, match="cannot be shown"):
        format_paper(hit, 1, max_length=3)  # "1. …" alone needs 4


# --- render_digest ----------------------------------------------------------------------------


def test_render_digest_no_hits() -> None:
    """No hits give no messages."""
    assert render_digest([]) == []


def test_render_digest_single_day_header() -> None:
    """One day: "Wed 20 Aug 2025", and the count in the singular."""
    [message] = render_digest([make_hit()])
    assert message.startswith("<b>arXiv digest</b>\nWed 20 Aug 2025 · 1 paper\n\n1. <a ")


def test_render_digest_date_range_header() -> None:
    """A range of days: "Fri 8 Mar - Mon 11 Mar 2024" (en dash); undated papers are ignored."""
    hits = [
        make_hit(1, announced=dt.date(2024, 3, 11)),
        make_hit(2, announced=None),
        make_hit(3, announced=dt.date(2024, 3, 8)),
    ]
    [message] = render_digest(hits, heading="Weekly <digest>")
    assert message.startswith(
        "<b>Weekly &lt;digest&gt;</b>\nFri 8 Mar \u2013 Mon 11 Mar 2024 · 3 papers\n\n"
    )


def test_render_parts_header_names_the_days_since_the_last_digest() -> None:
    """Given the days covered (a weekend after the last digest), the header names them all,
    whatever the papers' own dates."""
    days = [dt.date(2024, 3, 8), dt.date(2024, 3, 9), dt.date(2024, 3, 10), dt.date(2024, 3, 11)]
    [part] = render_parts([make_hit(announced=dt.date(2024, 3, 11))], days=days)
    assert part.text.startswith("<b>arXiv digest</b>\nFri 8 Mar \u2013 Mon 11 Mar 2024 · 1 paper")


def test_render_digest_range_across_years_and_no_dates() -> None:
    """A range across New Year shows both years; no dates at all shows just the count."""
    hits = [
        make_hit(1, announced=dt.date(2024, 12, 30)),
        make_hit(2, announced=dt.date(2025, 1, 2)),
    ]
    assert "Mon 30 Dec 2024 \u2013 Thu 2 Jan 2025 · 2 papers" in render_digest(hits)[0]
    assert render_digest([make_hit(announced=None)])[0].startswith("<b>arXiv digest</b>\n1 paper")


def test_render_digest_numbers_papers_in_given_order() -> None:
    """Papers are numbered 1..n in the order given, separated by blank lines."""
    hits = [make_hit(9), make_hit(2), make_hit(5)]
    [message] = render_digest(hits)
    blocks = message.split("\n\n")
    assert blocks[1:] == [format_paper(hit, i) for i, hit in enumerate(hits, 1)]


def test_render_digest_splits_with_continuation_markers() -> None:
    """Many papers split into several messages; later ones start with "(k/n)"."""
    hits = [make_hit(i, abstract="Long abstract. " * 100) for i in range(1, 13)]
    messages = render_digest(hits)
    assert len(messages) > 1
    for number, message in enumerate(messages[1:], 2):
        assert message.startswith(f"<i>({number}/{len(messages)})</i>\n\n")
    for message in messages:
        assert telegram_length(message) <= MAX_MESSAGE_LENGTH
        check_message(message)


def test_render_parts_tell_which_papers_each_message_carries() -> None:
    """Each part has the text of one digest message and the ids of its papers, in order."""
    hits = [make_hit(i, abstract="Long abstract. " * 100) for i in range(1, 8)]
    parts = render_parts(hits, heading="Digest")
    assert [part.text for part in parts] == render_digest(hits, heading="Digest")
    assert len(parts) > 1
    assert [i for part in parts for i in part.arxiv_ids] == [hit.paper.arxiv_id for hit in hits]
    for part in parts:
        assert check_message(part.text).hrefs == [
            f"https://arxiv.org/abs/{arxiv_id}" for arxiv_id in part.arxiv_ids
        ]
    assert render_parts([]) == []
    assert DigestPart("x", ("1",)).arxiv_ids == ("1",)


# --- split_blocks -----------------------------------------------------------------------------


def test_split_blocks_rejects_a_block_that_cannot_fit() -> None:
    """A block too long for any message is an error, not a broken message."""
    with pytest.raises(ValueError, match="does not fit"):
        split_blocks("<b>h</b>", ["x" * 100], 50)


def test_split_blocks_with_another_separator() -> None:
    """Lines of a long reply can be packed with a single line break between them."""
    lines = [f"line {i}" for i in range(30)]
    messages = split_blocks("", lines, 60, separator="\n")
    assert messages[0] == "\n".join(lines[: messages[0].count("\n") + 1])
    assert messages[1].startswith(f"<i>(2/{len(messages)})</i>\nline ")
    assert all(telegram_length(message) <= 60 for message in messages)
    assert [line for m in messages for line in m.split("\n") if line.startswith("line")] == lines


def test_split_blocks_without_blocks_is_the_header() -> None:
    """No blocks: just the header (or nothing without one)."""
    assert split_blocks("<b>h</b>", [], 100) == ["<b>h</b>"]
    assert split_blocks("", [], 100) == []


block_text = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc"])
    | st.sampled_from(["<", ">", "&", "\U0001f600", "\u4e2d", "\u200d", " "]),
    max_size=300,
)


@given(
    header=block_text,
    texts=st.lists(block_text, max_size=40),
    limit=st.integers(min_value=700, max_value=MAX_MESSAGE_LENGTH),
)
def test_split_blocks_packs_blocks_in_order_within_limit(
    header: str, texts: list[str], limit: int
) -> None:
    """Messages fit, keep every block once in order, are well-formed, and are as few as possible."""
    head = f"<b>{html.escape(header)}</b>"
    blocks = [f"<i>{i}</i> {html.escape(text)}" for i, text in enumerate(texts)]
    messages = split_blocks(head, blocks, limit)
    assert messages[0].startswith(head)
    groups = []
    for number, message in enumerate(messages, 1):
        assert telegram_length(message) <= limit
        assert visible_length(message) == telegram_length(message)
        parts = message.split("\n\n")
        expected_head = head if number == 1 else f"<i>({number}/{len(messages)})</i>"
        assert parts[0] == expected_head
        groups.append(parts[1:])
        assert parts[1:] or not blocks
    assert [block for group in groups for block in group] == blocks
    for previous, group in zip(messages, groups[1:], strict=False):
        # Greedy: the next message's first block would not have fitted in the previous one,
        # give or take the room reserved for the widest "(k/n)" marker (two digits each here).
        assert telegram_length(previous) + 2 + telegram_length(group[0]) > limit - 4


# --- whole digests from random papers ---------------------------------------------------------

messy_piece = st.sampled_from(
    ["", "&amp;", "\U0001f469\u200d\U0001f52c", "$\\mathcal{O}(n)$", "</b>", "a <b>b</b> & c"]
)
messy_chars = st.text(
    st.characters(codec="utf-8") | st.sampled_from("<>& \n\U0001f600\u4e2d\u6587"), max_size=30
)
messy_text = st.tuples(messy_chars, messy_piece, messy_chars).map("".join)


@st.composite
def hits_strategy(draw: st.DrawFn) -> list[Hit]:
    """Papers with random titles and abstracts of up to ~2,000 characters."""
    count = draw(st.integers(min_value=1, max_value=40))
    hits = []
    for index in range(1, count + 1):
        abstract = draw(messy_text) * draw(st.integers(0, 35))
        paper = Paper(
            arxiv_id=f"2501.{index:05d}",
            title=draw(messy_text),
            authors=tuple(draw(st.lists(messy_text, max_size=5))),
            abstract=abstract[:2000],
            categories=tuple(
                draw(st.lists(st.sampled_from(["cs.AI", "cs.CL", "q-bio"]), max_size=3))
            ),
            announce_type=draw(st.sampled_from(["new", "cross", "replace", "replace-cross"])),
            version=draw(st.integers(1, 9)),
            announced=draw(st.none() | st.dates(dt.date(2024, 1, 1), dt.date(2025, 12, 31))),
        )
        hits.append(Hit(paper, tuple(draw(st.lists(messy_text, max_size=3)))))
    return hits


# Each example draws up to 40 papers with ~2,000-character abstracts, and drawing them is slow;
# 30 examples keep the test near a second and still cover digests of one to many messages.
@settings(max_examples=30, deadline=None)
@given(hits=hits_strategy(), limit=st.sampled_from([MAX_MESSAGE_LENGTH, 2000, 900]))
def test_render_digest_messages_fit_and_keep_every_paper(hits: list[Hit], limit: int) -> None:
    """Every message fits and is well-formed; each paper appears once, in order, with header."""
    parts = render_parts(hits, heading="arXiv <digest>", limit=limit)
    messages = [part.text for part in parts]
    hrefs = []
    for number, (message, part) in enumerate(zip(messages, parts, strict=True), 1):
        assert telegram_length(message) <= limit
        checker = check_message(message)
        assert utf16_units("".join(checker.visible)) == telegram_length(message)
        assert checker.hrefs == [f"https://arxiv.org/abs/{i}" for i in part.arxiv_ids]
        hrefs += checker.hrefs
        if number > 1:
            assert message.startswith(f"<i>({number}/{len(messages)})</i>\n\n")
    assert hrefs == [hit.paper.url for hit in hits]
    numbers = [int(n) for m in messages for n in re.findall(r"^(\d+)\. <a ", m, re.MULTILINE)]
    assert numbers == list(range(1, len(hits) + 1))
    first = messages[0]
    assert first.startswith("<b>arXiv &lt;digest&gt;</b>\n")
    assert f"{len(hits)} paper" in first.split("\n")[1]
    if any(hit.paper.announced for hit in hits):
        last_day = max(hit.paper.announced for hit in hits if hit.paper.announced)
        assert str(last_day.year) in first.split("\n")[1]


# --- held parts -------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    hits=hits_strategy(),
    limit=st.sampled_from([MAX_MESSAGE_LENGTH, 2000, 900]),
    rendered=st.integers(0, 4),
    language=st.sampled_from(["en", "zh"]),
)
def test_held_parts_render_later_exactly_as_they_would_have_been(
    hits: list[Hit], limit: int, rendered: int, language: str
) -> None:
    """Parts after the first `rendered` are held without text; rendered from what they hold
    and the papers as stored, each is the text the whole digest would have had."""
    matched = [
        Hit(hit.paper, hit.keywords, tuple(Match(k, ("title",)) for k in hit.keywords[:1]))
        if index % 2
        else hit
        for index, hit in enumerate(hits)
    ]
    tr = translator(language)
    whole = render_parts(matched, limit=limit, tr=tr)
    parts = render_parts(matched, limit=limit, tr=tr, rendered=rendered)
    assert [part.arxiv_ids for part in parts] == [part.arxiv_ids for part in whole]
    papers = {hit.paper.arxiv_id: hit.paper for hit in hits}
    for number, (part, full) in enumerate(zip(parts, whole, strict=True), 1):
        if number <= max(1, rendered):  # the first, with the header, is always rendered
            assert (part.text, part.held) == (full.text, None)
            continue
        assert part.text == ""
        assert part.held is not None
        assert held_ids(part.held) == list(part.arxiv_ids)
        assert render_held(part.held, papers) == full.text


def test_a_held_part_whose_paper_grew_or_went_still_fits() -> None:
    """A paper revised since (a longer abstract) shares the message's room with the others;
    a paper pruned since is left out."""
    hits = [make_hit(i, abstract="Short abstract. " * 40) for i in range(1, 9)]
    parts = render_parts(hits, heading="Digest", rendered=1)
    held = parts[1].held
    assert held is not None
    ids = held_ids(held)
    papers = {hit.paper.arxiv_id: hit.paper for hit in hits}
    grown = dict(papers)
    for arxiv_id in ids:
        grown[arxiv_id] = dataclasses.replace(papers[arxiv_id], abstract="Much longer. " * 150)
    text = render_held(held, grown)
    assert telegram_length(text) <= MAX_MESSAGE_LENGTH
    assert check_message(text).hrefs == [f"https://arxiv.org/abs/{i}" for i in ids]
    gone = {k: v for k, v in papers.items() if k != ids[0]}
    assert check_message(render_held(held, gone)).hrefs == [
        f"https://arxiv.org/abs/{i}" for i in ids[1:]
    ]
