"""arXiv's taxonomy: which names exist, how they are spelled, what a chat's choice covers."""

from __future__ import annotations

import pytest

from bot.arxiv import categories as taxonomy
from bot.arxiv.categories import UnknownCategory, in_categories
from bot.arxiv.fetcher import CATEGORY_RE
from bot.i18n.translate import CHINESE, ENGLISH, translator
from bot.models import Paper


def test_every_current_category_is_known_with_its_name() -> None:
    """The 155 active categories of arXiv's taxonomy are there, named as arXiv names them,
    and every id is written the way feeds write them."""
    assert len(taxonomy.CATEGORIES) == 155
    assert taxonomy.CATEGORIES["cs.AI"] == "Artificial Intelligence"
    assert taxonomy.CATEGORIES["hep-th"] == "High Energy Physics - Theory"
    assert taxonomy.CATEGORIES["math.AP"] == "Analysis of PDEs"
    assert taxonomy.CATEGORIES["astro-ph.CO"] == "Cosmology and Nongalactic Astrophysics"
    assert taxonomy.CATEGORIES["cond-mat.str-el"] == "Strongly Correlated Electrons"
    assert taxonomy.CATEGORIES["q-bio.NC"] == "Neurons and Cognition"
    assert taxonomy.CATEGORIES["stat.ML"] == "Machine Learning"
    assert taxonomy.CATEGORIES["eess.SP"] == "Signal Processing"
    assert taxonomy.CATEGORIES["econ.EM"] == "Econometrics"
    assert len([c for c in taxonomy.CATEGORIES if c.startswith("q-fin.")]) == 9
    assert len(taxonomy.members("cs")) == 40
    assert all(CATEGORY_RE.match(name) for name in [*taxonomy.CATEGORIES, *taxonomy.ARCHIVES])


def test_retired_and_test_categories_are_not_offered() -> None:
    """Archives that arXiv closed in the 1990s and its test categories are unknown."""
    for name in ("chao-dyn", "alg-geom", "cmp-lg", "test.soft", "test"):
        assert taxonomy.lookup(name) is None


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("CS.ai", "cs.AI"),
        ("cs.lg", "cs.LG"),
        (" hep-TH ", "hep-th"),
        ("Cond-Mat.Str-El", "cond-mat.str-el"),
        ("MATH", "math"),
        ("physics", "physics"),
        ("q-fin.st", "q-fin.ST"),
    ],
)
def test_a_typed_name_is_spelled_as_arxiv_does(typed: str, expected: str) -> None:
    """Case and surrounding spaces do not matter; the result is arXiv's spelling."""
    assert taxonomy.validate(typed) == expected


@pytest.mark.parametrize(
    ("alias", "kept"),
    [
        ("math.MP", "math-ph"),
        ("stat.TH", "math.ST"),
        ("math.IT", "cs.IT"),
        ("q-fin.EC", "econ.GN"),
        ("cs.SY", "eess.SY"),
        ("cs.NA", "math.NA"),
    ],
)
def test_merged_aliases_become_the_category_arxiv_keeps(alias: str, kept: str) -> None:
    """arXiv merged six pairs of categories; either name is accepted and stored as one."""
    assert taxonomy.validate(alias.lower()) == kept
    assert taxonomy.validate_all([alias, kept]) == (kept,)
    assert set(taxonomy.equivalents(alias)) == set(taxonomy.equivalents(kept)) == {alias, kept}


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("cs.Al", "cs.AI"),
        ("cs.ML", "stat.ML"),
        ("hep-tj", "hep-th"),
        ("cond-mat.strel", "cond-mat.str-el"),
        ("cs.CVPR", "cs.CV"),
        ("math.XY", "math"),
        ("cs_LG", "cs.LG"),
    ],
)
def test_unknown_names_are_refused_with_suggestions(typed: str, suggested: str) -> None:
    """A name arXiv does not have is refused; the suggestions hold the likely meant one."""
    with pytest.raises(UnknownCategory) as info:
        taxonomy.validate(typed)
    assert info.value.given == typed
    assert suggested in info.value.suggestions
    assert len(info.value.suggestions) <= taxonomy.MAX_SUGGESTIONS
    assert f"{typed!r} is not an arXiv category (did you mean" in str(info.value)


def test_nonsense_gets_no_suggestion() -> None:
    """Nothing close and no archive: no made-up suggestion."""
    with pytest.raises(UnknownCategory) as info:
        taxonomy.validate("diffusion")
    assert info.value.suggestions == ()
    assert str(info.value) == "'diffusion' is not an arXiv category"


