"""Commands, as a user types them in Telegram, answered by the real application."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.arxiv.feeds import parse_feed
from bot.i18n import texts
from bot.models import Paper
from tests.conftest import TRUNCATED_ATOM, USER, BotUnderTest, ids_in, mentions

DAY_ONE = parse_feed(TRUNCATED_ATOM.read_bytes()).papers


async def test_start_welcomes_and_menu_is_registered(bot: BotUnderTest) -> None:
    """/start explains how to begin; the command menu lists every command."""
    (reply,) = await bot.ask("/start")
    assert "/subscribe diffusion" in reply.plain_text
    assert "08:00 (UTC)" in reply.plain_text
    menu = [c["command"] for c in bot.telegram.commands_for()]
    assert menu == [name for name, _ in texts.COMMANDS]


async def test_help_lists_commands(bot: BotUnderTest) -> None:
    """/help names every command."""
    (reply,) = await bot.ask("/help")
    for name, _ in texts.COMMANDS:
        if name != "start":
            assert f"/{name}" in reply.plain_text


async def test_subscribe_several_list_and_unsubscribe(bot: BotUnderTest) -> None:
    """Comma-separated keywords and quoted phrases are followed, listed and removed."""
    (reply,) = await bot.ask('/subscribe diffusion, "large language model", GAN')
    assert 'Subscribed to diffusion, "large language model", GAN' in reply.plain_text
    (reply,) = await bot.ask("/subscribe Diffusion")
    assert "Already following Diffusion" in reply.plain_text
    (listing,) = await bot.ask("/list")
    assert '1. diffusion\n2. "large language model"\n3. GAN' in listing.plain_text
    (reply,) = await bot.ask("/unsubscribe gan")
    assert "Unsubscribed from gan" in reply.plain_text
    (reply,) = await bot.ask("/unsubscribe all")
    assert "Removed all your keywords (2)" in reply.plain_text
    assert await bot.services.store.subscriptions_for(USER) == []


async def test_commands_addressed_to_the_bot_by_name_work(bot: BotUnderTest) -> None:
    """/subscribe@BotName behaves like /subscribe."""
    await bot.ask(f"/subscribe@{bot.app.bot.username} diffusion")
    assert await bot.services.store.subscriptions_for(USER) == ["diffusion"]


async def test_latest_default_shows_five_newest_matches(bot: BotUnderTest) -> None:
    """/latest shows the 5 newest stored papers matching the subscriptions, not marked sent."""
    await bot.ask("/subscribe agent, agents, agentic")
    await bot.ask("/latest")
    shown = ids_in(await bot.settle())
    assert len(shown) == 5
    keywords = ("agent", "agents", "agentic")
    assert all(any(mentions(k, _paper(i)) for k in keywords) for i in shown)
    assert await bot.services.store.delivered_ids(USER) == set()


async def test_latest_n_is_capped_and_validated(bot: BotUnderTest) -> None:
    """/latest 3 shows three; /latest 50 shows at most 20 and says so; /latest 0 gets usage."""
    await bot.ask("/subscribe learning")
    await bot.ask("/latest 3")
    assert len(ids_in(await bot.settle())) == 3
    before = len(bot.telegram.messages_to(USER))
    await bot.ask("/latest 50")
    replies = (await bot.settle())[before:]
    assert "at most 20" in replies[0].plain_text
    assert len(ids_in(replies)) == 20
    (usage,) = await bot.ask("/latest 0")
    assert "Usage" in usage.plain_text


async def test_latest_query_searches_without_subscribing(bot: BotUnderTest) -> None:
    """/latest <query> answers ad hoc and leaves the subscriptions alone."""
    await bot.ask('/latest "reinforcement learning"')
    shown = ids_in(await bot.settle())
    assert len(shown) == 5
    assert all(mentions("reinforcement learning", _paper(i)) for i in shown)
    assert await bot.services.store.subscriptions_for(USER) == []


async def test_latest_and_digest_without_subscriptions_explain_what_to_do(
    bot: BotUnderTest,
) -> None:
    """With no keywords, /latest and /digest point to /subscribe."""
    (reply,) = await bot.ask("/latest")
    assert "/subscribe diffusion" in reply.plain_text
    (reply,) = await bot.ask("/digest")
    assert "/subscribe diffusion" in reply.plain_text


async def test_latest_with_no_match_says_so(bot: BotUnderTest) -> None:
    """A query nothing matches gets a plain answer, not silence."""
    (reply,) = await bot.ask("/latest zebrafish")
    assert "No stored paper matches zebrafish" in reply.plain_text


BAD_INPUTS = [
    ("/subscribe", "Usage"),
    ("/subscribe    ", "Usage"),
    ("/subscribe \u200b\u200b", "at least one keyword"),
    ("/subscribe , ,", "empty"),
    ("/subscribe " + "a" * 301, "300"),
    ('/subscribe "unclosed', "quote"),
    ("/subscribe !!!", "letter"),
    ("/unsubscribe", "Usage"),
    ("/unsubscribe zebrafish", "not following"),
    ("/latest -3", "Usage"),
    ("/time", "HH:MM"),
    ("/time 25:61", "HH:MM"),
    ("/time 8 am", "HH:MM"),
    ("/timezone", "Europe/Berlin"),
    ("/timezone Mars/Olympus_Mons", "unknown time zone"),
    ("/timezone ../../etc/passwd", "Europe/Berlin"),
    ("/frobnicate", "don't know the command /frobnicate"),
    ("/frob&amp;&lt;x", "don't know the command /frob&amp;&lt;x"),
    ("hello there", "commands only"),
]


@pytest.mark.parametrize(("text", "answer"), BAD_INPUTS)
async def test_bad_input_gets_an_answer_and_loses_nothing(
    bot: BotUnderTest, text: str, answer: str
) -> None:
    """Every malformed command is answered clearly and the subscriptions stay intact."""
    await bot.ask('/subscribe diffusion, "flow matching"')
    (reply,) = await bot.ask(text)
    assert answer.lower() in reply.plain_text.lower()
    assert await bot.services.store.subscriptions_for(USER) == ["diffusion", '"flow matching"']
    assert bot.telegram.violations == []


async def test_html_and_sql_in_arguments_are_harmless(bot: BotUnderTest) -> None:
    """Markup is echoed escaped (Telegram accepts the reply); SQL is stored as plain text."""
    (reply,) = await bot.ask("/subscribe <b>bold</b> <script>")
    assert "<b>bold</b> <script>" in reply.plain_text
    evil = "Robert'; DROP TABLE subscriptions; SELECT"
    await bot.ask(f"/subscribe {evil}")
    assert await bot.services.store.subscriptions_for(USER) == ["<b>bold</b> <script>", evil]
    (listing,) = await bot.ask("/list")
    assert evil in listing.plain_text
    assert bot.telegram.violations == []


async def test_subscription_limit_is_enforced_without_losing_any(bot: BotUnderTest) -> None:
    """The 51st keyword is refused with the reason; the 50 stay."""
    fifty = ", ".join(f"topic{n}" for n in range(50))
    await bot.ask(f"/subscribe {fifty}")
    await bot.settle()
    (reply,) = await bot.ask("/subscribe one more")
    assert "limit of 50" in reply.plain_text
    assert len(await bot.services.store.subscriptions_for(USER)) == 50


async def test_long_list_is_split_within_telegrams_limit(bot: BotUnderTest) -> None:
    """Fifty 100-character keywords are listed in several messages Telegram accepts."""
    keywords = [f"k{n:02d}" + "x" * 97 for n in range(50)]
    for start in range(0, 50, 10):
        await bot.ask("/subscribe " + ", ".join(keywords[start : start + 10]))
        await bot.settle()
    await bot.ask("/list")
    listing = (await bot.settle())[-2:]
    assert all(k in "".join(m.plain_text for m in listing) for k in keywords)
    assert bot.telegram.violations == []


async def test_time_and_timezone_are_confirmed(bot: BotUnderTest) -> None:
    """/time and /timezone answer with the new schedule and /list shows it."""
    (reply,) = await bot.ask("/time 6:30")
    assert "06:30 (UTC)" in reply.plain_text
    (reply,) = await bot.ask("/timezone America/New_York")
    assert "06:30 (America/New_York)" in reply.plain_text
    (listing,) = await bot.ask("/list")
    assert "06:30 (America/New_York)" in listing.plain_text


def _paper(arxiv_id: str) -> Paper:
    return next(p for p in DAY_ONE if p.arxiv_id == arxiv_id)


async def test_settings_buttons_toggle_announcement_kinds(bot: BotUnderTest) -> None:
    """/settings shows three toggles of announcement kinds and the switch for a line when
    nothing matched (off); a press flips one, redraws the buttons, and persists."""
    (menu,) = await bot.ask("/settings")
    kinds = ["settings:new", "settings:cross", "settings:revisions"]
    assert menu.callback_data == [*kinds, "settings:nomatch"]
    labels = [button["text"] for button in menu.buttons]
    assert labels == [
        "✅ New papers",
        "✅ Cross-lists",
        "⬜ Revisions",
        "⬜ Tell me when nothing matched",
    ]
    bot.telegram.press_button(USER, menu.message_id, "settings:revisions")
    await bot.telegram.wait_for_call("editMessageReplyMarkup")
    redrawn = bot.telegram.messages_to(USER)[-1]
    assert [button["text"] for button in redrawn.buttons][2] == "✅ Revisions"
    chat = await bot.services.store.get_chat(USER)
    assert chat is not None
    assert chat.want_revisions
    assert bot.telegram.callback_answers
    assert all(len(data.encode()) <= 64 for data in menu.callback_data)


async def test_subscribe_previews_the_last_week(bot: BotUnderTest) -> None:
    """The reply to /subscribe says how many stored papers match, with up to three titles."""
    expected = [p for p in DAY_ONE if mentions("diffusion", p)]
    (reply,) = await bot.ask("/subscribe diffusion")
    assert f"diffusion: {len(expected)} of 86 papers in the last 7 days, e.g." in reply.plain_text
    assert reply.plain_text.count("• ") == min(3, len(expected))
    (reply,) = await bot.ask("/subscribe zebrafish")
    assert "zebrafish: no paper of the last 7 days matches" in reply.plain_text


QUERY_EXAMPLES = [
    # (query, oracle over the real feed)
    ("diffusion -medical", lambda p: mentions("diffusion", p) and not mentions("medical", p)),
    (
        'cat:cs.CV (diffusion OR "flow matching")',
        lambda p: (
            "cs.CV" in p.categories and (mentions("diffusion", p) or mentions("flow matching", p))
        ),
    ),
    (
        '"large language model" OR agentic',
        lambda p: mentions("large language model", p) or mentions("agentic", p),
    ),
]


@pytest.mark.parametrize(("query", "oracle"), QUERY_EXAMPLES)
async def test_query_language_examples_in_telegram(
    bot: BotUnderTest, query: str, oracle: Callable[[Paper], bool]
) -> None:
    """The issue's query examples answer /latest with exactly the papers a researcher expects."""
    expected = {p.arxiv_id for p in DAY_ONE if oracle(p)}
    await bot.ask(f"/subscribe {query}")
    await bot.ask("/digest")
    shown = set(ids_in(await bot.press_more()))
    assert shown == expected
    assert bot.telegram.violations == []


