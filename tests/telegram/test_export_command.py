"""/export as a user sends it to the real application through the fake Bot API."""

from __future__ import annotations

import dataclasses
import datetime as dt

from tests.conftest import USER, BotUnderTest, StartBot
from tests.excerpt import OTHERS, excerpt_papers, paper
from tests.fakes import BOT_USERNAME

EXCERPT_PAPERS = excerpt_papers()


# --- /export through the fake Bot API ---------------------------------------------------------


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


async def _prepared(running: BotUnderTest) -> None:
    """The chat follows "diffusion" in cs.CV; the store holds the excerpt's papers announced
    today and two days ago, one of ten days ago, and papers /export must leave out."""
    await running.ask("/categories cs.CV")
    await running.ask("/subscribe diffusion")
    today = _today()
    recent_one, recent_two = (
        dataclasses.replace(EXCERPT_PAPERS[0], announced=today),
        dataclasses.replace(EXCERPT_PAPERS[1], announced=today - dt.timedelta(days=2)),
    )
    await running.services.store.add_papers(
        [
            recent_one,
            recent_two,
            paper("2403.09001", title="Older diffusion", announced=today - dt.timedelta(days=10)),
            paper(
                "2403.09002",
                title="Diffusion in physics",
                categories=("physics.flu-dyn",),
                announced=today,
            ),
            paper("2403.09003", title="Gone diffusion", withdrawn=True, announced=today),
            dataclasses.replace(OTHERS[0], announced=today),
        ]
    )
    # One of them was delivered already: the export carries it all the same.
    await running.services.store.mark_delivered(USER, [recent_one.arxiv_id])


async def test_export_sends_the_matching_papers_of_the_last_7_days_as_markdown(
    start_bot: StartBot,
) -> None:
    """/export: one .md document named by the period, with the chat's matching papers in its
    categories (delivered or not), newest first; others, older, withdrawn ones left out."""
    async with start_bot() as running:
        await _prepared(running)
        running.telegram.user_sends(USER, "/export")
        (document,) = await running.telegram.wait_for_documents(USER, 1)
    today = _today()
    first = today - dt.timedelta(days=6)
    assert document.file_name == f"arxiv-digest-{first}--{today}.md"
    assert document.caption == f"2 papers, {first} to {today}"
    lines = document.content.decode("utf-8").splitlines()
    assert lines[0] == f"# {first}--{today} diffusion: paper overview"
    titles = [line for line in lines if line.startswith("## ")]
    assert titles == [
        "## VideoElevator: Elevating Video Generation Quality with Versatile Text-to-Image "
        "Diffusion Models",
        "## StereoDiffusion: Training-Free Stereo Image Generation Using Latent Diffusion Models",
    ]
    assert lines[2] == f"  * {today}"
    assert lines[4] == (
        " * link:[https://arxiv.org/abs/2403.05438](https://arxiv.org/abs/2403.05438)"
    )
    assert running.telegram.violations == []


async def test_export_days_widen_the_period_and_chinese_users_get_chinese_headings(
    start_bot: StartBot,
) -> None:
    """/export 30 in a chat that speaks Chinese (/lang zh): the paper of ten days ago too,
    and the heading and caption in Chinese."""
    async with start_bot() as running:
        await _prepared(running)
        await running.ask("/lang zh")
        running.telegram.user_sends(USER, "/export 30")
        (document,) = await running.telegram.wait_for_documents(USER, 1)
    today = _today()
    first = today - dt.timedelta(days=29)
    text = document.content.decode("utf-8")
    assert text.splitlines()[0] == f"# {first}--{today} diffusion 论文概览"
    assert document.caption == f"3 篇论文，{first} 至 {today}"
    assert text.count("\n## ") == 3
    assert "## Older diffusion" in text


async def test_bad_days_are_refused_with_the_usage_and_no_file(start_bot: StartBot) -> None:
    """0, 91, -3, a word or two numbers: the usage (1 to 90 days) and nothing sent."""
    async with start_bot() as running:
        await _prepared(running)
        for bad in ("0", "91", "-3", "week", "7 8"):
            (answer,) = await running.ask(f"/export {bad}")
            assert "1 to 90 days" in answer.plain_text
    assert running.telegram.documents == []


async def test_export_without_keywords_or_matches_says_so(start_bot: StartBot) -> None:
    """No keywords: how to subscribe; keywords but no paper in the period: that, no file."""
    async with start_bot() as running:
        (answer,) = await running.ask("/export")
        assert "You follow no keywords yet" in answer.plain_text
        await running.ask("/subscribe quantum chromodynamics")
        (answer,) = await running.ask("/export 3")
    today = _today()
    first = today - dt.timedelta(days=2)
    assert answer.plain_text == (
        f"No paper announced from {first} to {today} matches your keywords."
    )
    assert running.telegram.documents == []


async def test_export_goes_to_the_forum_topic_it_was_asked_in(start_bot: StartBot) -> None:
    """Asked in a forum topic, the file is posted in that topic."""
    group = -100123
    async with start_bot() as running:
        store = running.services.store
        # Set up in the store: who may change a group's keywords is not this test's business.
        await store.ensure_chat(group, dt.time(8, 0), "UTC")
        await store.set_categories(group, ["cs.CV"])
        await store.add_subscriptions(group, [("diffusion", "diffusion")])
        await store.add_papers([dataclasses.replace(EXCERPT_PAPERS[0], announced=_today())])
        running.telegram.user_sends(
            group, f"/export@{BOT_USERNAME}", chat_type="supergroup", message_thread_id=77
        )
        (document,) = await running.telegram.wait_for_documents(group, 1)
    assert document.message_thread_id == 77
    assert "## VideoElevator" in document.content.decode("utf-8")
    assert document.caption == f"1 paper, {_today() - dt.timedelta(days=6)} to {_today()}"
