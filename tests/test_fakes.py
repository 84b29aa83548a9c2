"""The test fakes behave like the real services, checked through real clients."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import (
    Bot,
    ChatMemberAdministrator,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.request import HTTPXRequest

from tests.conftest import WAIT
from tests.fakes import (
    BOT_USERNAME,
    FakeBotAPI,
    FeedServer,
    TelegramParseError,
    parse_message_text,
    telegram_visible_text,
    utf16_len,
)

CHAT = 4242
# A long poll's own timeout: far beyond any answer that should come at once, however slow
# the machine, so that answering early is told apart from answering at the timeout.
POLL_TIMEOUT = 60
EMOJI = "\N{GRINNING FACE}"  # outside the BMP: two UTF-16 code units


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    async with Bot(api.token, base_url=api.base_url) as client:
        yield client


@pytest.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    async with FeedServer() as server:
        yield server


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d.title(), callback_data=d) for d in data]])


# ---------------------------------------------------------------------------------------------
# Telegram's HTML rules, as pure functions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "visible"),
    [
        ("<b>bold</b> <i>it</i> <u>u</u> <s>s</s>", "bold it u s"),
        ("<strong>a</strong><em>b</em><ins>c</ins><strike>d</strike><del>e</del>", "abcde"),
        ('<a href="https://arxiv.org/abs/2401.00001?a=1&amp;b=2">paper</a>', "paper"),
        ('<pre><code class="language-python">x &lt; 1</code></pre>', "x < 1"),
        ("<blockquote expandable>quote</blockquote>", "quote"),
        ('<tg-spoiler>s</tg-spoiler><span class="tg-spoiler">t</span>', "st"),
        (
            '<tg-emoji emoji-id="5368324170671202286">\N{THUMBS UP SIGN}</tg-emoji>',
            "\N{THUMBS UP SIGN}",
        ),
        ("&lt;&gt;&amp;&quot;&#65;&#x42;", '<>&"AB'),
        ("  \n<b>padded</b>\n\n ", "padded"),
        ("a\r\nb\tc", "a\nb c"),
        ("Tom &gt; Jerry", "Tom > Jerry"),
        ("2 > 1", "2 > 1"),
    ],
)
def test_visible_text_removes_tags_and_decodes_entities(html: str, visible: str) -> None:
    """Valid Telegram HTML yields the text the user sees, cleaned and trimmed like tdlib."""
    assert telegram_visible_text(html) == visible


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("<br>", 'Unsupported start tag "br" at byte offset 0'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b", "Unclosed start tag at byte offset 0"),
        ('<span class="x">y</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 14"),
        ("\N{STADIUM} x<i>a</i   ", "Unclosed end tag at byte offset 10"),
        ("<tg-emoji>x</tg-emoji>", "Invalid custom emoji identifier specified"),
        ("Tom & Jerry", 'Unescaped "&"'),
        ("&nbsp;", 'Unescaped "&"'),
        ("&lt without semicolon", 'Unescaped "&"'),
    ],
)
def test_invalid_html_raises_tdlib_reason(html: str, reason: str) -> None:
    """Invalid HTML raises TelegramParseError carrying tdlib's reason (byte offsets in UTF-8)."""
    with pytest.raises(TelegramParseError) as excinfo:
        telegram_visible_text(html)
    assert str(excinfo.value).startswith(reason)


def test_lenient_mode_keeps_bare_ampersand_like_telegram() -> None:
    """With strict_entities=False a bare "&" or unknown entity stays literal, as on Telegram."""
    assert telegram_visible_text("Tom & Jerry &nbsp; &lt", strict_entities=False) == (
        "Tom & Jerry &nbsp; <"
    )


def test_entities_use_utf16_offsets() -> None:
    """Entity offsets and lengths count UTF-16 code units, so astral emoji count twice."""
    text, entities = parse_message_text(f"{EMOJI}<b>x{EMOJI}</b>", "HTML")
    assert text == f"{EMOJI}x{EMOJI}"
    assert entities == [{"type": "bold", "offset": 2, "length": 3}]
    assert utf16_len(EMOJI) == 2
    assert utf16_len("é") == 1


def test_pre_with_language_becomes_one_pre_entity() -> None:
    """<pre><code class="language-x"> is a single pre entity with that language."""
    _, entities = parse_message_text('<pre><code class="language-py">x</code></pre>', "HTML")
    assert entities == [{"type": "pre", "offset": 0, "length": 1, "language": "py"}]


# ---------------------------------------------------------------------------------------------
# FakeBotAPI through python-telegram-bot
# ---------------------------------------------------------------------------------------------


