"""Groups, forum topics and channels, as users use them in Telegram, answered by the real
application through the fake Bot API: who may change a group's keywords, which topic the
digests go to, and a channel linked from a private chat."""

from __future__ import annotations

import logging

import pytest

from bot.i18n import texts
from bot.telegram.groups import AdminCache, changes_settings, channel_reference, parse_command
from tests.conftest import USER, BotUnderTest, StartBot, ids_in
from tests.fakes import BOT_USERNAME, FakeBotAPI, SentMessage

GROUP = -1005001  # a supergroup
ADMIN, MEMBER = 501, 502
CHANNEL = -1009001
CHANNEL_NAME = "arxiv_lab"


def _text(messages: list[SentMessage]) -> str:
    return "\n".join(message.plain_text for message in messages)


def _plain(html_text: str) -> str:
    """A text of bot/texts.py as the user sees it (tags gone), for comparisons."""
    for tag in ("<b>", "</b>", "<i>", "</i>", "<code>", "</code>"):
        html_text = html_text.replace(tag, "")
    return html_text


async def _in_group(
    bot: BotUnderTest, text: str, user_id: int, replies: int = 1, **kwargs: object
) -> list[SentMessage]:
    return await bot.ask(
        text, chat_id=GROUP, replies=replies, chat_type="supergroup", user_id=user_id, **kwargs
    )


def _admins(telegram: FakeBotAPI) -> None:
    telegram.set_member(GROUP, ADMIN, "administrator")
    telegram.set_member(GROUP, MEMBER, "member")


# --- parsing ----------------------------------------------------------------------------------


def test_commands_are_read_with_and_without_the_bot_name() -> None:
    """`/cmd` and `/cmd@ThisBot` (any case) are this bot's; `/cmd@OtherBot` and text are not."""
    assert parse_command("/subscribe diffusion", "MyBot") == ("subscribe", "diffusion")
    assert parse_command("/Subscribe@mybot  a, b ", "MyBot") == ("subscribe", "a, b")
    assert parse_command("/subscribe@OtherBot diffusion", "MyBot") is None
    assert parse_command("/subscribe\ndiffusion", "MyBot") == ("subscribe", "diffusion")
    assert parse_command("/time", "MyBot") == ("time", "")
    assert parse_command("subscribe diffusion", "MyBot") is None
    assert parse_command("/", "MyBot") is None


def test_which_commands_change_a_group() -> None:
    """Subscribing, times, settings, choosing categories and the language change the group;
    showing or listing categories, showing the language, /list, /latest, /search and /help
    do not."""
    for command in ("subscribe", "unsubscribe", "time", "timezone", "settings", "digest"):
        assert changes_settings(command, "")
    assert changes_settings("categories", "cs.LG")
    assert changes_settings("categories", "default")
    assert not changes_settings("categories", "")
    assert not changes_settings("categories", "list cs")
    assert changes_settings("lang", "zh")
    assert not changes_settings("lang", " ")
    for command in ("list", "latest", "search", "help", "start", "channel"):
        assert not changes_settings(command, "x")


def test_admin_answers_are_trusted_for_a_while() -> None:
    """A cached admin status is used until its time is up, then asked again."""
    now = [100.0]
    cache = AdminCache(ttl=60, clock=lambda: now[0])
    assert cache.get(GROUP, ADMIN) is None
    cache.put(GROUP, ADMIN, True)
    cache.put(GROUP, MEMBER, False)
    now[0] += 59
    assert cache.get(GROUP, ADMIN) is True
    assert cache.get(GROUP, MEMBER) is False
    now[0] += 1
    assert cache.get(GROUP, ADMIN) is None


def test_a_channel_can_be_named_in_several_ways() -> None:
    """`@name`, `name`, a t.me link and a numeric id all reach getChat."""
    assert channel_reference("@arxiv_lab") == "@arxiv_lab"
    assert channel_reference("arxiv_lab") == "@arxiv_lab"
    assert channel_reference("https://t.me/arxiv_lab") == "@arxiv_lab"
    assert channel_reference("-1009001") == -1009001


# --- groups -----------------------------------------------------------------------------------


