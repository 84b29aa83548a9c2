"""/categories and /search, as a user types them in Telegram, answered by the real application
(fake Bot API, loopback server standing in for arXiv's feeds and search API)."""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator

import pytest

from bot.arxiv.feeds import parse_feed
from tests.conftest import FIXTURES, TRUNCATED_ATOM, USER, BotUnderTest, StartBot, ids_in
from tests.fakes import FeedServer
from tests.fakes.feed_server import Answer

DAY_ONE = {paper.arxiv_id: paper for paper in parse_feed(TRUNCATED_ATOM.read_bytes()).papers}
API_PATH = "/api/query"
ELECTRON = FIXTURES / "api-2025-11-21-all_electron-10-entries.xml"
ZERO = FIXTURES / "api-2025-11-23-zero-results.xml"
ERROR_400 = FIXTURES / "api-2026-04-12-http400-error-incorrect-id.xml"
ATOM = "application/atom+xml; charset=utf-8"
OTHER_CHAT = 2002


@pytest.fixture
async def searching_bot(start_bot: StartBot, feeds: FeedServer) -> AsyncIterator[BotUnderTest]:
    """The bot with its search API pointed at the loopback server, the cs.AI feed ingested."""
    async with start_bot(arxiv_api_url=feeds.url + API_PATH) as running_bot:
        await running_bot.wait_for_papers(86)
        yield running_bot


def _text(messages: list) -> str:  # type: ignore[type-arg]
    return "\n".join(message.plain_text for message in messages)


# --- /categories ------------------------------------------------------------------------------


async def test_categories_shows_the_default_with_names(bot: BotUnderTest) -> None:
    """Without arguments /categories lists the chat's categories with arXiv's names and says
    that they are the default."""
    (reply,) = await bot.ask("/categories")
    assert "the default categories" in reply.plain_text
    assert "• cs.AI (Artificial Intelligence)" in reply.plain_text
    assert "/categories cs.LG math.ST" in reply.plain_text


async def test_categories_are_set_spelled_as_arxiv_does_and_shown(bot: BotUnderTest) -> None:
    """/categories cs.lg, MATH, stat.TH: stored in arXiv's spelling (the alias stat.TH as
    math.ST), confirmed with names, and shown as the chat's own choice afterwards."""
    (reply,) = await bot.ask("/categories cs.lg, MATH stat.TH")
    assert "Done. Your digest and /latest read your own choice of categories" in reply.plain_text
    assert "• cs.LG (Machine Learning)" in reply.plain_text
    assert "• math (Mathematics: all its categories)" in reply.plain_text
    assert "• math.ST (Statistics Theory)" in reply.plain_text
    assert "stat.TH is math.ST at arXiv" in reply.plain_text
    chat = await bot.services.store.get_chat(USER)
    assert chat is not None
    assert chat.categories == ("cs.LG", "math", "math.ST")
    (shown,) = await bot.ask("/categories")
    assert "your own choice" in shown.plain_text
    assert "/categories default goes back to the default (cs.AI)" in shown.plain_text


async def test_unknown_categories_are_refused_with_suggestions(bot: BotUnderTest) -> None:
    """One unknown category refuses the whole change, names each unknown one with a
    suggestion and a way to list the real ones; the chat keeps what it had."""
    await bot.ask("/categories cs.CV")
    (reply,) = await bot.ask("/categories cs.LG cs.ML hep-tj <b>x</b>")
    text = reply.plain_text
    assert "cs.ML is not an arXiv category. Did you mean stat.ML" in text
    assert "/categories list cs lists the categories of cs" in text
    assert "hep-tj is not an arXiv category. Did you mean hep-th" in text
    assert "<b>x</b> is not an arXiv category" in text  # shown as typed, not as markup
    assert "Nothing was changed." in text
    chat = await bot.services.store.get_chat(USER)
    assert chat is not None
    assert chat.categories == ("cs.CV",)


async def test_too_many_categories_are_refused(bot: BotUnderTest) -> None:
    """More than 20 categories at once are refused without changing anything."""
    many = " ".join(f"cs.{code}" for code in ["AI", "AR", "CC", "CE", "CG", "CL", "CR"] * 3)
    (reply,) = await bot.ask(f"/categories {many}")
    assert "at most 20" in reply.plain_text
    chat = await bot.services.store.get_chat(USER)
    assert chat is not None
    assert chat.categories is None