async def test_get_me_describes_the_bot(bot: Bot, api: FakeBotAPI) -> None:
    """getMe answers a bot user whose id is the token's number part."""
    me = await bot.get_me()
    assert me.id == 123456
    assert me.is_bot
    assert me.username == BOT_USERNAME
    assert me.can_join_groups
    assert api.calls[0][0] == "getMe"


async def test_wrong_token_is_unauthorized(api: FakeBotAPI) -> None:
    """A request with another well-formed token answers 401 Unauthorized."""
    with pytest.raises(InvalidToken):
        async with Bot("999:another-token", base_url=api.base_url):
            pass
    assert api.rejected == [("getMe", 401, "Unauthorized")]


async def test_method_names_are_case_insensitive_and_unknown_ones_404(api: FakeBotAPI) -> None:
    """/GETME works like /getMe; an unknown method answers Telegram's 404 envelope."""
    async with httpx.AsyncClient(base_url=f"{api.base_url}{api.token}") as client:
        ok = await client.post("/GETME")
        missing = await client.post("/sendTelepathy")
        file = await client.get(f"{api.url}/file/bot{api.token}/photos/x.jpg")
    assert ok.json()["result"]["username"] == BOT_USERNAME
    assert missing.status_code == 404
    assert missing.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert file.status_code == 404


async def test_send_message_records_what_the_user_sees(bot: Bot, api: FakeBotAPI) -> None:
    """An accepted HTML message is recorded raw and as plain text, with its decoded options."""
    message = await bot.send_message(
        CHAT,
        "<b>New</b> papers &amp; more",
        parse_mode="HTML",
        reply_markup=keyboard("more", "stop"),
        link_preview_options=LinkPreviewOptions(is_disabled=True),
        message_thread_id=9,
    )
    assert message.text == "New papers & more"
    assert message.from_user is not None
    assert message.from_user.username == BOT_USERNAME
    assert message.chat.id == CHAT
    [sent] = api.messages_to(CHAT)
    assert sent.message_id == message.message_id == 1
    assert sent.text == "<b>New</b> papers &amp; more"
    assert sent.plain_text == "New papers & more"
    assert sent.parse_mode == "HTML"
    assert sent.link_preview_disabled
    assert sent.message_thread_id == 9
    assert sent.callback_data == ["more", "stop"]
    assert api.violations == []


async def test_form_values_are_json_decoded_but_strings_stay_strings(
    bot: Bot, api: FakeBotAPI
) -> None:
    """PTB JSON-encodes non-strings in the form; text "123" stays a str, chat_id becomes int."""
    await bot.send_message(CHAT, "123", disable_notification=True)
    await bot.send_message(CHAT, "true")
    params = api.calls_to("sendMessage")[0]
    assert params["chat_id"] == CHAT
    assert params["text"] == "123"
    assert params["disable_notification"] is True
    assert [m.plain_text for m in api.messages_to(CHAT)] == ["123", "true"]
    assert [m.message_id for m in api.messages_to(CHAT)] == [1, 2]


async def test_json_and_query_string_parameters_are_accepted(api: FakeBotAPI) -> None:
    """Parameters may come as a JSON body (reply_markup as object or string) or query string."""
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    async with httpx.AsyncClient(base_url=f"{api.base_url}{api.token}") as client:
        first = await client.post(
            "/sendMessage", json={"chat_id": CHAT, "reply_markup": markup, "text": "a"}
        )
        second = await client.post(
            "/sendMessage",
            json={"chat_id": str(CHAT), "text": "b", "reply_markup": json.dumps(markup)},
        )
        third = await client.get("/sendMessage", params={"chat_id": CHAT, "text": "c"})
    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert [m.callback_data for m in api.messages_to(CHAT)] == [["go"], ["go"], []]


@pytest.mark.parametrize("html", ["1 < 2", "<b>open", "<p>para</p>", "R&D", "<b>x</i>"])
async def test_bad_html_is_refused(bot: Bot, api: FakeBotAPI, html: str) -> None:
    """HTML Telegram cannot parse answers 400 "can't parse entities" and is not recorded."""
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(CHAT, html, parse_mode="HTML")
    assert api.sent == []
    [(method, code, description)] = api.violations
    assert (method, code) == ("sendMessage", 400)
    assert description.startswith("Bad Request: can't parse entities: ")


async def test_empty_text_is_refused(bot: Bot, api: FakeBotAPI) -> None:
    """An empty text, or one that is empty after parsing and trimming, is refused."""
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(CHAT, "")
    with pytest.raises(BadRequest, match=r"(?i)message must be non-empty"):
        await bot.send_message(CHAT, "<b> </b>\n", parse_mode="HTML")
    assert api.sent == []


