"""Two languages: the catalogs are complete, the language follows the chat, Chinese is
spoken everywhere to a Chinese user and English is untouched for everyone else."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from bot.delivery.digest import render_parts
from bot.i18n import texts
from bot.i18n import translate as i18n
from bot.i18n.translate import CHINESE, ENGLISH, language_for, parse_language, translator
from bot.models import Hit, Paper
from tests.conftest import USER, BotUnderTest, StartBot

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "bot" / "i18n" / "locale"
ZH_PO = LOCALE / "zh_Hans" / "LC_MESSAGES" / "messages.po"
HAN = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"\{[^{}]*\}|%[sd]")
# The tags of Telegram's HTML mode (command descriptions are plain text: "<query>" is no tag).
TAG = re.compile(r"</?(?:b|strong|i|em|u|ins|s|strike|del|a|code|pre|blockquote|tg-[a-z]+)\b[^>]*>")
ZH = {"language_code": "zh-hans"}


def extracted() -> dict[str | tuple[str, ...], str]:
    """Every marked text of bot/, found as `pybabel extract -F babel.cfg` finds it."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config, "babel.cfg")
    return {
        message: f"{path}:{line}"
        for path, line, message, _, _ in extract_from_dir(str(ROOT), method_map, options_map)
    }


def zh_catalog() -> dict[str | tuple[str, ...], tuple[str, ...]]:
    with ZH_PO.open("rb") as po:
        catalog = read_po(po, locale="zh_Hans")
    return {
        message.id: (message.string,) if isinstance(message.string, str) else message.string
        for message in catalog
        if message.id and not message.fuzzy
    }


def has_chinese(text: str) -> bool:
    return HAN.search(text) is not None


# --- the catalogs --------------------------------------------------------------------------


def test_every_text_has_a_chinese_translation_with_the_same_placeholders_and_tags() -> None:
    """Each text marked in bot/ has a non-fuzzy, non-empty zh translation that keeps its
    {placeholders} and HTML tags; to fix a failure, follow the steps at the top of texts.py."""
    catalog = zh_catalog()
    found = extracted()
    assert len(found) > 80
    problems = []
    for message, where in found.items():
        english = message if isinstance(message, tuple) else (message,)
        translations = catalog.get(message, ())
        if not translations or not all(t.strip() for t in translations):
            problems.append(f"{where}: no Chinese translation for {english[0]!r}")
            continue
        for chinese in translations:
            if sorted(PLACEHOLDER.findall(chinese)) != sorted(PLACEHOLDER.findall(english[0])):
                problems.append(f"{where}: placeholders differ in {chinese!r}")
            if sorted(TAG.findall(chinese)) != sorted(TAG.findall(english[0])):
                problems.append(f"{where}: HTML tags differ in {chinese!r}")
    assert problems == []


def test_template_is_up_to_date_with_the_code() -> None:
    """bot/i18n/locale/messages.pot holds exactly the texts marked in bot/ (re-extract if not)."""
    with (LOCALE / "messages.pot").open("rb") as pot:
        template = {message.id for message in read_po(pot) if message.id}
    assert template == set(extracted())


def test_chinese_catalog_keeps_no_translation_of_a_removed_text() -> None:
    """A text removed from the code leaves no live entry behind in the zh catalog."""
    assert set(zh_catalog()) <= set(extracted())


def test_texts_are_translated_and_filled_in_chinese_and_left_alone_in_english() -> None:
    """English is the msgid itself; Chinese comes from the catalog; placeholders are filled."""
    assert translator(ENGLISH)(texts.DIGEST_AT, time="08:00", timezone="UTC") == (
        "Daily digest at 08:00 (UTC)."
    )
    assert translator(CHINESE)(texts.DIGEST_AT, time="08:00", timezone="UTC") == (
        "每日推送时间：08:00（UTC）。"
    )
    assert translator(CHINESE).plural(texts.PAPERS, 2) == "2 篇论文"
    assert translator(ENGLISH).plural(texts.PAPERS, 1) == "1 paper"
    assert translator("klingon")(texts.SAVED) == "Saved."