async def test_categories_default_goes_back(bot: BotUnderTest) -> None:
    """/categories default (or reset) returns to the configured categories."""
    await bot.ask("/categories cs.CV")
    (reply,) = await bot.ask("/categories default")
    assert (
        "Back to the default. Your digest and /latest read the default categories"
        in reply.plain_text
    )
    chat = await bot.services.store.get_chat(USER)
    assert chat is not None
    assert chat.categories is None
    await bot.ask("/categories cs.CV")
    await bot.ask("/categories RESET")
    chat = await bot.services.store.get_chat(USER)
    assert chat is not None
    assert chat.categories is None


async def test_categories_list_shows_archives_and_their_categories(bot: BotUnderTest) -> None:
    """/categories list names arXiv's archives; /categories list cs its 40 categories."""
    (archives,) = await bot.ask("/categories list")
    assert "cs Computer Science (40)" in archives.plain_text
    assert "hep-th High Energy Physics - Theory" in archives.plain_text
    (members,) = await bot.ask("/categories list CS")
    assert "cs.LG Machine Learning" in members.plain_text
    assert members.plain_text.count("\ncs.") == 40


async def test_digest_and_latest_draw_only_from_the_chats_categories(bot: BotUnderTest) -> None:
    """Two chats follow the same keyword: the one that chose cs.CV gets only papers filed
    (or cross-listed) in cs.CV, the other everything of the default cs.AI feed; /latest too."""
    for chat_id in (USER, OTHER_CHAT):
        await bot.ask("/subscribe learning", chat_id=chat_id)
    await bot.ask("/categories cs.CV", chat_id=USER)
    await bot.ask("/digest", chat_id=USER)
    mine = ids_in(await bot.press_more(USER))
    await bot.ask("/digest", chat_id=OTHER_CHAT)
    theirs = ids_in(await bot.press_more(OTHER_CHAT))
    in_cv = {i for i in theirs if "cs.CV" in DAY_ONE[i].categories}
    assert mine
    assert set(mine) == in_cv
    assert len(theirs) > len(mine)
    before = len(bot.telegram.messages_to(USER))
    await bot.ask("/latest 20", chat_id=USER)
    latest = ids_in((await bot.settle(USER))[before:])
    assert latest
    assert all("cs.CV" in DAY_ONE[i].categories for i in latest)


async def test_an_archive_covers_its_categories_in_the_digest(bot: BotUnderTest) -> None:
    """A chat that chose the archive q-fin gets the cs.AI feed's papers cross-listed in any
    q-fin category, and nothing else."""
    await bot.ask("/subscribe cat:cs.AI")
    await bot.ask("/categories q-fin")
    await bot.ask("/digest")
    shown = ids_in(await bot.press_more())
    expected = {i for i, p in DAY_ONE.items() if any(c.startswith("q-fin.") for c in p.categories)}
    assert len(expected) == 2
    assert set(shown) == expected


async def test_subscribe_preview_counts_only_the_chats_categories(bot: BotUnderTest) -> None:
    """The /subscribe preview counts papers of the last week in the chat's categories."""
    await bot.ask("/categories stat.ML")
    (reply,) = await bot.ask("/subscribe cat:cs.AI")
    assert "3 of 3 papers in the last 7 days" in reply.plain_text


# --- /search ----------------------------------------------------------------------------------


async def test_search_shows_arxivs_answer_like_latest(
    searching_bot: BotUnderTest, feeds: FeedServer
) -> None:
    """/search asks arXiv's API with the translated query, newest first, and shows the
    papers as /latest does: numbered, linked, with the total arXiv has."""
    feeds.set_response(API_PATH, ELECTRON.read_bytes(), content_type=ATOM)
    await searching_bot.ask('/search electron -"dark matter"')
    messages = await searching_bot.settle()
    text = _text(messages)
    assert 'arXiv search: electron -"dark matter" (10 newest of 175,141)' in text
    shown = ids_in(messages)
    assert len(shown) == 10
    assert "hep-th/0505137" in shown  # old-style ids work
    (request,) = feeds.requests_to(API_PATH)
    params = urllib.parse.parse_qs(request.query_string)
    assert params["search_query"] == ['all:electron ANDNOT all:"dark matter"']
    assert params["sortBy"] == ["submittedDate"]
    assert (USER, "typing") in searching_bot.telegram.chat_actions