async def test_text_over_4096_utf16_units_is_too_long(bot: Bot, api: FakeBotAPI) -> None:
    """More than 4096 UTF-16 units of visible text answers 400 "message is too long"."""
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(CHAT, "a" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(CHAT, "a" * 4095 + EMOJI)  # 4097 units, 4096 code points
    assert api.sent == []


@pytest.mark.parametrize(
    "text",
    [
        "a" * 4096,
        EMOJI * 2048,
        "a" * 4094 + EMOJI,
        "<b>" + "a" * 4096 + "</b>",  # tags do not count
        "&amp;" * 4096,  # an entity counts as the one character it stands for
    ],
)
async def test_exactly_4096_utf16_units_is_accepted(bot: Bot, api: FakeBotAPI, text: str) -> None:
    """Exactly 4096 UTF-16 units of visible text is within the limit."""
    await bot.send_message(CHAT, text, parse_mode="HTML")
    [sent] = api.messages_to(CHAT)
    assert utf16_len(sent.plain_text) == 4096


async def test_rate_limit_raises_retry_after(
    bot: Bot, api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fail_next answers 429 with parameters.retry_after, which PTB raises as RetryAfter."""
    # Reading RetryAfter.retry_after otherwise emits a PTBDeprecationWarning (an error here).
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    api.fail_next("sendMessage", retry_after=3)
    with pytest.raises(RetryAfter) as excinfo:
        await bot.send_message(CHAT, "hi")
    assert excinfo.value.retry_after == dtm.timedelta(seconds=3)
    await bot.send_message(CHAT, "hi again")  # the fault was used up
    assert [m.plain_text for m in api.sent] == ["hi again"]
    assert api.rejected == [("sendMessage", 429, "Too Many Requests: retry after 3")]
    assert api.violations == []


async def test_faults_can_target_one_chat(bot: Bot, api: FakeBotAPI) -> None:
    """A fault scoped to a chat leaves sends to other chats alone."""
    api.fail_next(chat_id=7, status=400, description="Bad Request: injected", times=2)
    await bot.send_message(8, "fine")
    for _ in range(2):
        with pytest.raises(BadRequest, match=r"(?i)injected"):
            await bot.send_message(7, "nope")
    await bot.send_message(7, "fine now")
    assert [(m.chat_id, m.plain_text) for m in api.sent] == [(8, "fine"), (7, "fine now")]


async def test_blocked_user_raises_forbidden(bot: Bot, api: FakeBotAPI) -> None:
    """After block(), sends to the chat answer 403 until unblock()."""
    api.block(CHAT)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "hello?")
    with pytest.raises(Forbidden):
        await bot.send_chat_action(CHAT, "typing")
    api.unblock(CHAT)
    await bot.send_message(CHAT, "hello")
    assert [m.plain_text for m in api.messages_to(CHAT)] == ["hello"]


async def test_missing_chat_raises_chat_not_found(bot: Bot, api: FakeBotAPI) -> None:
    """A chat configured as missing answers 400 "chat not found"."""
    api.missing_chat(-100123)
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(-100123, "hello")


async def test_upgraded_group_answers_migrate_to_chat_id(bot: Bot, api: FakeBotAPI) -> None:
    """After upgrade_group, the old id answers Telegram's 400 with migrate_to_chat_id."""
    api.user_sends(-4100, "/start", chat_type="group")
    api.upgrade_group(-4100, -1004100)
    async with httpx.AsyncClient() as client:
        raw = await client.post(
            f"{api.base_url}{api.token}/sendMessage",
            json={
                "chat_id": -4100,
                "text": "hello?",
            },
        )
    assert raw.status_code == 400
    assert raw.json() == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: group chat was upgraded to a supergroup chat",
        "parameters": {"migrate_to_chat_id": -1004100},
    }
    with pytest.raises(ChatMigrated) as excinfo:
        await bot.send_message(-4100, "hello again?")
    assert excinfo.value.new_chat_id == -1004100
    with pytest.raises(ChatMigrated):
        await bot.send_chat_action(-4100, "typing")
    message = await bot.send_message(-1004100, "hello")
    assert message.chat.type == "supergroup"
    assert message.chat.title == "Test group"
    assert [m.plain_text for m in api.sent] == ["hello"]
    assert api.violations == []
    with pytest.raises(ValueError, match="upgraded"):
        api.user_sends(-4100, "/list", chat_type="group")
    api.user_sends(-1004100, "/list", chat_type="supergroup")


async def test_announced_upgrade_sends_both_service_messages(bot: Bot, api: FakeBotAPI) -> None:
    """announce=True: migrate_to_chat_id in the old group, then migrate_from_chat_id in the
    supergroup, both from the member who upgraded it, as Telegram tells a member bot."""
    api.upgrade_group(-4101, -1004101, announce=True, user_id=77)
    to_old, from_new = [update.message for update in await bot.get_updates(timeout=0)]
    assert to_old is not None
    assert from_new is not None
    assert (to_old.chat.id, to_old.chat.type, to_old.migrate_to_chat_id) == (
        -4101,
        "group",
        -1004101,
    )
    assert (from_new.chat.id, from_new.chat.type, from_new.migrate_from_chat_id) == (
        -1004101,
        "supergroup",
        -4101,
    )
    assert to_old.from_user is not None
    assert to_old.from_user.id == 77


def test_only_basic_groups_upgrade_to_supergroup_ids(api: FakeBotAPI) -> None:
    """A private chat cannot be upgraded, and the new id must be a supergroup's (-100...)."""
    with pytest.raises(ValueError, match="basic group"):
        api.upgrade_group(42, -10042)
    with pytest.raises(ValueError, match="supergroup id"):
        api.upgrade_group(-42, -42000)


@pytest.mark.parametrize(
    ("status", "html", "message"),
    [
        (500, False, "Internal Server Error"),
        (502, True, "Bad Gateway"),
        (504, True, "Gateway Timeout"),
    ],
)
async def test_server_errors_raise_network_error_and_post_nothing(
    bot: Bot, api: FakeBotAPI, status: int, html: bool, message: str
) -> None:
    """5xx answers (JSON, or the front end's HTML page) are PTB NetworkErrors; nothing posted."""
    api.fail_next(status=status, html=html, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match=message) as excinfo:
            await bot.send_message(CHAT, "hello?")
        assert not isinstance(excinfo.value, BadRequest)
    await bot.send_message(CHAT, "hello")
    assert [m.plain_text for m in api.sent] == ["hello"]
    assert api.rejected == [("sendMessage", status, message)] * 2
    assert api.violations == []


async def test_server_error_page_is_html(api: FakeBotAPI) -> None:
    """html=True answers nginx's HTML error page, not Telegram's JSON envelope."""
    api.fail_next("getMe", status=502, html=True)
    async with httpx.AsyncClient() as client:
        raw = await client.get(f"{api.base_url}{api.token}/getMe")
    assert raw.status_code == 502
    assert raw.headers["content-type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in raw.text


async def test_dropped_connection_posts_nothing(bot: Bot, api: FakeBotAPI) -> None:
    """drop_next closes the connection unanswered, before the message is posted."""
    api.drop_next(times=2)
    for _ in range(2):
        with pytest.raises(NetworkError) as excinfo:
            await bot.send_message(CHAT, "hello?")
        assert isinstance(excinfo.value.__cause__, httpx.RemoteProtocolError)
    await bot.send_message(CHAT, "hello")
    assert [m.plain_text for m in api.sent] == ["hello"]
    assert [r[1:] for r in api.rejected] == [(0, "connection dropped")] * 2


async def test_dropped_answer_after_posting(bot: Bot, api: FakeBotAPI) -> None:
    """drop_next(handled=True): the client gets no answer, but the message was posted."""
    api.drop_next(chat_id=CHAT, handled=True)
    with pytest.raises(NetworkError):
        await bot.send_message(CHAT, "posted, unconfirmed")
    await bot.send_message(CHAT + 1, "other chat unaffected")
    assert [m.plain_text for m in api.sent] == ["posted, unconfirmed", "other chat unaffected"]


async def test_late_answer_times_out_after_posting(api: FakeBotAPI) -> None:
    """answer_late: a client with a shorter read timeout raises TimedOut; the message is posted."""
    api.answer_late(seconds=5.0)
    request = HTTPXRequest(read_timeout=0.2)
    async with Bot(api.token, base_url=api.base_url, request=request) as impatient:
        with pytest.raises(TimedOut):
            await impatient.send_message(CHAT, "slow")
        await impatient.send_message(CHAT, "fast")
    assert [m.plain_text for m in api.sent] == ["slow", "fast"]


def test_fault_needs_at_least_one_call(api: FakeBotAPI) -> None:
    """A fault for zero calls is a mistake in the test, not a no-op."""
    with pytest.raises(ValueError, match="at least 1"):
        api.drop_next(times=0)


async def test_long_poll_returns_early_when_a_user_writes(bot: Bot, api: FakeBotAPI) -> None:
    """getUpdates waits, and returns as soon as user_sends queues an update."""
    poll = asyncio.create_task(bot.get_updates(timeout=POLL_TIMEOUT))
    await api.wait_for_call("getUpdates", timeout=WAIT)  # the poll waits at the fake
    assert not poll.done()
    started = time.monotonic()
    update_id = api.user_sends(CHAT, f"/digest@{BOT_USERNAME} now")
    [update] = await asyncio.wait_for(poll, WAIT)
    assert time.monotonic() - started < POLL_TIMEOUT, "answered before the poll's own timeout"
    assert update.update_id == update_id
    assert update.message is not None
    assert update.message.text == f"/digest@{BOT_USERNAME} now"
    assert update.message.chat.type == "private"
    assert update.message.from_user is not None
    assert update.message.from_user.id == CHAT
    [entity] = update.message.entities
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 29)


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    """With nothing queued, getUpdates answers [] when its timeout ends."""
    started = time.monotonic()
    assert await bot.get_updates(timeout=dtm.timedelta(seconds=0.3)) == ()
    assert 0.25 < time.monotonic() - started < 2


async def test_offset_confirms_updates_for_good(bot: Bot, api: FakeBotAPI) -> None:
    """Updates below offset are confirmed and never returned again; limit caps a batch."""
    first = api.user_sends(CHAT, "one")
    second = api.user_sends(CHAT, "two")
    third = api.user_sends(CHAT, "three")
    assert [u.update_id for u in await bot.get_updates(limit=2)] == [first, second]
    assert [u.update_id for u in await bot.get_updates(offset=second)] == [second, third]
    assert [u.update_id for u in await bot.get_updates()] == [second, third]
    assert await bot.get_updates(offset=third + 1) == ()
    assert api.pending_updates == []


async def test_newer_get_updates_terminates_the_older_one(api: FakeBotAPI) -> None:
    """Two bot instances polling at once: the older poll answers 409 Conflict, like Telegram."""
    # Two Bot objects: PTB gives getUpdates a one-connection pool, so one Bot polls serially.
    async with (
        Bot(api.token, base_url=api.base_url) as first,
        Bot(api.token, base_url=api.base_url) as second,
    ):
        older = asyncio.create_task(first.get_updates(timeout=POLL_TIMEOUT))
        await api.wait_for_call("getUpdates", timeout=WAIT)  # the older poll waits at the fake
        newer = asyncio.create_task(second.get_updates(timeout=POLL_TIMEOUT))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await asyncio.wait_for(older, WAIT)
        api.user_sends(CHAT, "hi")
        assert len(await asyncio.wait_for(newer, WAIT)) == 1
    assert ("getUpdates", 409) in [(method, code) for method, code, _ in api.rejected]
    assert api.violations == []


async def test_button_press_and_callback_answer(bot: Bot, api: FakeBotAPI) -> None:
    """press_button queues a callback_query for a real button; it can be answered once."""
    sent = await bot.send_message(CHAT, "Pick one", reply_markup=keyboard("yes", "no"))
    with pytest.raises(AssertionError, match="no button"):
        api.press_button(CHAT, sent.message_id, "maybe")
    api.press_button(CHAT, sent.message_id, "yes")
    [update] = await bot.get_updates()
    query = update.callback_query
    assert query is not None
    assert query.data == "yes"
    assert query.message is not None
    assert query.message.message_id == sent.message_id
    assert await bot.answer_callback_query(query.id, text="Noted")
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query.id)
    assert api.callback_answers[0]["text"] == "Noted"