async def test_a_group_admin_subscribes_the_group(bot: BotUnderTest) -> None:
    """An administrator's /subscribe@ThisBot changes the group's keywords."""
    _admins(bot.telegram)
    (reply,) = await _in_group(bot, f"/subscribe@{BOT_USERNAME} diffusion", ADMIN)
    assert "Subscribed to diffusion." in reply.plain_text
    assert await bot.services.store.subscriptions_for(GROUP) == ["diffusion"]


async def test_a_member_is_refused_politely_and_may_still_read(bot: BotUnderTest) -> None:
    """A member who is not an admin gets a polite refusal for what would change the group
    (/subscribe, /time, /categories with a choice) and nothing changes; /list and showing
    the categories work for everyone."""
    _admins(bot.telegram)
    await _in_group(bot, "/subscribe diffusion", ADMIN)
    for command in ("/subscribe GAN", "/unsubscribe all", "/time 07:00", "/categories cs.LG"):
        (refusal,) = await _in_group(bot, command, MEMBER)
        assert refusal.plain_text == _plain(texts.ADMINS_ONLY)
    store = bot.services.store
    assert await store.subscriptions_for(GROUP) == ["diffusion"]
    chat = await store.get_chat(GROUP)
    assert chat is not None
    assert chat.digest_time == bot.services.config.digest_time
    assert chat.categories is None
    (listing,) = await _in_group(bot, "/list", MEMBER)
    assert "1. diffusion" in listing.plain_text
    (shown,) = await _in_group(bot, "/categories", MEMBER)
    assert "cs.AI" in shown.plain_text


async def test_editing_a_message_into_a_command_is_refused_too(bot: BotUnderTest) -> None:
    """A member cannot get round the check by editing a message into /subscribe."""
    _admins(bot.telegram)
    (refusal,) = await _in_group(bot, "/list", MEMBER)
    before = len(bot.telegram.messages_to(GROUP))
    bot.telegram.user_edits(
        GROUP, refusal.message_id - 1, "/subscribe GAN", user_id=MEMBER, chat_type="supergroup"
    )
    (refused,) = (await bot.telegram.wait_for_messages(GROUP, before + 1))[before:]
    assert refused.plain_text == _plain(texts.ADMINS_ONLY)
    assert await bot.services.store.subscriptions_for(GROUP) == []


async def test_the_creator_and_an_anonymous_admin_may_change_the_group(
    bot: BotUnderTest,
) -> None:
    """The group's creator may change it, and so may an anonymous admin (whose message
    comes from the group itself)."""
    bot.telegram.set_member(GROUP, ADMIN, "creator")
    (reply,) = await _in_group(bot, "/time 07:30", ADMIN)
    assert "07:30" in reply.plain_text
    (reply,) = await _in_group(bot, "/time 06:45", MEMBER, as_group=True)
    assert "06:45" in reply.plain_text
    chat = await bot.services.store.get_chat(GROUP)
    assert chat is not None
    assert chat.digest_time.strftime("%H:%M") == "06:45"


async def test_admin_status_is_asked_once_in_a_while(bot: BotUnderTest) -> None:
    """Two changes in a row by one member cost one getChatMember call."""
    _admins(bot.telegram)
    await _in_group(bot, "/subscribe diffusion", MEMBER)
    await _in_group(bot, "/subscribe GAN", MEMBER)
    asked = bot.telegram.calls_to("getChatMember")
    assert [(c["chat_id"], c["user_id"]) for c in asked] == [(GROUP, MEMBER)]


async def test_a_failed_admin_check_changes_nothing_and_is_not_cached(bot: BotUnderTest) -> None:
    """When getChatMember fails, the change is refused with a request to try again, and the
    next try asks Telegram again."""
    _admins(bot.telegram)
    bot.telegram.fail_next("getChatMember", status=400, description="Bad Request: try later")
    (refusal,) = await _in_group(bot, "/subscribe diffusion", ADMIN)
    assert refusal.plain_text == _plain(texts.ADMIN_CHECK_FAILED)
    assert await bot.services.store.subscriptions_for(GROUP) == []
    (reply,) = await _in_group(bot, "/subscribe diffusion", ADMIN)
    assert "Subscribed to diffusion." in reply.plain_text
    assert len(bot.telegram.calls_to("getChatMember")) == 2


