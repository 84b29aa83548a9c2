"""Two languages: English (the msgids) and Simplified Chinese (a gettext catalog).

The English texts in the code are the message ids, marked with `bot.messages.N_` for
extraction (`pybabel extract`, see babel.cfg). A `Translator` turns a message id into the
chat's language at the moment of use, and fills its `{placeholders}`.

The Chinese catalog is the `.po` file itself, read with babel at first use: no compiled
`.mo` (a binary build product) is kept in the repository or made by a build hook, and
`pip install .` ships the `.po` as package data.
"""

from __future__ import annotations

import datetime as dt
import functools
import gettext
import io
from dataclasses import dataclass
from importlib import resources
from typing import Any

from babel.dates import format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from bot.arxiv import calendar as arxiv_calendar

ENGLISH, CHINESE = "en", "zh"
LANGUAGES = {ENGLISH: "English", CHINESE: "简体中文"}
DEFAULT = ENGLISH
# The catalog folder of each language (a CLDR locale name); English needs none.
_LOCALE_DIRS = {CHINESE: "zh_Hans"}
_BABEL_LOCALES = {ENGLISH: "en", CHINESE: "zh_Hans"}
# Telegram's language_code is an IETF tag ("zh-hans", "zh-TW", "en-GB"). Every Chinese tag is
# served Simplified Chinese, Traditional ones included: a reader of zh-Hant reads it far more
# easily than English, and there is no Traditional catalog (yet).
_CHINESE_PREFIX = "zh"


def language_for(language_code: str | None) -> str:
    """The bot's language for a Telegram user's language_code: "zh" for any Chinese tag
    (zh, zh-hans, zh-CN, zh-SG, zh-hant, zh-TW…), else English."""
    tag = (language_code or "").strip().replace("_", "-").casefold()
    return CHINESE if tag.split("-", 1)[0] == _CHINESE_PREFIX else ENGLISH


def parse_language(text: str) -> str | None:
    """A language a user typed (`/lang zh`, `/lang 中文`, `/lang English`), or None."""
    word = text.strip().replace("_", "-").casefold()
    if word.split("-", 1)[0] in ("en", "eng", "english", "英文", "英语"):
        return ENGLISH
    if word in ("中文", "简体中文", "汉语", "chinese") or language_for(word) == CHINESE:
        return CHINESE
    return None


def _catalog_bytes(language: str) -> bytes:
    folder = _LOCALE_DIRS[language]
    path = resources.files("bot.i18n") / "locale" / folder / "LC_MESSAGES" / "messages.po"
    return path.read_bytes()


@functools.cache
def _translations(language: str) -> gettext.NullTranslations:
    """The catalog of a language, read from its .po (fuzzy entries are left out)."""
    if language not in _LOCALE_DIRS:
        return gettext.NullTranslations()
    catalog = read_po(io.BytesIO(_catalog_bytes(language)), locale=_BABEL_LOCALES[language])
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled)


@dataclass(frozen=True, slots=True)
class Translator:
    """Texts in one language: `tr(texts.START, time="08:00")`."""

    language: str = DEFAULT

    def __call__(self, message: str, /, **params: Any) -> str:
        """The message in this language, with `{name}` placeholders filled when given."""
        text = _translations(self.language).gettext(message)
        return text.format(**params) if params else text

    def plural(self, forms: tuple[str, str], count: int, /, **params: Any) -> str:
        """The singular or plural form (from `NP_`) for `count`, filled with count and params."""
        text = _translations(self.language).ngettext(forms[0], forms[1], count)
        return text.format(count=count, **params)

    @property
    def year_first(self) -> bool:
        """Whether a range of days carries its year on its first day, as Chinese writes it."""
        return self.language == CHINESE

    def day(self, day: dt.date, *, with_year: bool = False) -> str:
        """A day in a digest header: "Fri 8 Mar 2024" / "2024年3月8日周五"."""
        if self.language == ENGLISH:  # the bot's own English layout, not CLDR's "Fri, Mar 8"
            return arxiv_calendar.format_day(day, with_year=with_year)
        return _cldr_day(self.language, day, with_year)


# Cached: babel matches the skeleton to the locale's patterns anew on every call (~0.1 ms), and
# every digest header in Chinese names the same few days.
@functools.lru_cache(maxsize=1024)
def _cldr_day(language: str, day: dt.date, with_year: bool) -> str:
    """A day in the locale's own layout, from babel (CLDR)."""
    skeleton = "yMMMdE" if with_year else "MMMdE"
    return format_skeleton(skeleton, day, locale=_BABEL_LOCALES[language])


def translator(language: str | None) -> Translator:
    """The translator of a stored language; unknown or missing languages get English."""
    return Translator(language if language in LANGUAGES else DEFAULT)


ENGLISH_TEXTS = Translator(ENGLISH)