async def test_search_is_served_from_the_cache_the_second_time(
    searching_bot: BotUnderTest, feeds: FeedServer
) -> None:
    """The same search twice (even typed differently: case of the category) costs arXiv
    one request; the second answer is the same."""
    feeds.set_response(API_PATH, ELECTRON.read_bytes(), content_type=ATOM)
    before = len(searching_bot.telegram.messages_to(USER))
    await searching_bot.ask("/search electron cat:cond-mat.STR-EL")
    first = (await searching_bot.settle())[before:]
    middle = len(searching_bot.telegram.messages_to(USER))
    await searching_bot.ask("/search electron cat:cond-mat.str-el")
    second = (await searching_bot.settle())[middle:]
    assert ids_in(first) == ids_in(second)
    assert len(ids_in(first)) == 10
    assert len(feeds.requests_to(API_PATH)) == 1


async def test_search_with_no_result_says_so(
    searching_bot: BotUnderTest, feeds: FeedServer
) -> None:
    """An answer with no entries gets a plain sentence."""
    feeds.set_response(API_PATH, ZERO.read_bytes(), content_type=ATOM)
    (reply,) = await searching_bot.ask("/search ti:Conv-Linformer")
    assert reply.plain_text == "arXiv has no paper matching ti:Conv-Linformer."


async def test_search_error_400_explains_arxivs_reason(
    searching_bot: BotUnderTest, feeds: FeedServer
) -> None:
    """arXiv's 400 answer with an error entry is shown with arXiv's own explanation."""
    feeds.set_response(API_PATH, ERROR_400.read_bytes(), status=400, content_type=ATOM)
    (reply,) = await searching_bot.ask("/search diffusion")
    assert reply.plain_text == "arXiv could not run that search: incorrect id format for abc."


async def test_search_rate_exceeded_says_to_wait(
    searching_bot: BotUnderTest, feeds: FeedServer
) -> None:
    """arXiv's plain-text 429 "Rate exceeded." (retried once, politely) becomes a message
    asking to try again in a minute; nothing is cached, so the next search asks again."""
    rate_exceeded = Answer("Rate exceeded.", status=429, content_type="text/plain")
    feeds.script(API_PATH, rate_exceeded, rate_exceeded)
    (reply,) = await searching_bot.ask("/search diffusion")
    assert reply.plain_text == "arXiv is rate-limiting us, try again in a minute."
    assert len(feeds.requests_to(API_PATH)) == 2
    feeds.set_response(API_PATH, ELECTRON.read_bytes(), content_type=ATOM)
    await searching_bot.ask("/search diffusion")
    assert len(feeds.requests_to(API_PATH)) == 3


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/search", "Usage: /search diffusion au:hinton"),
        ("/search   ", "Usage: /search diffusion au:hinton"),
        ("/search diffus*", "arXiv's search has no prefix search"),
        ("/search cat:cs.*", "arXiv's search has no wildcards"),
        ("/search cat:cs.XY", "'cs.XY' is not an arXiv category (did you mean"),
        ('/search "unclosed', "Unbalanced quote"),
        ("/search -medical", "at least one positive term"),
    ],
)
async def test_search_refuses_what_it_cannot_ask_without_asking(
    searching_bot: BotUnderTest, feeds: FeedServer, command: str, expected: str
) -> None:
    """No query, a malformed one, or one arXiv's search cannot express gets an explanation
    and no request to arXiv."""
    (reply,) = await searching_bot.ask(command)
    assert expected in reply.plain_text
    assert feeds.requests_to(API_PATH) == []


async def test_search_by_id_asks_for_those_papers(
    searching_bot: BotUnderTest, feeds: FeedServer
) -> None:
    """/search 2508.13167 hep-th/0505137 asks arXiv for those papers by id."""
    feeds.set_response(API_PATH, ELECTRON.read_bytes(), content_type=ATOM)
    await searching_bot.ask("/search 2508.13167 hep-th/0505137")
    await searching_bot.settle()
    (request,) = feeds.requests_to(API_PATH)
    params = urllib.parse.parse_qs(request.query_string)
    assert params["id_list"] == ["2508.13167,hep-th/0505137"]


async def test_unknown_category_without_a_close_spelling_points_to_the_list(
    bot: BotUnderTest,
) -> None:
    """math.XY resembles no category: no guess is offered, the way to list math's is."""
    (reply,) = await bot.ask("/categories math.XY")
    assert "Did you mean" not in reply.plain_text
    assert "/categories list math lists the categories of math" in reply.plain_text
