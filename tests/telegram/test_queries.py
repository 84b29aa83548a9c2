"""Queries beyond their grammar, answered by the real application: categories that arXiv does
not have are refused with a "did you mean", and a stored query that no longer parses is
marked in /list and logged instead of silently matching nothing."""

from __future__ import annotations

import logging

import pytest

from bot.schedule import digest_job_name
from bot.telegram.queries import unknown_categories
from tests.conftest import USER, BotUnderTest


def test_unknown_categories_are_found_wherever_they_stand() -> None:
    """Known categories in any case, prefixes of real ones, aliases and one-category
    archives pass; an unknown one is found alone, in a group, as a prefix and excluded
    (where it excludes nothing), each once, with suggestions."""
    known = ["cat:CS.lg", "cat:math.*", "cat:cs.L*", "cat:stat.TH", "cat:hep-th", "diffusion"]
    assert unknown_categories(known) == []
    found = unknown_categories(
        ["cat:cs.LGG", "a cat:(cs.CV OR cs.LGG)", "cat:zz.*", "diffusion -cat:hep-tj"]
    )
    assert [error.given for error in found] == ["cs.LGG", "zz.*", "hep-tj"]
    assert "cs.LG" in found[0].suggestions
    assert "hep-th" in found[2].suggestions


async def test_subscribe_refuses_a_category_arxiv_does_not_have(bot: BotUnderTest) -> None:
    """/subscribe cat:cs.LGG (and an unknown category inside a group or a prefix) is refused
    with a "did you mean", as /categories refuses it, and nothing is subscribed; the other
    queries of the same command are not subscribed either."""
    (reply,) = await bot.ask("/subscribe diffusion, cat:cs.LGG")
    text = reply.plain_text
    assert "cs.LGG is not an arXiv category. Did you mean cs.LG" in text
    assert "/categories list cs lists the categories of cs" in text
    assert "Nothing was changed." in text
    (grouped,) = await bot.ask("/subscribe diffusion cat:(cs.CV OR hep-tj), cat:qq.*")
    assert "hep-tj is not an arXiv category. Did you mean hep-th" in grouped.plain_text
    assert "qq.* is not an arXiv category" in grouped.plain_text
    assert await bot.services.store.subscriptions_for(USER) == []


async def test_known_categories_prefixes_and_aliases_are_accepted(bot: BotUnderTest) -> None:
    """Categories in any case, whole archives as prefixes (cat:cs.*, cat:cs.L*), archives
    of one category (cat:hep-th) and merged aliases (cat:stat.TH) are accepted."""
    queries = "cat:CS.lg, cat:cs.*, cat:cs.L* diffusion, cat:hep-th, cat:stat.TH"
    (reply,) = await bot.ask(f"/subscribe {queries}")
    assert "Subscribed to" in reply.plain_text
    assert len(await bot.services.store.subscriptions_for(USER)) == 5


async def test_latest_refuses_a_category_arxiv_does_not_have(bot: BotUnderTest) -> None:
    """/latest cat:cs.LGG says that the category does not exist, rather than that no paper
    matches it."""
    (reply,) = await bot.ask("/latest cat:cs.LGG")
    assert "cs.LGG is not an arXiv category. Did you mean cs.LG" in reply.plain_text


async def test_a_stored_query_that_no_longer_parses_is_marked_and_logged(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    """A stored query that the query language no longer accepts (stored before a rule
    change: `cat:cs` now has to be `cat:cs.*`) is marked in /list with why, and logged with
    its chat when /list, /latest, /digest or the scheduled digest meets it; the chat's other
    queries work."""
    caplog.set_level(logging.WARNING, logger="bot")
    store = bot.services.store
    await bot.ask("/start")
    await store.add_subscriptions(USER, [("diffusion", "diffusion"), ("cat:cs", "cat:cs")])
    (listing,) = await bot.ask("/list")
    lines = listing.plain_text.splitlines()
    assert lines[1] == "1. diffusion"
    assert lines[2].startswith("2. cat:cs ⚠️ I no longer understand this query")
    assert "names a whole archive" in lines[2]
    logged = f"Chat {USER} follows a query that no longer parses and matches nothing: 'cat:cs'"
    assert caplog.text.count(logged) == 1
    await bot.ask("/latest")
    before = len(await bot.settle())
    assert caplog.text.count(logged) == 2
    await bot.ask("/digest")
    digest = (await bot.settle())[before:]
    assert "arxiv.org/abs/" in digest[0].text, "the other query still brings papers"
    assert caplog.text.count(logged) == 3
    await bot.run_job(digest_job_name(USER))
    assert caplog.text.count(logged) == 4