# --- choosing the language -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "language"),
    [
        ("zh", CHINESE),
        ("zh-hans", CHINESE),
        ("zh-CN", CHINESE),
        ("zh-sg", CHINESE),
        ("zh-hant", CHINESE),
        ("zh-TW", CHINESE),
        ("zh_HK", CHINESE),
        ("en", ENGLISH),
        ("en-GB", ENGLISH),
        ("de", ENGLISH),
        ("", ENGLISH),
        (None, ENGLISH),
        ("zhx", ENGLISH),
    ],
)
def test_telegram_language_code_maps_to_a_bot_language(code: str | None, language: str) -> None:
    """Every Chinese tag (Simplified or Traditional) gets Chinese, anything else English."""
    assert language_for(code) == language


def test_lang_arguments_are_understood_in_both_languages() -> None:
    """/lang accepts codes and names in either language, and nothing else."""
    for typed in ("zh", "ZH-Hans", "中文", "Chinese", "简体中文"):
        assert parse_language(typed) == CHINESE
    for typed in ("en", "English", "英文", "en-GB"):
        assert parse_language(typed) == ENGLISH
    assert parse_language("fr") is None


# --- digests -------------------------------------------------------------------------------


def paper(arxiv_id: str, announced: dt.date, **changes: object) -> Paper:
    fields: dict[str, object] = {
        "arxiv_id": arxiv_id,
        "title": "Diffusion models for everything",
        "authors": ("A. One", "B. Two", "C. Three", "D. Four"),
        "abstract": "We diffuse.",
        "categories": ("cs.LG", "cs.AI"),
        "announced": announced,
    }
    fields.update(changes)
    return Paper(**fields)  # type: ignore[arg-type]


def test_chinese_digest_header_names_the_days_and_count_in_chinese() -> None:
    """A Chinese digest's header: its heading, the range of days with the year first, and
    the count; papers' marks and "et al." are in Chinese too."""
    days = [dt.date(2024, 3, 8), dt.date(2024, 3, 11)]
    hits = [
        Hit(paper("2403.00001", days[0], announce_type="cross"), ("diffusion",)),
        Hit(paper("2403.00002", days[1], announce_type="replace", version=2), ("diffusion",)),
    ]
    [part] = render_parts(hits, days=days, tr=translator(CHINESE))
    header = part.text.split("\n")[:2]
    assert header == ["<b>arXiv 论文速递</b>", "2024年3月8日周五 \u2013 3月11日周一 · 2 篇论文"]
    assert "A. One, B. Two, C. Three 等" in part.text
    assert "从 cs.LG 交叉列出" in part.text
    assert "修订版 v2" in part.text
    assert "匹配：diffusion" in part.text


def test_english_digest_is_unchanged_by_the_translator() -> None:
    """The English translator renders exactly what the default does."""
    days = [dt.date(2024, 3, 8), dt.date(2024, 3, 11)]
    hits = [Hit(paper("2403.00001", days[0]), ("diffusion",))]
    english = render_parts(hits, days=days, tr=translator(ENGLISH))
    assert english == render_parts(hits, days=days)
    header = "<b>arXiv digest</b>\nFri 8 Mar \u2013 Mon 11 Mar 2024 · 1 paper"
    assert english[0].text.startswith(header)


def test_catalog_is_read_from_the_installed_package() -> None:
    """The .po travels inside the bot package (package data), not beside the repository."""
    assert b'msgid "Saved."' in i18n._catalog_bytes(CHINESE)


# --- through the fake Bot API --------------------------------------------------------------


async def test_command_menu_is_registered_in_english_and_chinese(bot: BotUnderTest) -> None:
    """setMyCommands: the default menu in English, and one for language_code "zh"."""
    english = bot.telegram.commands_for()
    chinese = bot.telegram.commands_for(language_code="zh")
    assert [c["command"] for c in english] == [c["command"] for c in chinese]
    assert [c["command"] for c in english] == [name for name, _ in texts.COMMANDS]
    assert "lang" in [c["command"] for c in english]
    assert english[0]["description"] == 'Follow a keyword or "phrase"'
    assert all(has_chinese(c["description"]) for c in chinese)


