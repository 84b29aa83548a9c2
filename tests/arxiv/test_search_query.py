"""/search queries: the bot's query language said in arXiv's search syntax, or refused."""

from __future__ import annotations

import pytest

from bot.arxiv.api import build_search_query, search_url
from bot.arxiv.search_query import is_id_list, to_arxiv_query
from bot.matching.query import QueryError


@pytest.mark.parametrize(
    ("typed", "api"),
    [
        ("diffusion", "all:diffusion"),
        ("diffusion models", "all:diffusion AND all:models"),
        ('"flow matching" au:hinton', 'all:"flow matching" AND au:hinton'),
        ("ti:GAN abs:medical", "ti:GAN AND abs:medical"),
        ("title:x author:y abstract:z", "ti:x AND au:y AND abs:z"),
        ("diffusion -medical", "all:diffusion ANDNOT all:medical"),
        ("diffusion NOT au:smith", "all:diffusion ANDNOT au:smith"),
        ("a b -c -d", "(all:a AND all:b) ANDNOT all:c ANDNOT all:d"),
        ("gan | vae", "all:gan OR all:vae"),
        ("ti:(gan OR vae) -video", "(ti:gan OR ti:vae) ANDNOT all:video"),
        (
            'cat:CS.cv (diffusion OR "flow matching")',
            'cat:cs.CV AND (all:diffusion OR all:"flow matching")',
        ),
        ("(a OR b) (c OR d)", "(all:a OR all:b) AND (all:c OR all:d)"),
        ("cat:cs.sy control", "cat:cs.SY AND all:control"),
        ('au:J\\"org', "au:Jörg"),
        ("au:Pi\\v{z}urica", "au:Pižurica"),
        ("\u201cflow matching\u201d", 'all:"flow matching"'),
        ("Schrödinger", "all:Schrödinger"),
    ],
)
def test_what_maps_is_translated(typed: str, api: str) -> None:
    """Words, phrases, fields, AND/OR/NOT and parentheses become arXiv's syntax, which
    build_search_query then reads unchanged."""
    assert to_arxiv_query(typed) == api
    assert build_search_query(to_arxiv_query(typed)) == api


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("diffus*", "arXiv's search has no prefix search: instead of diffus*"),
        ("cat:cs.*", "arXiv's search has no wildcards: instead of cat:cs.*"),
        ("cat:cs.XY", "'cs.XY' is not an arXiv category (did you mean cs.SY"),
        ("cat:cs", "names a whole archive"),
        ("x AND (y OR -z)", "“-z” is an alternative of its own"),
        ("-medical", "at least one positive term"),
        ('"open', "Unbalanced quote"),
        ("", "The query is empty"),
    ],
)
def test_what_does_not_map_is_refused_with_the_reason(typed: str, message: str) -> None:
    """Prefixes, unknown categories and a lone NOT are refused, saying why, rather than
    sent to arXiv as something else."""
    with pytest.raises(QueryError) as info:
        to_arxiv_query(typed)
    assert message in info.value.message


def test_a_list_of_ids_is_passed_on_as_an_id_lookup() -> None:
    """Only arXiv ids (new or old style, with versions or links): asked for by id."""
    assert is_id_list("2508.13167, hep-th/0505137v2 arXiv:2401.00001")
    assert not is_id_list("2508.13167 diffusion")
    assert not is_id_list("   ")
    query = to_arxiv_query(" 2508.13167 hep-th/0505137v2 ")
    assert "id_list=2508.13167,hep-th/0505137v2" in search_url(query)
