"""The engine of followed queries kept between indexing runs: queries added later are matched
as if it had been built with them."""

from __future__ import annotations

import dataclasses

from bot.index.indexing import QueryMatcher
from bot.matching.normalize import document
from tests.papers import numbered_paper


def test_a_kept_matcher_that_takes_more_queries_matches_as_one_built_with_all() -> None:
    papers = [
        dataclasses.replace(numbered_paper(1), title="Diffusion models for graphs"),
        dataclasses.replace(numbered_paper(2), title="Graph neural networks"),
        dataclasses.replace(numbered_paper(3), title="Quantum error", abstract="Codes."),
    ]
    docs = [(paper.arxiv_id, document(paper)) for paper in papers]
    first = [("diffusion", "diffusion"), ("ti:graph", "ti:graph")]
    more = [("graph", "graph"), ("quantum -diffusion", "quantum -diffusion")]
    kept = QueryMatcher(first)
    kept.match(docs)  # used before, as a kept matcher is
    kept.add(more)
    assert kept.known == {key for key, _ in first + more}
    assert sorted(kept.match(docs)) == sorted(QueryMatcher(first + more).match(docs))
    assert ("quantum -diffusion", "2508.00003", 1) in kept.match(docs)