async def test_chinese_user_gets_chinese_replies(bot: BotUnderTest) -> None:
    """A user whose Telegram speaks zh-hans gets /start, /help, /subscribe (its usage error
    too), /list and the /settings buttons in Chinese."""
    (welcome,) = await bot.ask("/start", **ZH)
    assert "欢迎使用 arXiv 论文速递" in welcome.plain_text
    assert "08:00（UTC）" in welcome.plain_text
    (help_text,) = await bot.ask("/help", **ZH)
    assert help_text.plain_text.startswith("命令\n")
    assert "/lang — 我的语言" in help_text.plain_text
    (usage,) = await bot.ask("/subscribe", **ZH)
    assert usage.plain_text.startswith("用法：/subscribe diffusion")
    (limit,) = await bot.ask("/latest 0", **ZH)
    assert limit.plain_text.startswith("用法：/latest")
    (subscribed,) = await bot.ask("/subscribe diffusion", **ZH)
    assert subscribed.plain_text.startswith("已关注 diffusion。")
    assert "篇论文中有" in subscribed.plain_text
    assert "你关注了 1 个关键词" in subscribed.plain_text
    (listing,) = await bot.ask("/list", **ZH)
    assert listing.plain_text.startswith("你关注了 1 个关键词：\n1. diffusion")
    (settings,) = await bot.ask("/settings", **ZH)
    assert settings.plain_text.startswith("推送中包含哪些公告？")
    buttons = [b["text"] for b in settings.buttons]
    assert buttons == ["✅ 新论文", "✅ 交叉列出", "⬜ 修订版", "⬜ 无匹配时告诉我"]
    (error,) = await bot.ask("/subscribe diffusion, (flow", **ZH)
    unbalanced = "在“(flow”中：括号不成对：第 1 个字符处的 ( 没有闭合。"
    assert error.plain_text.startswith(unbalanced + "\n用法：")
    (unknown,) = await bot.ask("/frobnicate", **ZH)
    assert unknown.plain_text == "我不认识命令 /frobnicate。/help 列出我能做的事。"


async def test_chinese_digest_and_more_button(start_bot: StartBot) -> None:
    """A Chinese chat's digest has a Chinese header (dates and count) and "More" button."""
    async with start_bot(max_digest_messages=1) as bot:
        await bot.wait_for_papers(86)
        await bot.ask('/subscribe "large language model"', **ZH)
        bot.telegram.user_sends(USER, "/digest", **ZH)
        messages = await bot.settle()
        everything = await bot.press_more()
    digest = [m for m in messages if m.plain_text.startswith("arXiv 论文速递\n")]
    assert digest
    assert re.match(r"arXiv 论文速递\n\d{4}年\d+月\d+日周. · \d+ 篇论文", digest[0].plain_text)
    with_button = [m for m in messages if m.callback_data]
    assert with_button
    assert re.fullmatch(r"更多（2/\d+）", with_button[-1].buttons[0]["text"])
    assert len(everything) > len(messages)
    assert not any(m.plain_text.startswith("arXiv digest") for m in everything)


async def test_lang_switches_to_english_and_back(bot: BotUnderTest) -> None:
    """/lang en makes a Chinese chat English, /lang zh Chinese again; the choice sticks."""
    (current,) = await bot.ask("/lang", **ZH)
    assert current.plain_text.startswith("我在这个聊天中使用简体中文")
    assert [b["text"] for b in current.buttons] == ["English", "✅ 简体中文"]
    (switched,) = await bot.ask("/lang en", **ZH)
    assert switched.plain_text.startswith("From now on I speak English")
    (welcome,) = await bot.ask("/start", **ZH)  # the chat's choice beats the app's language
    assert welcome.plain_text.startswith("Welcome to arXiv digest!")
    (back,) = await bot.ask("/lang 中文", **ZH)
    assert back.plain_text.startswith("从现在起，我在这个聊天中使用简体中文")
    (nonsense,) = await bot.ask("/lang klingon")
    assert nonsense.plain_text.startswith("我不认识语言 klingon")
    assert await bot.services.store.language_of(USER) == CHINESE


