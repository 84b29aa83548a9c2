"""Chinese as a Chinese researcher reads it: every reply and every digest holds no English word
beyond what a user types or reads as it is (commands, field prefixes, query examples, proper
names) and the papers' own content; "digest" is 推送 everywhere and 摘要 means only "abstract"."""

from __future__ import annotations

import datetime as dt
import re

from bot.arxiv.categories import ARCHIVES, CATEGORIES, UnknownCategory, suggestions
from bot.delivery.digest import render_parts
from bot.i18n import category_texts
from bot.i18n.translate import CHINESE, translator
from bot.models import Hit, Match, Paper
from tests.i18n.test_i18n import TAG, paper, zh_catalog

# Typed or read as they are, in any language.
PROPER_NAMES = {
    "arXiv", "Telegram", "LaTeX", "Markdown", "HTTP", "IANA", "UTC", "ID", "HH", "MM",
    "English",  # the language's own name, offered beside 中文 by /lang
    "General",  # Telegram's name of a group's first topic, after its Chinese name
    "link",  # the export's " * link:" lines, laid out as tests/fixtures/examples/digest-excerpt.md
}  # fmt: skip
OPERATORS = {"OR", "NOT", "AND"}  # of the query language, typed as they are
# The query language's examples in error messages, which the user types as they are.
QUERY_EXAMPLES = {"diffusion", "medical", "video", "organ", "GAN", "hinton", "diffus"}
CODE = re.compile(r"<code>.*?</code>|<pre>.*?</pre>", re.DOTALL)
PLACEHOLDER = re.compile(r"\{[^{}]*\}")
COMMAND = re.compile(r"/[a-z_]+(?:@\w+)?")
FIELD_PREFIX = re.compile(r"\b(?:ti|abs|au|cat):")
ARXIV_ID = re.compile(r"\b(?:\d{4}\.\d{4,5}|[a-z-]+/\d{7})(?:v\d+)?\b")
TIME_ZONE = re.compile(r"\b[A-Z][a-z]+/[A-Za-z_]+")
# arXiv's category and archive codes (cs.LG, hep-th, math), longest first.
CODES = re.compile(
    r"(?<![\w.-])(?:"
    + "|".join(map(re.escape, sorted({*CATEGORIES, *ARCHIVES}, key=len, reverse=True)))
    + r")(?:\.\*)?(?![\w-])"
)
QUOTED_EXAMPLE = re.compile(r'"[^"\n]*"')  # a query's "phrase", typed as it is
WORD = re.compile(r"[A-Za-z]{2,}")


def english_words(text: str) -> list[str]:
    """The English words of a Chinese text that are not allowed there."""
    for pattern in (
        CODE,
        TAG,
        QUOTED_EXAMPLE,
        PLACEHOLDER,
        COMMAND,
        FIELD_PREFIX,
        ARXIV_ID,
        TIME_ZONE,
        CODES,
    ):
        text = pattern.sub(" ", text)
    allowed = PROPER_NAMES | OPERATORS | QUERY_EXAMPLES
    return [word for word in WORD.findall(text) if word not in allowed]


def test_the_checker_finds_english_and_lets_through_what_is_typed_as_it_is() -> None:
    """The check itself: an English word is found; commands, code, placeholders, field
    prefixes, categories, arXiv ids and proper names are not."""
    assert english_words("匹配：diffusion — title, abstract") == ["title", "abstract"]
    assert english_words("每日 digest 时间") == ["digest"]
    assert (
        english_words(
            "用 <code>/categories cs.LG math.ST</code> 选择，/help 列出；{count} 篇；"
            "ti: abs: 见 hep-th 与 2403.05135v2；arXiv 与 Telegram"
        )
        == []
    )


def test_no_chinese_text_holds_an_english_word() -> None:
    """Every Chinese reply the bot can send (its whole catalog) reads as Chinese: no English
    word other than commands, code, field prefixes, categories, query examples and names."""
    found = {
        message_id if isinstance(message_id, str) else message_id[0]: words
        for message_id, strings in zh_catalog().items()
        for words in [sorted({w for s in strings for w in english_words(s)})]
        if words
    }
    assert found == {}


def test_digest_is_called_tuisong_and_abstract_zhaiyao() -> None:
    """One term for "digest" (推送), never 摘要, which is kept for "abstract" (abs:); arXiv's
    cross-lists are 交叉列出 and withdrawn papers 已撤稿."""
    catalog = {
        (message_id if isinstance(message_id, str) else message_id[0]): "".join(strings)
        for message_id, strings in zh_catalog().items()
    }
    for message_id, text in catalog.items():
        if "摘要" in text:
            assert re.search(r"abstract", message_id, re.IGNORECASE), (message_id, text)
        if re.search(r"\bdigest", message_id, re.IGNORECASE):
            assert "推送" in text or "速递" in text, (message_id, text)
        if re.search(r"cross-list", message_id, re.IGNORECASE):
            assert "交叉列出" in text, (message_id, text)
    assert catalog["withdrawn"] == "已撤稿"
    assert catalog["arXiv digest"] == "arXiv 论文速递"