async def test_callback_data_over_64_bytes_is_refused(bot: Bot, api: FakeBotAPI) -> None:
    """Inline buttons with more than 64 bytes of callback_data answer BUTTON_DATA_INVALID."""
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(CHAT, "x", reply_markup=keyboard("é" * 33))
    await bot.send_message(CHAT, "x", reply_markup=keyboard("é" * 32))
    assert len(api.sent) == 1


async def test_edit_message_text_replaces_the_message(bot: Bot, api: FakeBotAPI) -> None:
    """editMessageText updates the recorded message; an identical edit is "not modified"."""
    sent = await bot.send_message(CHAT, "Page 1", reply_markup=keyboard("next"))
    edited = await bot.edit_message_text("<i>Page 2</i>", CHAT, sent.message_id, parse_mode="HTML")
    assert isinstance(edited, Message)
    assert edited.text == "Page 2"
    [current] = api.messages_to(CHAT)
    assert (current.plain_text, current.reply_markup, current.edit_date is not None) == (
        "Page 2",
        None,
        True,
    )
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("<i>Page 2</i>", CHAT, sent.message_id, parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", CHAT, 999)


async def test_commands_are_stored_per_scope_and_language(bot: Bot, api: FakeBotAPI) -> None:
    """setMyCommands stores per scope and language; getMyCommands and delete read it back."""
    await bot.set_my_commands([("start", "Start"), ("topics", "Your topics")])
    await bot.set_my_commands([("start", "Starten")], language_code="de")
    assert api.commands[("default", "")] == [
        {"command": "start", "description": "Start"},
        {"command": "topics", "description": "Your topics"},
    ]
    assert [c.command for c in await bot.get_my_commands(language_code="de")] == ["start"]
    await bot.delete_my_commands(language_code="de")
    assert set(api.commands) == {("default", "")}
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([("Bad-Name", "x")])


async def test_wait_for_messages_reports_what_arrived(bot: Bot, api: FakeBotAPI) -> None:
    """wait_for_messages returns once enough arrived, and fails listing what did arrive."""
    waiter = asyncio.create_task(api.wait_for_messages(CHAT, 2, timeout=WAIT))
    await bot.send_message(CHAT, "one")
    await bot.send_message(CHAT, "two")
    assert [m.plain_text for m in await waiter] == ["one", "two"]
    with pytest.raises(AssertionError, match=r"got 2: \['one', 'two'\]"):
        await api.wait_for_messages(CHAT, 3, timeout=0.1)


# ---------------------------------------------------------------------------------------------
# FakeBotAPI as the referee of Telegram's flood limits
# ---------------------------------------------------------------------------------------------


async def test_rate_limits_are_not_enforced_by_default(bot: Bot, api: FakeBotAPI) -> None:
    """Without enforce_rate_limits, a quick burst to one chat is all delivered and timed."""
    await asyncio.gather(*(bot.send_message(CHAT, f"m{i}") for i in range(40)))
    assert len(api.messages_to(CHAT)) == 40
    assert api.rejected == []
    assert len(api.message_times) == 40
    assert all(chat == CHAT for _, chat in api.message_times)


async def test_global_limit_answers_429_and_counts_a_violation(bot: Bot, api: FakeBotAPI) -> None:
    """Over the global rate within a second, a send is refused 429 with retry_after 1."""
    api.enforce_rate_limits(global_per_s=5)
    for chat in range(1, 6):
        await bot.send_message(chat, "ok")
    with pytest.raises(RetryAfter) as excinfo:
        await bot.send_message(6, "one too many")
    assert excinfo.value.retry_after == dtm.timedelta(seconds=1)
    assert len(api.sent) == 5
    assert api.rejected == [("sendMessage", 429, "Too Many Requests: retry after 1")]
    assert api.violations == api.rejected
    [hit] = api.rate_limit_hits
    assert (hit.method, hit.chat_id, hit.limit, hit.retry_after) == ("sendMessage", 6, "global", 1)


async def test_private_chat_limit_is_per_chat(bot: Bot, api: FakeBotAPI) -> None:
    """A private chat takes private_burst messages per burst/rate seconds; others are apart."""
    api.enforce_rate_limits(private_per_s=1, private_burst=2)
    await bot.send_message(CHAT, "one")
    await bot.send_message(CHAT, "two")
    with pytest.raises(RetryAfter) as excinfo:
        await bot.send_message(CHAT, "three")
    # The window is 2 s long: the third may go once the first leaves it.
    assert excinfo.value.retry_after == dtm.timedelta(seconds=2)
    await bot.send_message(CHAT + 1, "another chat is not affected")
    assert [hit.limit for hit in api.rate_limit_hits] == ["private"]
    assert len(api.sent) == 3


async def test_group_limit_is_per_group(bot: Bot, api: FakeBotAPI) -> None:
    """Groups, supergroups and channels take group_limit messages per group_period."""
    api.enforce_rate_limits(group_limit=2, group_period=60)
    for _ in range(2):
        await bot.send_message(-100123, "ok")
    with pytest.raises(RetryAfter) as excinfo:
        await bot.send_message(-100123, "too many for this group")
    assert excinfo.value.retry_after == dtm.timedelta(seconds=60)
    await bot.send_message(-456, "another group")
    assert [(hit.chat_id, hit.limit) for hit in api.rate_limit_hits] == [(-100123, "group")]


async def test_window_slides_and_refused_sends_do_not_count(bot: Bot, api: FakeBotAPI) -> None:
    """Once the oldest send leaves the window another is accepted; a refused one never counted."""
    api.enforce_rate_limits(private_per_s=10, private_burst=1)  # one per 0.1 s
    await bot.send_message(CHAT, "first")
    with pytest.raises(RetryAfter):
        await bot.send_message(CHAT, "refused")
    await asyncio.sleep(0.15)
    await bot.send_message(CHAT, "second")  # the refused one would have blocked it
    assert [m.plain_text for m in api.messages_to(CHAT)] == ["first", "second"]
    (first, _), (second, _) = api.message_times
    assert second - first >= 0.1


async def test_edits_count_and_chat_actions_do_not(bot: Bot, api: FakeBotAPI) -> None:
    """Edits count against the chat's limit; chat actions are never limited."""
    api.enforce_rate_limits(private_per_s=1, private_burst=1)
    message = await bot.send_message(CHAT, "draft")
    for _ in range(3):
        await bot.send_chat_action(CHAT, "typing")
    with pytest.raises(RetryAfter):
        await bot.edit_message_text("final", CHAT, message.message_id)
    assert [hit.method for hit in api.rate_limit_hits] == ["editMessageText"]
    api.stop_enforcing_rate_limits()
    await bot.edit_message_text("final", CHAT, message.message_id)
    assert [m.plain_text for m in api.messages_to(CHAT)] == ["final"]


# ---------------------------------------------------------------------------------------------
# Groups, forum topics and channels
# ---------------------------------------------------------------------------------------------

GROUP = -1005001
CHANNEL = -1009001


async def test_chat_members_have_the_statuses_the_test_gives(bot: Bot, api: FakeBotAPI) -> None:
    """getChatMember answers each status as PTB's ChatMember subclass; a group's default
    user created it, anyone else is a member; getChatAdministrators lists the admins set
    by the test; a private chat has no member list."""
    api.user_sends(GROUP, "hello", chat_type="supergroup")
    api.set_member(GROUP, 7, "administrator")
    api.set_member(GROUP, 8, "left")
    assert isinstance(await bot.get_chat_member(GROUP, 1_000_001), ChatMemberOwner)
    assert isinstance(await bot.get_chat_member(GROUP, 7), ChatMemberAdministrator)
    assert isinstance(await bot.get_chat_member(GROUP, 8), ChatMemberLeft)
    assert isinstance(await bot.get_chat_member(GROUP, 9), ChatMemberMember)
    admins = await bot.get_chat_administrators(GROUP)
    assert [admin.user.id for admin in admins] == [7]
    api.user_sends(CHAT, "hi")
    with pytest.raises(BadRequest, match=r"(?i)member list is inaccessible"):
        await bot.get_chat_member(CHAT, CHAT)


async def test_channels_are_found_by_name_with_their_admins_rights(
    bot: Bot, api: FakeBotAPI
) -> None:
    """getChat finds a channel by @name or id; an admin's right to post is reported; a
    channel the fake does not know is "chat not found"; outsiders have left a channel."""
    api.add_channel(CHANNEL, "arxiv_lab", title="Lab papers")
    api.set_member(CHANNEL, api.bot_id, "administrator", can_post_messages=True)
    found = await bot.get_chat("@ArXiv_Lab")
    assert (found.id, found.type, found.title) == (CHANNEL, "channel", "Lab papers")
    assert (await bot.get_chat(CHANNEL)).username == "arxiv_lab"
    me = await bot.get_chat_member(CHANNEL, api.bot_id)
    assert isinstance(me, ChatMemberAdministrator)
    assert me.can_post_messages is True
    assert isinstance(await bot.get_chat_member(CHANNEL, 5), ChatMemberLeft)
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.get_chat("@nobody_here")


async def test_a_removed_bot_and_a_deleted_topic_are_refused(bot: Bot, api: FakeBotAPI) -> None:
    """Sends to a channel the bot was removed from answer 403; sends to a deleted forum topic
    answer 400 "message thread not found", other topics and General still work."""
    api.add_channel(CHANNEL, "arxiv_lab")
    await bot.send_message(CHANNEL, "before")
    api.remove_bot(CHANNEL)
    with pytest.raises(Forbidden, match=r"(?i)not a member of the channel"):
        await bot.send_message(CHANNEL, "after")
    api.make_forum(GROUP)
    api.delete_topic(GROUP, 7)
    with pytest.raises(BadRequest, match=r"(?i)thread not found"):
        await bot.send_message(GROUP, "lost", message_thread_id=7)
    await bot.send_message(GROUP, "topic", message_thread_id=9)
    await bot.send_message(GROUP, "general")
    assert [(m.plain_text, m.message_thread_id) for m in api.messages_to(GROUP)] == [
        ("topic", 9),
        ("general", None),
    ]


async def test_forum_messages_and_anonymous_admins(api: FakeBotAPI) -> None:
    """In a forum every message says is_forum, in a topic with its thread id; an anonymous
    admin's message comes from the group itself (sender_chat)."""
    api.make_forum(GROUP)
    api.user_sends(GROUP, "/list", chat_type="supergroup")
    api.user_sends(GROUP, "/list", chat_type="supergroup", message_thread_id=7, as_group=True)
    general, topic = (update["message"] for update in api.pending_updates)
    assert general["chat"]["is_forum"] is True
    assert "message_thread_id" not in general
    assert topic["message_thread_id"] == 7
    assert topic["is_topic_message"] is True
    assert topic["sender_chat"]["id"] == GROUP
    assert topic["from"]["username"] == "GroupAnonymousBot"


# ---------------------------------------------------------------------------------------------
# FeedServer through httpx
# ---------------------------------------------------------------------------------------------


async def test_feed_server_serves_and_records(feeds: FeedServer) -> None:
    """A configured path answers its body and content type; the request is recorded."""
    feeds.set_response("/rss/cs.AI", "<rss version='2.0'/>")
    async with httpx.AsyncClient(headers={"User-Agent": "arxiv-digest-bot/0.1"}) as client:
        response = await client.get(f"{feeds.url}/rss/cs.AI", params={"version": "2.0"})
    assert response.status_code == 200
    assert response.text == "<rss version='2.0'/>"
    assert response.headers["content-type"] == "application/rss+xml; charset=utf-8"
    [request] = feeds.requests
    assert (request.method, request.path, request.query_string) == (
        "GET",
        "/rss/cs.AI",
        "version=2.0",
    )
    assert request.headers["user-agent"] == "arxiv-digest-bot/0.1"


async def test_feed_server_unknown_path_is_html_404(feeds: FeedServer) -> None:
    """Paths nobody configured answer 404 with an HTML body, like a real web server."""
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{feeds.url}/rss/nope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Not Found" in response.text


async def test_feed_server_status_headers_and_conditional_get(feeds: FeedServer) -> None:
    """Status and headers are as configured; a matching If-None-Match answers 304."""
    feeds.set_response("/down", b"busy", status=503, headers={"Retry-After": "7"})
    feeds.set_response("/rss/math.CO", b"<rss/>", headers={"ETag": '"v1"'})
    async with httpx.AsyncClient(base_url=feeds.url) as client:
        down = await client.get("/down")
        fresh = await client.get("/rss/math.CO")
        cached = await client.get("/rss/math.CO", headers={"If-None-Match": '"v1"'})
    assert (down.status_code, down.headers["retry-after"]) == (503, "7")
    assert (fresh.status_code, fresh.headers["etag"]) == (200, '"v1"')
    assert (cached.status_code, cached.content) == (304, b"")


async def test_feed_server_delay_and_request_spacing(feeds: FeedServer) -> None:
    """A delay makes clients time out; request times are monotonic for spacing checks."""
    feeds.set_response("/slow", b"late", delay=1.0)
    feeds.set_response("/fast", b"ok")
    waiter = asyncio.create_task(feeds.wait_for_requests(2, timeout=WAIT, path="/fast"))
    async with httpx.AsyncClient(base_url=feeds.url) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/slow", timeout=0.1)
        await client.get("/fast")
        await asyncio.sleep(0.05)
        await client.get("/fast")
    first, second = await waiter
    assert second.time - first.time >= 0.05
    with pytest.raises(AssertionError, match="expected 3 request"):
        await feeds.wait_for_requests(3, timeout=0.05, path="/fast")


async def test_send_document_records_the_uploaded_file(bot: Bot, api: FakeBotAPI) -> None:
    """A multipart upload through PTB: the file's name, bytes, type and caption are recorded
    and the answer is a document message; an empty file or too long a caption is refused."""
    api.user_sends(CHAT, "hi")
    content = "# Überschrift 论文\n".encode()
    message = await bot.send_document(
        CHAT, content, filename="digest.md", caption="2 papers", message_thread_id=5
    )
    (document,) = api.documents_to(CHAT)
    assert (document.file_name, document.content, document.caption) == (
        "digest.md",
        content,
        "2 papers",
    )
    assert document.message_thread_id == 5
    assert document.mime_type == "text/markdown"
    assert message.document is not None
    assert (message.document.file_name, message.document.file_size) == ("digest.md", len(content))
    with pytest.raises(BadRequest, match=r"(?i)file must be non-empty"):
        await bot.send_document(CHAT, b"", filename="empty.md")
    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await bot.send_document(CHAT, b"x", filename="x.md", caption="c" * 1025)
    assert len(api.documents) == 1