async def test_author_query_folds_tex_accents(bot: BotUnderTest) -> None:
    """au:pizurica and au:Pižurica both find the paper whose feed spells Pi\\v{z}urica."""
    for query in ("au:pizurica", "au:Pi\u017eurica"):
        await bot.ask(f"/latest {query}")
        assert ids_in(await bot.settle())[-1:] == ["2508.13177"]
    shown = (await bot.settle())[-1]
    assert "Nikola Pi\u017eurica" in shown.plain_text


async def test_why_it_matched_and_bold_title_words(bot: BotUnderTest) -> None:
    """Each paper says which query matched where, with the matched title words in bold."""
    await bot.ask("/subscribe diffusion")
    await bot.ask("/digest")
    digest = await bot.press_more()
    assert "matched: diffusion — title" in "".join(m.plain_text for m in digest)
    assert "<b>Diffusion</b>" in "".join(m.text for m in digest)


@pytest.mark.parametrize(
    ("query", "answer"),
    [
        ('"unclosed phrase', "never closed"),
        ("(diffusion OR gan", "parenthes"),
        ("diffusion OR", "OR"),
        ("foo:bar", "field"),
        ("diffusion -diffusion", "never match"),
        ("-diffusion", "positive"),
        ("x" * 10_000, "300"),
        (" OR ".join(f"w{n}" for n in range(500)), "300"),
        (" OR ".join(f"w{n}" for n in range(35)), "too many terms"),
        ("(" * 5_000 + "a" + ")" * 5_000, "300"),
    ],
)
async def test_malformed_queries_are_refused_clearly(
    bot: BotUnderTest, query: str, answer: str
) -> None:
    """A malformed, huge or hopeless query gets a clear refusal at once; nothing changes."""
    await bot.ask("/subscribe diffusion")
    (reply,) = await bot.ask(f"/subscribe {query}")
    assert answer.lower() in reply.plain_text.lower()
    assert await bot.services.store.subscriptions_for(USER) == ["diffusion"]
    (reply,) = await bot.ask(f"/latest {query}")
    assert answer.lower() in reply.plain_text.lower()
