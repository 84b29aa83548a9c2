"""/id, as users type it in Telegram, answered by the real application through the fake Bot
API: the ids an operator needs for ADMIN_IDS, in a private chat, a group, a forum topic and
from an anonymous group admin. (/start, /help and the rest of bot/telegram/basics.py are
driven by tests/test_app.py and tests/telegram/test_bad_input.py.)"""

from __future__ import annotations

from tests.conftest import USER, BotUnderTest

GROUP = -1005001  # a supergroup
MEMBER = 502


async def test_id_in_a_private_chat_gives_the_user_id(bot: BotUnderTest) -> None:
    """In a private chat /id answers with the user's id, ready to copy, and says where an
    operator puts it; no second "chat id" line repeats the same number."""
    (reply,) = await bot.ask("/id")
    assert f"Your Telegram user id: {USER}" in reply.plain_text
    assert f"<code>{USER}</code>" in reply.text
    assert "ADMIN_IDS" in reply.plain_text
    assert "This chat's id" not in reply.plain_text


async def test_id_in_a_group_gives_the_member_and_the_group(bot: BotUnderTest) -> None:
    """In a group any member may ask: the answer holds their own id and the group's."""
    (reply,) = await bot.ask("/id", chat_id=GROUP, chat_type="supergroup", user_id=MEMBER)
    assert f"Your Telegram user id: {MEMBER}" in reply.plain_text
    assert f"This chat's id: {GROUP}" in reply.plain_text
    assert "topic" not in reply.plain_text


async def test_id_in_a_forum_topic_gives_the_topic_too(bot: BotUnderTest) -> None:
    """Asked in a forum topic, /id also names the topic, and the answer goes to that topic."""
    (reply,) = await bot.ask(
        "/id", chat_id=GROUP, chat_type="supergroup", user_id=MEMBER, message_thread_id=7
    )
    assert "This topic's id: 7" in reply.plain_text
    assert reply.message_thread_id == 7


async def test_id_from_an_anonymous_admin_says_what_telegram_hides(bot: BotUnderTest) -> None:
    """An admin writing as the group has no user id the bot can see: the answer says so and
    how to get it, and never shows the id of Telegram's stand-in account as theirs."""
    (reply,) = await bot.ask(
        "/id", chat_id=GROUP, chat_type="supergroup", user_id=MEMBER, as_group=True
    )
    assert "Your Telegram user id" not in reply.plain_text
    assert "send /id to me in a private chat" in reply.plain_text
    assert f"This chat's id: {GROUP}" in reply.plain_text


async def test_id_answers_in_chinese(bot: BotUnderTest) -> None:
    """A chat that speaks Chinese gets the same ids in Chinese."""
    await bot.ask("/lang zh")
    (reply,) = await bot.ask("/id")
    assert f"Telegram 用户 ID：{USER}" in reply.plain_text
    assert "ADMIN_IDS" in reply.plain_text