# Content in Chinese, so that any English left in a digest is the bot's.
CHINESE_CONTENT: dict[str, object] = {
    "title": "扩散模型的一切",
    "authors": ("张三", "李四", "王五", "赵六"),
    "abstract": "我们研究扩散。",
    "categories": ("cs.CV", "cs.LG"),
}


def _paper(arxiv_id: str, **changes: object) -> Paper:
    """A paper whose own content is Chinese (test_i18n's `paper`, its texts replaced)."""
    return paper(arxiv_id, dt.date(2024, 3, 8), **(CHINESE_CONTENT | changes))


def test_a_chinese_digest_shows_no_english_beyond_the_papers() -> None:
    """A Chinese digest with every kind of paper (new, cross-listed, revised, withdrawn) and
    matches in every field: its header, marks, "why it matched" lines and buttons' texts hold
    no English word; the fields are named in Chinese (标题、摘要)."""
    every_field = ("title", "abstract", "authors", "categories")
    hits = [
        Hit(_paper("2403.00001"), ("扩散",), (Match("扩散", every_field),)),
        Hit(_paper("2403.00002", announce_type="cross"), ("扩散",), (Match("扩散", ("title",)),)),
        Hit(
            _paper("2403.00003", announce_type="replace", version=3),
            ("扩散", "模型"),
            (Match("扩散", ("title", "abstract")), Match("模型", ("abstract",))),
        ),
        Hit(_paper("2403.00004", announce_type="replace-cross", version=2), ("扩散",)),
        Hit(_paper("2403.00005", withdrawn=True, version=4), ("扩散",)),
    ]
    days = [dt.date(2024, 3, 8), dt.date(2024, 3, 11)]
    parts = render_parts(hits, days=days, tr=translator(CHINESE))
    text = "\n".join(part.text for part in parts)
    assert "匹配：扩散 — 标题、摘要、作者、分类" in text
    assert "扩散 — 标题、摘要；模型 — 摘要" in text
    assert "arXiv 论文速递" in text
    links = re.compile(r'<a href="[^"]*">')
    assert english_words(links.sub(" ", text)) == []


def test_categories_in_chinese_name_every_category_and_archive_in_chinese() -> None:
    """/categories in a Chinese chat — the default and a chosen list with an archive, arXiv's
    archives, each archive's categories, unknown names — names every arXiv category and
    archive in Chinese, in full-width brackets; only the codes stay as arXiv spells them."""
    tr = translator(CHINESE)
    default = category_texts.chat_categories(None, ("cs.AI", "cs.CL"), tr=tr)
    assert "• cs.AI（人工智能）\n• cs.CL（计算与语言）" in default
    chosen = category_texts.chat_categories(("cs.CV", "math", "hep-th"), ("cs.AI",), "完成。", tr)
    assert chosen.startswith("完成。你的推送和 /latest 读取你自选的分类：\n")
    assert "• cs.CV（计算机视觉与模式识别）" in chosen
    assert "• math（数学：所有分类）" in chosen
    assert "• hep-th（高能物理—理论）" in chosen
    archives = category_texts.taxonomy(None, tr)
    assert "<code>cs</code> 计算机科学（40）" in archives
    assert "<code>hep-th</code> 高能物理—理论、<code>math-ph</code> 数学物理" in archives
    physics = category_texts.taxonomy("physics", tr)
    assert physics.startswith("<b>physics（物理学：所有分类）</b>")
    assert "<code>physics.optics</code> 光学" in physics
    computer_science = category_texts.taxonomy("cs", tr)
    assert "<code>cs.LG</code> 机器学习" in computer_science
    refused = {
        given: category_texts.unknown_category(UnknownCategory(given, suggestions(given)), tr)
        for given in ("cs.ML", "hep-tj", "astro")
    }
    assert refused["cs.ML"].startswith("<b>cs.ML</b> 不是 arXiv 分类。你是指 stat.ML、cs.MS、")
    listings = [category_texts.taxonomy(archive, tr) for archive in (*ARCHIVES, "量子")]
    shown = [default, chosen, archives, *listings]
    shown += [text.replace(f"<b>{given}</b>", "") for given, text in refused.items()]  # as typed
    for text in shown:
        assert english_words(text) == [], text
    everything = "\n".join(listings)
    assert all(f"<code>{code}</code> " in everything for code in CATEGORIES if "." in code)