async def test_lang_buttons_switch_the_language(bot: BotUnderTest) -> None:
    """Pressing "English" under /lang switches and redraws the message in English."""
    (current,) = await bot.ask("/lang", **ZH)
    edits = len(bot.telegram.calls_to("editMessageText"))
    bot.telegram.press_button(USER, current.message_id, "lang:en")
    await bot.telegram.wait_for_call("editMessageText", count=edits + 1)
    assert await bot.services.store.language_of(USER) == ENGLISH
    (edit,) = bot.telegram.calls_to("editMessageText")[edits:]
    assert str(edit["text"]).startswith("I speak English with this chat.")


async def test_english_user_is_unaffected(bot: BotUnderTest) -> None:
    """An English (or any non-Chinese) user gets the English texts, and the chat stays
    English when a Chinese user writes in it later."""
    (welcome,) = await bot.ask("/start", language_code="de")
    assert welcome.plain_text.startswith("Welcome to arXiv digest!")
    (again,) = await bot.ask("/help", **ZH)
    assert again.plain_text.startswith("Commands\n")
    assert not has_chinese(again.plain_text.replace("中文", ""))


async def test_categories_names_arxivs_categories_in_chinese(bot: BotUnderTest) -> None:
    """After /lang zh, /categories names the chat's categories and an archive in Chinese,
    and /categories list names arXiv's archives and a chosen archive's categories so."""
    await bot.ask("/lang zh")
    (chosen,) = await bot.ask("/categories cs.lg math")
    assert "• cs.LG（机器学习）\n• math（数学：所有分类）" in chosen.plain_text
    (shown,) = await bot.ask("/categories")
    assert "你自选的分类" in shown.plain_text
    assert "• cs.LG（机器学习）" in shown.plain_text
    (archives,) = await bot.ask("/categories list")
    assert "cs 计算机科学（40）" in archives.plain_text
    assert "hep-th 高能物理—理论" in archives.plain_text
    (physics,) = await bot.ask("/categories list physics")
    assert physics.plain_text.startswith("physics（物理学：所有分类）\n")
    assert "physics.optics 光学" in physics.plain_text
    assert "Physics" not in physics.plain_text


async def test_search_errors_are_in_the_chats_language(bot: BotUnderTest) -> None:
    """/search explains a query arXiv cannot run in Chinese to a Chinese chat, in English to
    an English one."""
    (chinese,) = await bot.ask("/search cat:cs.*", **ZH)
    assert chinese.plain_text.startswith("arXiv 的搜索不支持通配符：请不要用 cat:cs.*")
    (english,) = await bot.ask("/search cat:cs.*", chat_id=USER + 1)
    assert english.plain_text.startswith("arXiv's search has no wildcards: instead of cat:cs.*")


async def test_scheduled_digest_uses_the_stored_language(bot: BotUnderTest) -> None:
    """The daily digest job has no user update to read a language from: it speaks the
    chat's stored one."""
    await bot.ask('/subscribe "large language model"', **ZH)
    before = len(bot.telegram.messages_to(USER))
    await bot.run_job(f"digest:{USER}")
    digest = (await bot.settle())[before:]
    assert digest
    assert digest[0].plain_text.startswith("arXiv 论文速递\n")


async def test_settings_button_answers_and_redraws_in_chinese(bot: BotUnderTest) -> None:
    """Pressing a /settings toggle in a Chinese chat answers "已保存。" and keeps the
    buttons in Chinese."""
    (settings,) = await bot.ask("/settings", **ZH)
    edits = len(bot.telegram.calls_to("editMessageReplyMarkup"))
    bot.telegram.press_button(USER, settings.message_id, "settings:revisions")
    await bot.telegram.wait_for_call("editMessageReplyMarkup", count=edits + 1)
    (answer,) = bot.telegram.calls_to("answerCallbackQuery")[-1:]
    assert answer["text"] == "已保存。"
    markup = bot.telegram.calls_to("editMessageReplyMarkup")[-1]["reply_markup"]
    assert "✅ 修订版" in str(markup)