async def test_a_command_for_another_bot_is_ignored(bot: BotUnderTest) -> None:
    """/subscribe@OtherBot gets no answer and changes nothing, in a group and in a private
    chat; a bare unknown command in a group is left to the other bots too."""
    _admins(bot.telegram)
    bot.telegram.user_sends(
        GROUP, "/subscribe@OtherBot diffusion", chat_type="supergroup", user_id=ADMIN
    )
    bot.telegram.user_sends(GROUP, "/weather", chat_type="supergroup", user_id=ADMIN)
    bot.telegram.user_sends(USER, "/subscribe@OtherBot diffusion")
    # A later command of ours is answered, so the ones before it were handled (and ignored).
    (reply,) = await _in_group(bot, f"/list@{BOT_USERNAME}", ADMIN)
    assert _plain(texts.NO_SUBSCRIPTIONS) in reply.plain_text
    assert len(bot.telegram.messages_to(GROUP)) == 1
    (private,) = await bot.ask("/list")
    assert len(bot.telegram.messages_to(USER)) == 1, private.plain_text
    assert await bot.services.store.subscriptions_for(GROUP) == []
    assert await bot.services.store.subscriptions_for(USER) == []
    assert bot.telegram.calls_to("getChatMember") == []


async def test_settings_buttons_are_for_admins_only(bot: BotUnderTest) -> None:
    """A member pressing a /settings button gets an alert and nothing changes; an admin's
    press toggles the setting."""
    _admins(bot.telegram)
    (menu,) = await _in_group(bot, "/settings", ADMIN)
    bot.telegram.press_button(GROUP, menu.message_id, "settings:revisions", user_id=MEMBER)
    await bot.telegram.wait_for_call("answerCallbackQuery")
    (answer,) = bot.telegram.callback_answers
    assert answer["text"] == texts.ADMINS_ONLY_BUTTON
    assert answer["show_alert"] is True
    chat = await bot.services.store.get_chat(GROUP)
    assert chat is not None
    assert not chat.want_revisions
    bot.telegram.press_button(GROUP, menu.message_id, "settings:revisions", user_id=ADMIN)
    await bot.telegram.wait_for_call("editMessageReplyMarkup")
    chat = await bot.services.store.get_chat(GROUP)
    assert chat is not None
    assert chat.want_revisions


async def test_the_group_language_is_for_admins_only(bot: BotUnderTest) -> None:
    """The group's language is a setting like the others: a member who is not an admin is
    refused `/lang zh` politely and the language buttons with an alert, and the group keeps
    its language; `/lang` without a choice shows it to everyone; an admin switches it, with
    the command and with the buttons."""
    _admins(bot.telegram)
    store = bot.services.store
    (menu,) = await _in_group(bot, "/lang", MEMBER)
    assert "lang:zh" in menu.callback_data
    (refusal,) = await _in_group(bot, "/lang zh", MEMBER)
    assert refusal.plain_text == _plain(texts.ADMINS_ONLY)
    assert await store.language_of(GROUP) == "en"
    bot.telegram.press_button(GROUP, menu.message_id, "lang:zh", user_id=MEMBER)
    await bot.telegram.wait_for_call("answerCallbackQuery")
    (answer,) = bot.telegram.callback_answers
    assert answer["text"] == texts.ADMINS_ONLY_BUTTON
    assert answer["show_alert"] is True
    assert bot.telegram.calls_to("editMessageText") == []
    assert await store.language_of(GROUP) == "en"

    bot.telegram.press_button(GROUP, menu.message_id, "lang:zh", user_id=ADMIN)
    await bot.telegram.wait_for_call("editMessageText")
    assert await store.language_of(GROUP) == "zh"
    (switched,) = await _in_group(bot, "/lang en", ADMIN)
    assert switched.plain_text == _plain(texts.LANG_SET)
    assert await store.language_of(GROUP) == "en"


# --- forum topics -----------------------------------------------------------------------------