def test_unknown_name_in_an_archive_points_at_the_archive() -> None:
    """math.XY is in no category, but it is clearly about math: its archive is guessed."""
    assert taxonomy.guess_archive("math.XY") == "math"
    assert taxonomy.guess_archive("CS-foo") == "cs"
    assert taxonomy.guess_archive("zzz.AI") is None


def test_split_known_reports_every_unknown_name() -> None:
    """Known names are validated and kept in order; each unknown one is reported."""
    known, unknown = taxonomy.split_known(["cs.lg", "cs.XY", "math.st", "stat.TH", "bogus"])
    assert known == ("cs.LG", "math.ST")
    assert [error.given for error in unknown] == ["cs.XY", "bogus"]


def test_describe_names_categories_and_archives() -> None:
    """A category shows its name; an archive says that it covers all its categories."""
    assert taxonomy.describe("cs.LG") == "cs.LG (Machine Learning)"
    assert taxonomy.describe("math") == "math (Mathematics: all its categories)"
    assert taxonomy.name_of("nope") == ""


def test_names_are_said_in_the_language_of_a_translator() -> None:
    """name_of and describe say arXiv's names through the chat's translator (the codes as
    they are); an unknown code has no name in any language, never the catalog's header."""
    chinese = translator(CHINESE)
    assert taxonomy.name_of("cs.LG", chinese) == "机器学习"
    assert taxonomy.describe("cs.LG", chinese) == "cs.LG（机器学习）"
    assert taxonomy.describe("math", chinese) == "math（数学：所有分类）"
    assert taxonomy.describe("math", translator(ENGLISH)) == taxonomy.describe("math")
    assert taxonomy.name_of("nope", chinese) == ""
    assert taxonomy.describe("nope", chinese) == "nope"


@pytest.mark.parametrize(
    ("chosen", "paper", "inside"),
    [
        (["cs.AI"], ["cs.AI"], True),
        (["cs.AI"], ["cs.LG", "cs.AI"], True),  # a cross-list counts
        (["cs.AI"], ["cs.LG", "stat.ML"], False),
        (["math"], ["math.AP"], True),  # an archive covers its categories
        (["math"], ["math-ph"], True),  # math-ph is also math.MP
        (["math"], ["hep-th", "quant-ph"], False),
        (["math.ST"], ["stat.TH"], True),  # merged aliases are one category
        (["eess.SY"], ["cs.SY"], True),
        (["cs"], ["math.NA"], True),  # math.NA is also cs.NA
        (["physics"], ["hep-th"], False),
        (["hep-th"], ["hep-th", "gr-qc"], True),
        (["cs.AI"], [], False),
    ],
)
def test_covers_decides_whether_a_paper_is_in_a_chats_categories(
    chosen: list[str], paper: list[str], inside: bool
) -> None:
    """A paper is in a chat's categories when any of its categories (primary or cross-list)
    is one of them, its merged alias, or in an archive the chat chose."""
    assert taxonomy.covers(chosen, paper) is inside


def test_close_matches_are_spellings_only() -> None:
    """close_matches offers names spelled alike, never a mere list of an archive's members."""
    assert taxonomy.close_matches("hep-tj")[0] == "hep-th"
    assert taxonomy.close_matches("cs.ML")[0] == "stat.ML"
    assert taxonomy.close_matches("math.XY") == []
    assert taxonomy.suggestions("math.XY")[:2] == ["math", "math.AC"]


def test_in_categories_keeps_papers_of_the_chosen_categories() -> None:
    """A paper counts when any of its categories (cross-lists too) is chosen, is a merged
    alias of a chosen one, or is in a chosen archive; the order is kept."""
    papers = [
        Paper("1", "a", (), "x", ("cs.LG", "stat.ML")),
        Paper("2", "b", (), "x", ("math.AP",)),
        Paper("3", "c", (), "x", ("stat.TH",)),
        Paper("4", "d", (), "x", ("hep-th",)),
    ]
    ids = [paper.arxiv_id for paper in in_categories(papers, ["stat.ML", "math"])]
    assert ids == ["1", "2", "3"]  # stat.TH is math.ST, a category of math
    assert [p.arxiv_id for p in in_categories(papers, ["hep-th"])] == ["4"]
    assert in_categories(papers, ["cs.CV"]) == []
