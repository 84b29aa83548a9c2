"""/digest when there is nothing to send, and the /settings switch for a line on days that
matched nothing, as a user meets them in Telegram (the real application, the fake Bot API,
the day set on the services' clock)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from bot import services as services_mod
from bot.arxiv.calendar import ARXIV_TZ
from bot.i18n.translate import translator
from bot.models import Chat
from bot.schedule import digest_job_name
from bot.telegram.digests import why_nothing
from tests.conftest import USER, BotUnderTest

WEDNESDAY = dt.datetime(2025, 8, 20, 14, 0, tzinfo=dt.UTC)  # the day of the stored feed


def set_clock(bot: BotUnderTest, moment: dt.datetime) -> None:
    """From now on the bot's digests and /digest go by `moment`."""
    services_mod.attach(bot.app.bot_data, dataclasses.replace(bot.services, clock=lambda: moment))


async def follow_nothing(bot: BotUnderTest) -> None:
    """The user, in Berlin, follows a keyword no stored paper matches."""
    await bot.ask("/timezone Europe/Berlin")
    await bot.ask("/subscribe zebra crossing")


async def test_digest_on_a_saturday_says_arxiv_announces_nothing_and_when_next(
    bot: BotUnderTest,
) -> None:
    """/digest on a Saturday says that arXiv makes no announcement that day and when its next
    one (Monday's, rebuilt at midnight in New York and polled ten minutes later) reaches the
    bot, in the chat's time zone and language."""
    await follow_nothing(bot)
    set_clock(bot, dt.datetime(2025, 8, 23, 10, 0, tzinfo=dt.UTC))
    (answer,) = await bot.ask("/digest")
    assert answer.plain_text == (
        "Nothing new today: arXiv makes no announcement on Sat 23 Aug (none on weekends and "
        "arXiv holidays, by New York's calendar). The next one reaches me on Mon 25 Aug at "
        "06:10 (Europe/Berlin)."
    )
    await bot.ask("/lang zh")
    (chinese,) = await bot.ask("/digest")
    assert chinese.plain_text.startswith("今天没有新论文：arXiv 在8月23日周六不发布公告")
    assert chinese.plain_text.endswith(
        "下一次公告将于8月25日周一 06:10（Europe/Berlin）到达我这里。"
    )


async def test_digest_on_an_announcement_day_with_nothing_matched_says_so(
    bot: BotUnderTest,
) -> None:
    """/digest on an announcement day with nothing for the chat says that nothing in that
    day's announcement matched, and when the next one comes; without keywords it still
    says how to follow one."""
    (hint,) = await bot.ask("/digest")
    assert "/subscribe diffusion" in hint.plain_text
    await follow_nothing(bot)
    set_clock(bot, WEDNESDAY)
    (answer,) = await bot.ask("/digest")
    assert answer.plain_text == (
        "Nothing new for you: no paper in arXiv's announcement of Wed 20 Aug matched your "
        "keywords, and you have received every earlier match. The next announcement reaches "
        "me on Thu 21 Aug at 06:10 (Europe/Berlin)."
    )


async def test_the_nothing_matched_switch_sends_one_line_a_day_when_on(bot: BotUnderTest) -> None:
    """The switch is off by default; pressed, it turns on (and stays on). Then a daily run
    that finds nothing on an announcement day sends one line, and only once that day; the
    next announcement day another; the weekend none."""
    await follow_nothing(bot)
    job = digest_job_name(USER)
    set_clock(bot, WEDNESDAY - dt.timedelta(days=1))
    before = len(await bot.settle())
    await bot.run_job(job)  # Tuesday, the switch off: nothing
    assert len(await bot.settle()) == before

    (menu,) = await bot.ask("/settings")
    assert "one line on announcement days" in menu.plain_text
    assert menu.buttons[3]["text"] == "⬜ Tell me when nothing matched"
    bot.telegram.press_button(USER, menu.message_id, "settings:nomatch")
    await bot.telegram.wait_for_call("editMessageReplyMarkup")
    redrawn = bot.telegram.messages_to(USER)[-1]
    assert redrawn.buttons[3]["text"] == "✅ Tell me when nothing matched"
    chat = await bot.services.store.get_chat(USER)
    assert chat is not None
    assert chat.tell_no_match

    lines = []
    for days, hour in ((0, 14), (0, 20), (1, 14), (2, 14), (3, 14), (4, 14)):  # Wed to Sun
        set_clock(bot, WEDNESDAY + dt.timedelta(days=days, hours=hour - 14))
        before = len(await bot.settle())
        await bot.run_job(job)
        lines += [message.plain_text for message in (await bot.settle())[before:]]
    assert lines == [
        f"Nothing in arXiv's announcement of {day} matched your keywords."
        for day in ("Wed 20 Aug", "Thu 21 Aug", "Fri 22 Aug")
    ]


def test_why_nothing_before_the_days_feed_and_after_a_holiday() -> None:
    """Just after midnight in New York, before the poll, the latest announcement in is the
    previous one, and the next reaches the bot ten minutes after midnight (05:10 in Berlin,
    still on winter time); the Friday after Thanksgiving has no announcement, and Monday's
    comes at 13:10 in Shanghai."""
    berlin = Chat(1, dt.time(8), "Europe/Berlin")
    just_after = dt.datetime(2024, 3, 11, 0, 5, tzinfo=ARXIV_TZ)
    text = why_nothing(berlin, translator("en"), just_after, dt.date(2024, 3, 10), 10)
    assert "announcement of Fri 8 Mar matched" in text
    assert text.endswith("reaches me on Mon 11 Mar at 05:10 (Europe/Berlin).")
    shanghai = Chat(2, dt.time(8), "Asia/Shanghai")
    friday = dt.datetime(2024, 11, 29, 9, 0, tzinfo=ARXIV_TZ)
    text = why_nothing(shanghai, translator("zh"), friday, dt.date(2024, 11, 29), 10)
    assert text.startswith("今天没有新论文：arXiv 在11月29日周五不发布公告")
    assert text.endswith("下一次公告将于12月2日周一 13:10（Asia/Shanghai）到达我这里。")