async def test_digests_go_to_the_topic_of_the_last_subscribe(bot: BotUnderTest) -> None:
    """In a forum, the reply stays in the topic where /subscribe was sent and the digest
    goes there; /subscribe in another topic moves the digests, and the reply says so."""
    telegram = bot.telegram
    _admins(telegram)
    telegram.make_forum(GROUP)
    (reply,) = await _in_group(bot, "/subscribe diffusion", ADMIN, message_thread_id=7)
    assert reply.message_thread_id == 7
    assert _plain(texts.TOPIC_CHOSEN) in reply.plain_text
    before = len(telegram.messages_to(GROUP))
    await bot.run_job(f"digest:{GROUP}")
    digest = (await bot.settle(GROUP))[before:]
    assert digest
    assert ids_in(digest)
    assert {message.message_thread_id for message in digest} == {7}

    (moved,) = await _in_group(bot, '/subscribe "language model"', ADMIN, message_thread_id=9)
    assert moved.message_thread_id == 9
    assert _plain(texts.TOPIC_MOVED) in moved.plain_text
    (again,) = await _in_group(bot, "/subscribe GAN", ADMIN, message_thread_id=9)
    assert "topic" not in again.plain_text  # no move, no note
    before = len(telegram.messages_to(GROUP))
    await bot.run_job(f"digest:{GROUP}")
    digest = (await bot.settle(GROUP))[before:]
    assert ids_in(digest)
    assert {message.message_thread_id for message in digest} == {9}


async def test_subscribe_in_the_general_topic_moves_the_digests_there(bot: BotUnderTest) -> None:
    """/subscribe in a forum's General topic (no thread id) sends the digests there."""
    _admins(bot.telegram)
    bot.telegram.make_forum(GROUP)
    await _in_group(bot, "/subscribe diffusion", ADMIN, message_thread_id=7)
    (reply,) = await _in_group(bot, "/subscribe GAN", ADMIN)
    assert reply.message_thread_id is None
    assert _plain(texts.TOPIC_GENERAL) in reply.plain_text
    assert await bot.services.store.get_thread(GROUP) is None


