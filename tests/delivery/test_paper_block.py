"""Tests for bot.delivery.paper_block: a block's length computed from its pieces, and cached
rendering (the layout itself is specified in test_digest.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.delivery.digest import render_parts
from bot.delivery.paper_block import (
    clear_caches,
    format_paper,
    measured_block,
    telegram_length,
)
from bot.i18n.translate import Translator, translator
from bot.models import Hit, Match, Paper

ENGLISH, CHINESE = translator("en"), translator("zh")

# Pieces that make lengths differ from len(): astral characters, joiners, combining marks, lone
# surrogates (which clean() drops), markup characters that escaping turns into entities,
# entities that must stay text, control characters and LaTeX that becomes Unicode.
awkward = st.sampled_from(
    [
        "\U0001f600",
        "\U0001f469\u200d\U0001f52c",
        "e\u0301",
        "\u0301",
        "\ud800",
        "\udfff",
        "<",
        ">",
        "&",
        "&amp;",
        "&#39;",
        "</b>",
        '"',
        "'",
        "\u4e2d\u6587",
        " ",
        "\n",
        "\t\x00\x1f\x85",
        "$\\alpha$",
        "\\emph{x}",
        "\u2026",
    ]
)
field = st.lists(st.characters() | awkward, max_size=40).map("".join)
# Long texts repeat a piece: abstracts of up to ~2,500 characters, which need shortening.
long_field = st.tuples(field, st.integers(0, 60)).map(lambda pair: pair[0] * pair[1])
language = st.sampled_from([ENGLISH, CHINESE])


@st.composite
def papers(draw: st.DrawFn) -> Paper:
    """Papers of any announcement with awkward texts in every field."""
    return Paper(
        arxiv_id=draw(st.sampled_from(["2501.00001", "hep-th/0505137", "2501.0000<2>"])),
        title=draw(field),
        authors=tuple(draw(st.lists(field, max_size=5))),
        abstract=draw(long_field)[:2500],
        categories=tuple(
            draw(st.lists(st.sampled_from(["cs.AI", "math.ST", "", " q<"]), max_size=3))
        ),
        announce_type=draw(st.sampled_from(["new", "cross", "replace", "replace-cross", "odd<"])),
        version=draw(st.integers(1, 3)),
        withdrawn=draw(st.booleans()),
        announced=dt.date(2025, 8, 20),
    )


queries = st.lists(
    st.sampled_from(["diffusion", "a", "ti:x*", '"a b"', "au:x", "<b>", ""]) | field, max_size=3
)
field_names = st.lists(st.sampled_from(["title", "abstract", "authors", "categories"]), max_size=2)


@st.composite
def hits(draw: st.DrawFn, paper: Paper | None = None) -> Hit:
    """A hit on the paper with matches (queries and where they matched), or only keywords."""
    paper = paper or draw(papers())
    texts = draw(queries)
    if draw(st.booleans()):
        matches = tuple(Match(text, tuple(draw(field_names))) for text in texts)
        return Hit(paper, tuple(texts), matches)
    return Hit(paper, tuple(texts))


@settings(max_examples=300, deadline=None)
@given(
    hit=hits(),
    index=st.none() | st.integers(1, 120),
    max_length=st.integers(20, 4096),
    tr=language,
)
def test_block_length_is_its_telegram_length(
    hit: Hit, index: int | None, max_length: int, tr: Translator
) -> None:
    """The length added up from a block's pieces is what Telegram counts, and within the limit,
    for any texts: emoji, combining marks, markup characters, lone surrogates, long abstracts."""
    try:
        block, length = measured_block(hit, index, max_length, tr)
    except ValueError:
        return  # even the shortest form does not fit (the title is kept, shortened, with "…")
    assert length == telegram_length(block)
    assert length <= max_length
    assert format_paper(hit, index, max_length=max_length, tr=tr) == block


def block_or_error(hit: Hit, index: int | None, max_length: int, tr: Translator) -> object:
    """The block and its length, or the message of the error rendering it raises."""
    try:
        return measured_block(hit, index, max_length, tr)
    except ValueError as error:
        return str(error)


def fresh_block(hit: Hit, index: int | None, max_length: int, tr: Translator) -> object:
    """`block_or_error` from empty caches."""
    clear_caches()
    return block_or_error(hit, index, max_length, tr)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), paper=papers())
def test_cached_block_is_the_fresh_block(data: st.DataObject, paper: Paper) -> None:
    """One paper rendered for several chats in turn (their own numbers, matches, languages and
    limits) gives each chat what it would get from empty caches."""
    renders = data.draw(
        st.lists(
            st.tuples(
                hits(paper), st.none() | st.integers(1, 120), st.integers(200, 4096), language
            ),
            min_size=2,
            max_size=6,
        )
    )
    clear_caches()
    cached = [block_or_error(*render) for render in renders]
    assert cached == [fresh_block(*render) for render in renders]


def test_a_paper_loaded_again_renders_the_same() -> None:
    """An equal but distinct Paper object (the same paper loaded again) renders the same from
    the caches, its LaTeX converted and its matched title word in bold."""
    paper = Paper(
        arxiv_id="2501.00001",
        title="Diffusion $\\alpha$-models",
        authors=('J\\"org M\\"uller', "Ada Lovelace", "Alan Turing", "Grace Hopper"),
        abstract="We study $\\mathcal{O}(n)$ diffusion & <more>.",
        categories=("cs.LG", "stat.ML"),
        announce_type="replace-cross",
        version=2,
    )
    hit = Hit(paper, ("diffusion",), (Match("diffusion", ("title", "abstract")),))
    clear_caches()
    first = format_paper(hit, 1, tr=CHINESE)
    again = format_paper(dataclasses.replace(hit, paper=dataclasses.replace(paper)), 1, tr=CHINESE)
    assert again == first
    assert "<b>Diffusion</b> \u03b1-models" in first
    assert "J\u00f6rg M\u00fcller" in first


def test_digest_in_two_languages_from_warm_caches() -> None:
    """Digests of the same papers in English, then Chinese, then English again are each what
    they are from empty caches: no chat's or language's text leaks into another's."""
    day = [
        Paper(
            f"2501.{n:05d}",
            f"Paper {n} on diffusion",
            ("A", "B", "C", "D"),
            "x " * 400,
            ("cs.AI",),
            "cross",
        )
        for n in range(1, 30)
    ]
    english = [Hit(p, ("diffusion",), (Match("diffusion", ("title",)),)) for p in day]
    chinese = [Hit(p, ("paper",), (Match("paper", ("title",)),)) for p in day[::-1]]
    runs = [(english, ENGLISH), (chinese, CHINESE), (english, ENGLISH)]
    warm = [render_parts(hits_, tr=tr, limit=2000) for hits_, tr in runs]
    fresh = []
    for hits_, tr in runs:
        clear_caches()
        fresh.append(render_parts(hits_, tr=tr, limit=2000))
    assert warm == fresh
    assert warm[0] == warm[2]
    assert len(warm[0]) > 1  # the limit splits the digest: packing uses the summed lengths