async def test_a_deleted_topic_falls_back_to_the_general_topic(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    """When Telegram answers "message thread not found", the digest goes to the General
    topic instead, once, with a log line, and later digests go there too."""
    caplog.set_level(logging.WARNING, logger="bot.delivery.outbox")
    telegram = bot.telegram
    _admins(telegram)
    telegram.make_forum(GROUP)
    await _in_group(bot, "/subscribe diffusion", ADMIN, message_thread_id=7)
    telegram.delete_topic(GROUP, 7)
    before = len(telegram.messages_to(GROUP))
    await bot.run_job(f"digest:{GROUP}")
    digest = (await bot.settle(GROUP))[before:]
    assert ids_in(digest)
    assert {message.message_thread_id for message in digest} == {None}
    assert await bot.services.store.get_thread(GROUP) is None
    refused = [r for r in telegram.rejected if "thread not found" in r[2]]
    assert len(refused) == 1
    assert f"Topic 7 of chat {GROUP} is gone" in caplog.text


# --- channels ---------------------------------------------------------------------------------


def _channel(telegram: FakeBotAPI, *, bot_admin: bool = True, can_post: bool = True) -> None:
    telegram.add_channel(CHANNEL, CHANNEL_NAME)
    telegram.set_member(CHANNEL, USER, "creator")
    if bot_admin:
        telegram.set_member(CHANNEL, telegram.bot_id, "administrator", can_post_messages=can_post)


async def test_a_linked_channel_gets_the_digests(start_bot: StartBot) -> None:
    """After /channel @name by an admin of the channel, the private chat's digests are
    posted in the channel (its More button works there); /channel shows the link and
    /channel off brings the digests back to the private chat."""
    async with start_bot(max_digest_messages=1) as bot:
        await bot.wait_for_papers(86)
        await _linked_channel_gets_the_digests(bot)


async def _linked_channel_gets_the_digests(bot: BotUnderTest) -> None:
    telegram = bot.telegram
    _channel(telegram)
    await bot.ask("/subscribe diffusion")
    (linked,) = await bot.ask(f"/channel @{CHANNEL_NAME}")
    assert f"Linked @{CHANNEL_NAME}" in linked.plain_text
    (shown,) = await bot.ask("/channel")
    assert f"Your digests are posted in @{CHANNEL_NAME}" in shown.plain_text
    in_private = len(telegram.messages_to(USER))
    (told,) = await bot.ask("/digest")
    assert told.plain_text == f"Your digest was posted in @{CHANNEL_NAME}."
    in_private += 1
    posted = await bot.press_more(CHANNEL)
    assert ids_in(posted)
    assert len(telegram.messages_to(USER)) == in_private
    assert set(ids_in(posted)) == await bot.services.store.delivered_ids(USER)
    assert not [m for m in posted if m.callback_data], "every page of the digest was posted"
    pressed = [c for c in telegram.calls_to("editMessageReplyMarkup") if c["chat_id"] == CHANNEL]
    assert pressed, "the digest had a More button in the channel, and it worked"
    assert await bot.services.store.get_chat(CHANNEL) is None, "the channel is no chat"

    (unlinked,) = await bot.ask("/channel off")
    assert f"Unlinked @{CHANNEL_NAME}" in unlinked.plain_text
    assert await bot.services.store.channel_link(USER) is None


async def test_a_user_who_is_no_channel_admin_cannot_link_it(bot: BotUnderTest) -> None:
    """Someone who is not an admin of the channel is told so, and nothing is linked."""
    _channel(bot.telegram)
    bot.telegram.set_member(CHANNEL, USER, "member")
    (reply,) = await bot.ask(f"/channel @{CHANNEL_NAME}")
    assert f"Only an admin of @{CHANNEL_NAME} can link it" in reply.plain_text
    assert await bot.services.store.channel_link(USER) is None


@pytest.mark.parametrize("can_post", [False, None])
async def test_the_bot_not_admin_in_the_channel_is_explained(
    bot: BotUnderTest, can_post: bool | None
) -> None:
    """When the bot is not an admin of the channel (None), or one without the right to post,
    the user is told what to do, and nothing is linked."""
    _channel(bot.telegram, bot_admin=can_post is not None, can_post=bool(can_post))
    (reply,) = await bot.ask(f"/channel {CHANNEL_NAME}")
    assert f"I am not an admin of @{CHANNEL_NAME} with the right to post" in reply.plain_text
    assert f"/channel @{CHANNEL_NAME} again" in reply.plain_text
    assert await bot.services.store.channel_link(USER) is None


async def test_unknown_channels_and_non_channels_are_explained(bot: BotUnderTest) -> None:
    """A channel Telegram does not know, and a group given as a channel, are explained; in a
    group /channel points to the private chat."""
    _admins(bot.telegram)
    await _in_group(bot, "/list", ADMIN)
    (unknown,) = await bot.ask("/channel @no_such_channel")
    assert "I cannot find the channel @no_such_channel" in unknown.plain_text
    (group,) = await bot.ask(f"/channel {GROUP}")
    assert f"{GROUP} is not a channel" in group.plain_text
    (in_group,) = await _in_group(bot, "/channel @arxiv_lab", ADMIN)
    assert in_group.plain_text == _plain(texts.CHANNEL_PRIVATE_ONLY)
    (none,) = await bot.ask("/channel")
    assert "No channel is linked" in none.plain_text


async def test_a_bot_removed_from_the_channel_tells_the_user(bot: BotUnderTest) -> None:
    """When the channel answers 403 (the bot was removed), the link turns inactive, the
    private chat is told, and the digest comes there instead of being lost."""
    telegram = bot.telegram
    _channel(telegram)
    await bot.ask("/subscribe diffusion")
    await bot.ask(f"/channel @{CHANNEL_NAME}")
    telegram.remove_bot(CHANNEL)
    before = len(telegram.messages_to(USER))
    await bot.run_job(f"digest:{USER}")
    private = (await bot.press_more(USER))[before:]
    assert f"I can no longer post in @{CHANNEL_NAME}" in private[0].plain_text
    assert ids_in(private[1:])
    assert set(ids_in(private)) == await bot.services.store.delivered_ids(USER)
    assert telegram.messages_to(CHANNEL) == []
    link = await bot.services.store.channel_link(USER)
    assert link is not None
    assert not link.active
    (shown,) = await bot.ask("/channel")
    assert "until I lost the right to post there" in shown.plain_text
    chat = await bot.services.store.get_chat(USER)
    assert chat is not None
    assert chat.active, "the private chat itself is not gone"


async def test_help_explains_groups_topics_and_channels(bot: BotUnderTest) -> None:
    """/help says that admins manage a group, where a forum's digests go, and that a linked
    channel is managed from the private chat; /channel is in the command menu."""
    (reply,) = await bot.ask("/help")
    assert "only its admins change its keywords and settings" in reply.plain_text
    assert "the topic where /subscribe was last sent" in reply.plain_text
    assert "you keep managing them here" in reply.plain_text
    menu = bot.telegram.commands_for(None, "")
    assert "channel" in [command["command"] for command in menu]
