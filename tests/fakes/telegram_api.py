"""A small, honest fake of the Telegram Bot API, served by aiohttp on 127.0.0.1.

It behaves like api.telegram.org for the methods the bot uses: the same URL layout
(``/bot<token>/<method>``), the same request encodings, the same ``{"ok": ...}`` envelopes and
HTTP statuses, long polling with offset confirmation, and Telegram's validation of message text
(HTML entity parsing as tdlib does it, the 4096 UTF-16 code unit limit). It is the referee of the
end-to-end tests, so it never shares code with the bot.

Telegram's flood limits are opt-in (``enforce_rate_limits``): about 30 messages a second in
all, about one a second per private chat and 20 a minute per group, checked as sliding windows
over the moments sends and edits arrive. A request over a limit is answered 429 "Too Many
Requests: retry after N", as Telegram does, and counts as a violation: the bot broke a rule.
Telegram promises no token bucket; its strict sliding-window mode (``strict=True``) is the
harshest server the docs allow: closed windows (two messages exactly a second apart share one),
and each request seen only after a random network delay, as on a real network, so that a
client which spaces its requests on its own clock alone cannot squeeze one more into a window.

Deliberate deviation: Telegram silently keeps a bare ``&`` (or an unknown entity such as
``&nbsp;``) as literal text, although its docs require escaping it. By default this fake
rejects it (``strict_entities=True``) so escaping bugs surface in tests; pass
``strict_entities=False`` to get tdlib's lenient behaviour.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import string
import time
from collections import deque
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

JSONDict = dict[str, Any]

DEFAULT_TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuv"
BOT_USERNAME = "arxiv_digest_test_bot"
# Upper bound on waiting for what the bot sends (never a pause): generous, for a slow, shared
# machine running two suites at once; a wait ends as soon as its condition holds.
WAIT = 30.0
BOT_FIRST_NAME = "arXiv Digest (test)"
# The sender of group messages when a test does not name one.
DEFAULT_GROUP_USER_ID = 1_000_001
# The user Telegram shows as the sender of an anonymous group admin's messages.
GROUP_ANONYMOUS_BOT_ID = 1_087_968_824
MAX_MESSAGE_UTF16 = 4096
MAX_CALLBACK_DATA_BYTES = 64

__all__ = [
    "BOT_USERNAME",
    "DEFAULT_TOKEN",
    "MAX_MESSAGE_UTF16",
    "FakeBotAPI",
    "RateLimitHit",
    "RateLimits",
    "SentDocument",
    "SentMessage",
    "TelegramParseError",
    "parse_message_text",
    "telegram_visible_text",
    "utf16_len",
]


# --------------------------------------------------------------------------------------------
# Text measurement and Telegram's HTML parser (a port of tdlib's parse_html rules)
# --------------------------------------------------------------------------------------------


class TelegramParseError(ValueError):
    """Raised when text is not valid Telegram HTML; ``str(err)`` is tdlib's reason."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of all Telegram limits and offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# td::is_space; NUL is included because tdlib reads the terminating NUL as the end of the text.
_SPACES = frozenset(" \t\r\n\0\v")
_END = "\0"
_ALPHA = frozenset(string.ascii_letters)
_DIGITS = frozenset(string.digits)
_HEX_DIGITS = frozenset(string.hexdigits)
_ALNUM = _ALPHA | _DIGITS
_ATTRIBUTE_NAME_STOP = frozenset("=>/\"'")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_LINK_SCHEMES = frozenset({"http", "https", "tg", "ton", "tonsite"})


def _ascii_lower(text: str) -> str:
    # tdlib's to_lower only folds ASCII; str.lower() would also fold e.g. "İ".
    return text.translate(str.maketrans(string.ascii_uppercase, string.ascii_lowercase))


def _decode_entity(src: str, pos: int) -> tuple[str, int, bool] | None:
    """Decode the HTML entity at ``src[pos] == "&"`` like tdlib's decode_html_entity.

    Returns (character, position after the entity, whether it ended with ";"), or None.
    """

    def at(i: int) -> str:
        return src[i] if i < len(src) else _END

    end = pos + 1
    if at(end) == "#":
        end += 1
        hexadecimal = at(end) == "x"  # tdlib accepts only a lowercase "x"
        if hexadecimal:
            end += 1
        digits = _HEX_DIGITS if hexadecimal else _DIGITS
        start = end
        while at(end) in digits:
            end += 1
        code = int(src[start:end], 16 if hexadecimal else 10) if end > start else 0
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return None
        char = chr(code)
    else:
        while at(end) in _ALPHA:
            end += 1
        named = _NAMED_ENTITIES.get(src[pos + 1 : end])
        if named is None:
            return None
        char = named
    if at(end) == ";":
        return char, end + 1, True
    return char, end, False


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_offset: int
    out_index: int


class _HtmlParser:
    """One pass over Telegram HTML, producing the visible text and the message entities."""

    def __init__(self, src: str, *, strict_entities: bool) -> None:
        self.src = src
        self.strict_entities = strict_entities
        self.pos = 0
        self.out: list[str] = []
        self.utf16 = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[JSONDict] = []

    def at(self, i: int) -> str:
        return self.src[i] if i < len(self.src) else _END

    def byte_offset(self, i: int) -> int:
        # tdlib reports UTF-8 byte offsets into the original text.
        return len(self.src[:i].encode("utf-8", "surrogatepass"))

    def fail(self, reason: str) -> TelegramParseError:
        return TelegramParseError(reason)

    def parse(self) -> tuple[str, list[JSONDict]]:
        while self.pos < len(self.src):
            char = self.src[self.pos]
            if char == "&" and self._entity():
                continue
            if char != "<":
                self._emit(char)
                self.pos += 1
            elif self.at(self.pos + 1) == "/":
                self._end_tag()
            else:
                self._start_tag()
        if self.stack:
            raise self.fail(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"'
            )
        text = "".join(self.out)
        if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
            raise self.fail(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            )
        for entity in self.entities:
            if entity["type"] == "code":
                entity.pop("language", None)
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return text, self.entities

    def _emit(self, char: str) -> None:
        self.out.append(char)
        self.utf16 += utf16_len(char)

    def _entity(self) -> bool:
        decoded = _decode_entity(self.src, self.pos)
        if self.strict_entities and (decoded is None or not decoded[2]):
            # Stricter than Telegram, see the module docstring.
            raise self.fail(
                f'Unescaped "&" or unsupported HTML entity at byte offset '
                f"{self.byte_offset(self.pos)}; only &lt; &gt; &amp; &quot; &#NN; &#xHH; "
                "are accepted"
            )
        if decoded is None:
            return False  # tdlib keeps the "&" as a literal character
        self._emit(decoded[0])
        self.pos = decoded[1]
        return True

    def _start_tag(self) -> None:
        begin = self.pos
        i = begin + 1
        while self.at(i) not in _SPACES and self.at(i) != ">":
            i += 1
        if self.at(i) == _END:
            raise self.fail(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
        name = _ascii_lower(self.src[begin + 1 : i])
        if name not in _SUPPORTED_TAGS:
            raise self.fail(
                f'Unsupported start tag "{name}" at byte offset {self.byte_offset(begin)}'
            )
        i, argument = self._attributes(name, begin, i)
        if name == "span" and argument != "spoiler":
            raise self.fail(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self.byte_offset(begin)}'
            )
        self.stack.append(_OpenTag(name, argument, self.utf16, len(self.out)))
        self.pos = i + 1

    def _attributes(self, tag: str, begin: int, i: int) -> tuple[int, str]:
        """Parse the attributes of a start tag; returns the index of ">" and the argument."""
        argument = ""
        while self.at(i) != ">":
            i = self._skip_spaces(i)
            if self.at(i) == ">":
                break
            name_begin = i
            while self.at(i) not in _SPACES and self.at(i) not in _ATTRIBUTE_NAME_STOP:
                i += 1
            attribute = self.src[name_begin:i]
            if not attribute:
                raise self.fail(
                    f'Empty attribute name in the tag "{tag}" at byte offset '
                    f"{self.byte_offset(begin)}"
                )
            i = self._skip_spaces(i)
            if self.at(i) != "=":
                if self.at(i) == _END:
                    raise self.fail(
                        f'Unclosed start tag "{tag}" at byte offset {self.byte_offset(begin)}'
                    )
                if tag == "blockquote" and attribute == "expandable":
                    argument = "1"
                continue  # a valueless attribute
            i = self._skip_spaces(i + 1)
            if self.at(i) == _END:
                raise self.fail(
                    f'Unclosed start tag "{tag}" at byte offset {self.byte_offset(begin)}'
                )
            i, value = self._attribute_value(i)
            if self.at(i) == _END:
                raise self.fail(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
            argument = _tag_argument(tag, attribute, value, argument)
        return i, argument

    def _skip_spaces(self, i: int) -> int:
        while self.at(i) != _END and self.at(i) in _SPACES:
            i += 1
        return i

    def _attribute_value(self, i: int) -> tuple[int, str]:
        quote = self.at(i)
        if quote not in ("'", '"'):
            # An unquoted name token: letters, digits, "." and "-", case-insensitive.
            begin = i
            while self.at(i) in _ALNUM or self.at(i) in ".-":
                i += 1
            if self.at(i) not in _SPACES and self.at(i) != ">":
                raise self.fail(
                    f"Unexpected end of name token at byte offset {self.byte_offset(begin)}"
                )
            return i, _ascii_lower(self.src[begin:i])
        i += 1
        value: list[str] = []
        while self.at(i) != quote and self.at(i) != _END:
            # Inside attribute values tdlib is lenient: a bare "&" stays literal.
            decoded = _decode_entity(self.src, i) if self.at(i) == "&" else None
            if decoded is not None:
                value.append(decoded[0])
                i = decoded[1]
            else:
                value.append(self.at(i))
                i += 1
        if self.at(i) == quote:
            i += 1
        return i, "".join(value)

    def _end_tag(self) -> None:
        begin = self.pos
        if not self.stack:
            raise self.fail(f"Unexpected end tag at byte offset {self.byte_offset(begin)}")
        i = begin + 2
        while self.at(i) not in _SPACES and self.at(i) != ">":
            i += 1
        end_name = _ascii_lower(self.src[begin + 2 : i])
        while self.at(i) in _SPACES and self.at(i) != _END:
            i += 1
        if self.at(i) != ">":
            raise self.fail(f"Unclosed end tag at byte offset {self.byte_offset(begin)}")
        open_tag = self.stack[-1]
        if end_name and end_name != open_tag.name:
            raise self.fail(
                f"Unmatched end tag at byte offset {self.byte_offset(begin)}, "
                f'expected "</{open_tag.name}>", found "</{end_name}>"'
            )
        if self.utf16 > open_tag.utf16_offset:
            self._add_entity(open_tag)
        self.stack.pop()
        self.pos = i + 1

    def _add_entity(self, tag: _OpenTag) -> None:
        offset, length = tag.utf16_offset, self.utf16 - tag.utf16_offset
        entity: JSONDict = {"offset": offset, "length": length}
        last = self.entities[-1] if self.entities else None
        same_span = last is not None and (last["offset"], last["length"]) == (offset, length)
        if tag.name in _SIMPLE_ENTITY_TYPES:
            entity["type"] = _SIMPLE_ENTITY_TYPES[tag.name]
        elif tag.name == "tg-emoji":
            if not _is_custom_emoji_id(tag.argument):
                raise self.fail("Invalid custom emoji identifier specified")
            entity.update(type="custom_emoji", custom_emoji_id=tag.argument)
        elif tag.name == "a":
            url = _checked_link(tag.argument or "".join(self.out[tag.out_index :]))
            if url is None:
                return  # Telegram drops links it cannot use, without an error
            entity.update(type="text_link", url=url)
        elif tag.name == "pre":
            if last is not None and same_span and last["type"] == "code" and last.get("language"):
                last["type"] = "pre"  # <code class="language-x"> inside <pre>
                return
            entity["type"] = "pre"
        elif tag.name == "code":
            if last is not None and same_span and last["type"] == "pre" and tag.argument:
                last["language"] = tag.argument
                return
            entity.update(type="code", language=tag.argument)
        else:  # blockquote
            entity["type"] = "expandable_blockquote" if tag.argument else "blockquote"
        self.entities.append(entity)


def _tag_argument(tag: str, attribute: str, value: str, current: str) -> str:
    """The tag's argument after one more attribute, by tdlib's rules (others are ignored)."""
    if tag == "a" and attribute == "href":
        return value
    if tag == "code" and attribute == "class" and value.startswith("language-"):
        return value.removeprefix("language-")
    if tag == "span" and attribute == "class" and value.startswith("tg-"):
        return value.removeprefix("tg-")
    if tag == "tg-emoji" and attribute == "emoji-id":
        return value
    if tag == "blockquote" and attribute == "expandable":
        return "1"
    return current


def _is_custom_emoji_id(text: str) -> bool:
    try:
        value = int(text)
    except ValueError:
        return False
    return value != 0 and -(2**63) <= value < 2**63


def _checked_link(url: str) -> str | None:
    """A simplified LinkManager::get_checked_link: a usable URL, or None to drop the link."""
    url = url.strip()
    if not url or any(c in _SPACES for c in url):
        return None
    match = _URL_SCHEME.match(url)
    if match is None:
        return f"http://{url}" if "." in url else None
    return url if match.group(0)[:-1].lower() in _LINK_SCHEMES else None


def _clean_char(char: str) -> str:
    """What tdlib's input cleaning makes of one character ("" means removed)."""
    code = ord(char)
    if char == "\r":
        return ""
    if code < 32 and char != "\n":
        return " "
    if 0x2028 <= code <= 0x202E or code in (0x030A, 0x0333, 0x033F):
        return ""
    return char


def _clean_and_trim(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    """Apply tdlib's cleaning and trimming of spaces/newlines, moving the entities along."""
    new_offset: list[int] = []  # original UTF-16 offset -> cleaned UTF-16 offset
    out: list[str] = []
    cursor = 0
    for char in text:
        new_offset.extend([cursor] * utf16_len(char))
        cleaned = _clean_char(char)
        out.append(cleaned)
        cursor += utf16_len(cleaned)
    new_offset.append(cursor)
    cleaned_text = "".join(out)
    stripped = cleaned_text.strip(" \n")
    lead = utf16_len(cleaned_text[: len(cleaned_text) - len(cleaned_text.lstrip(" \n"))])
    total = utf16_len(stripped)
    moved: list[JSONDict] = []
    for entity in entities:
        start = max(new_offset[entity["offset"]] - lead, 0)
        end = min(new_offset[entity["offset"] + entity["length"]] - lead, total)
        if end > start:
            moved.append({**entity, "offset": start, "length": end - start})
    return stripped, moved


def parse_message_text(
    text: str, parse_mode: str | None, *, strict_entities: bool = True
) -> tuple[str, list[JSONDict]]:
    """The text and entities Telegram would store for ``text`` sent with ``parse_mode``.

    Raises TelegramParseError for invalid HTML and ValueError for unsupported parse modes.
    """
    mode = (parse_mode or "").lower()
    if mode == "html":
        parsed, entities = _HtmlParser(text, strict_entities=strict_entities).parse()
    elif mode == "":
        parsed, entities = text, []
    else:
        raise ValueError(f"parse_mode {parse_mode!r} is not implemented by the fake")
    return _clean_and_trim(parsed, entities)


def telegram_visible_text(html: str, *, strict_entities: bool = True) -> str:
    """The text a user sees for an HTML message: tags removed, entities decoded, trimmed.

    Raises TelegramParseError where Telegram would answer "can't parse entities".
    """
    return parse_message_text(html, "HTML", strict_entities=strict_entities)[0]


# --------------------------------------------------------------------------------------------
# Request parameters
# --------------------------------------------------------------------------------------------

# Parameters Telegram reads as strings. Every other form value is JSON-decoded, because
# python-telegram-bot sends non-string values (ints, bools, dicts, lists) as JSON text while
# strings go as they are: text="123" must stay the string "123", chat_id="123" is the int 123.
_STRING_PARAMS = frozenset(
    {
        "action",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "custom_title",
        "description",
        "emoji",
        "first_name",
        "inline_message_id",
        "ip_address",
        "language_code",
        "last_name",
        "message_effect_id",
        "name",
        "parse_mode",
        "query",
        "secret_token",
        "short_description",
        "text",
        "title",
        "url",
    }
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_API_PATH = re.compile(r"/bot(?P<token>[^/]*)/(?P<method>[^/]*)")
_FILE_PATH = re.compile(r"/file/bot(?P<token>[^/]*)/.*")
_WELL_FORMED_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
_BOT_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")


def _decode_param(key: str, value: Any) -> Any:
    if not isinstance(value, str) or key in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # e.g. chat_id="@channelusername"


def _number_param(params: JSONDict, key: str) -> int | float | None:
    """A numeric parameter or None; a value Telegram cannot read as a number is a Bad Request."""
    value = params.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad_request(f"invalid {key} specified")
    return value


def _as_bool(value: Any) -> bool:
    return value is True or value == 1 or (isinstance(value, str) and value.lower() == "true")


class _ApiError(Exception):
    """An error answer: raised inside handlers, turned into Telegram's error envelope."""

    def __init__(
        self,
        code: int,
        description: str,
        *,
        parameters: JSONDict | None = None,
        violation: bool = True,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters
        # False for errors a test asked for (faults, blocks, missing chats), True for requests
        # that Telegram's rules refuse.
        self.violation = violation


def _bad_request(reason: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {reason}")


async def _read_params(request: web.Request) -> JSONDict:
    """Parameters from the query string and a JSON, urlencoded or multipart body."""
    raw: JSONDict = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise _bad_request("can't parse JSON encoded request body")
            raw.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, value in (await request.post()).items():
                raw[key] = value if isinstance(value, str) else _upload_bytes(value)
    return {key: _decode_param(key, value) for key, value in raw.items()}


def _upload_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    # aiohttp FileField: bytes that remember the name and type the client sent.
    return Upload(value.file.read(), filename=value.filename, content_type=value.content_type)


class Upload(bytes):
    """A file part of a multipart request: its bytes, with its file name and content type."""

    filename: str
    content_type: str

    def __new__(cls, data: bytes, *, filename: str = "", content_type: str = "") -> Upload:
        upload = super().__new__(cls, data)
        upload.filename = filename
        upload.content_type = content_type
        return upload


def _bot_commands(text: str) -> list[JSONDict]:
    """bot_command entities as Telegram marks them in a user's message."""
    entities = []
    for match in _BOT_COMMAND.finditer(text):
        before = text[match.start() - 1] if match.start() else " "
        after = text[match.end()] if match.end() < len(text) else " "
        if _is_word_char(before) or before in "/<>" or _is_word_char(after) or after in "/<>":
            continue
        entities.append(
            {
                "type": "bot_command",
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group(0)),
            }
        )
    return entities


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


# --------------------------------------------------------------------------------------------
# The fake server
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SentMessage:
    """A message the bot sent (in its latest version, if it was edited)."""

    message_id: int
    chat_id: int
    text: str  # raw, as the bot sent it
    plain_text: str  # what the user sees, after entity parsing
    parse_mode: str | None
    link_preview_disabled: bool
    reply_markup: JSONDict | None
    message_thread_id: int | None
    date: int
    entities: list[JSONDict] = field(default_factory=list)
    edit_date: int | None = None

    @property
    def buttons(self) -> list[JSONDict]:
        """All inline keyboard buttons, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]

    @property
    def callback_data(self) -> list[str]:
        """The callback_data of every inline button that has one."""
        return [b["callback_data"] for b in self.buttons if "callback_data" in b]


@dataclass(frozen=True)
class SentDocument:
    """A file the bot sent with sendDocument (as a multipart upload)."""

    message_id: int
    chat_id: int
    file_name: str
    content: bytes
    mime_type: str
    caption: str | None
    message_thread_id: int | None


@dataclass(frozen=True)
class RateLimits:
    """Telegram's flood limits as the referee enforces them, each "at most N in any T s".

    Globally ``global_per_s`` messages in any second; in a private chat ``private_burst``
    messages in any ``private_burst / private_per_s`` seconds (one a second with a short
    burst); in a group, supergroup or channel ``group_limit`` in any ``group_period`` seconds.
    """

    global_per_s: int = 30
    private_per_s: float = 1.0
    private_burst: int = 3
    group_limit: int = 20
    group_period: float = 60.0
    # Strict: closed windows ("at most N in [t - T, t]"), and every counted request is seen by
    # the server only after a network delay drawn uniformly from [0, jitter] seconds.
    strict: bool = False
    jitter: float = 0.0


@dataclass(frozen=True)
class RateLimitHit:
    """A request the referee answered 429 because it would have broken a limit."""

    at: float  # time.monotonic() when it arrived
    method: str
    chat_id: int | str | None
    limit: str  # "global", "private" or "group"
    retry_after: int


class _SlidingWindow:
    """At most ``limit`` events in any ``period`` seconds, per key: in any half-open window
    (t - period, t], or with ``closed`` in any closed one [t - period, t]."""

    def __init__(self, limit: int, period: float, *, closed: bool = False) -> None:
        self.limit = limit
        self.period = period
        self.closed = closed
        self._events: dict[int | str | None, deque[float]] = {}

    def _expired(self, event: float, now: float) -> bool:
        return event < now - self.period if self.closed else event <= now - self.period

    def wait(self, key: int | str | None, now: float) -> float:
        """Seconds until one more event is allowed for ``key``; 0 when it is allowed now."""
        events = self._events.get(key)
        if events is None:
            return 0.0
        while events and self._expired(events[0], now):
            events.popleft()
        if not events:
            del self._events[key]  # a fan-out to many chats must not keep them all
            return 0.0
        return events[0] + self.period - now if len(events) >= self.limit else 0.0

    def add(self, key: int | str | None, now: float) -> None:
        self._events.setdefault(key, deque()).append(now)


class _FloodControl:
    """The three windows of RateLimits, checked before a send and fed after it succeeds."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        closed = limits.strict
        self.overall = _SlidingWindow(limits.global_per_s, 1.0, closed=closed)
        self.private = _SlidingWindow(
            limits.private_burst, limits.private_burst / limits.private_per_s, closed=closed
        )
        self.group = _SlidingWindow(limits.group_limit, limits.group_period, closed=closed)

    def _chat_window(self, chat_id: int | str | None) -> tuple[str, _SlidingWindow] | None:
        if chat_id is None:
            return None
        if isinstance(chat_id, int) and chat_id > 0:
            return "private", self.private
        return "group", self.group  # negative ids and "@channelname"

    def check(self, chat_id: int | str | None, now: float) -> tuple[str, float] | None:
        """The limit a message to the chat would break now and how long to wait, or None."""
        chat = self._chat_window(chat_id)
        if chat is not None and (wait := chat[1].wait(chat_id, now)) > 0:
            return chat[0], wait
        if (wait := self.overall.wait(None, now)) > 0:
            return "global", wait
        return None

    def add(self, chat_id: int | str | None, now: float) -> None:
        self.overall.add(None, now)
        chat = self._chat_window(chat_id)
        if chat is not None:
            chat[1].add(chat_id, now)


_MEMBER_STATUSES = frozenset({"creator", "administrator", "member", "left"})
# The rights every ChatMemberAdministrator carries (False unless a test grants them).
_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
)

# Requests that post or change a message: what Telegram's flood limits count.
_COUNTED_METHODS = frozenset(
    {"sendmessage", "editmessagetext", "editmessagereplymarkup", "senddocument"}
)
MAX_CAPTION_UTF16 = 1024
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # Telegram's limit for files bots upload


def _limited_chat(params: JSONDict) -> int | str | None:
    chat_id = params.get("chat_id")
    if isinstance(chat_id, int | str) and not isinstance(chat_id, bool) and chat_id != "":
        return chat_id
    return None


# What Telegram's nginx front end answers when the Bot API server behind it is unreachable:
# an HTML page, not the JSON envelope (python-telegram-bot then fails to parse it).
_NGINX_PAGE = (
    "<html>\r\n<head><title>{code} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {phrase}</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    "</body>\r\n</html>\r\n"
)
MIGRATED_DESCRIPTION = "Bad Request: group chat was upgraded to a supergroup chat"


@dataclass
class _Fault:
    method: str  # lower-case
    chat_id: int | None
    remaining: int
    # "error": answer `status`; "drop": close the connection without an answer, before the
    # request is handled, or after it (`handled`: the message was posted, the answer lost);
    # "late": handle the request, then answer after `delay` seconds.
    kind: str = "error"
    status: int = 0
    description: str = ""
    parameters: JSONDict | None = None
    html: bool = False
    handled: bool = False
    delay: float = 0.0

    def error(self) -> _ApiError:
        return _ApiError(self.status, self.description, parameters=self.parameters, violation=False)


class FakeBotAPI(LoopbackServer):
    """The Telegram Bot API, in-process, for end-to-end tests of a python-telegram-bot app.

    Point PTB at it with ``base_url=api.base_url`` (and ``base_file_url=api.base_file_url``).
    Test controls are plain methods meant to be called from the test's event loop.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, *, strict_entities: bool = True) -> None:
        super().__init__()
        self.token = token
        self.strict_entities = strict_entities
        self.calls: list[tuple[str, JSONDict]] = []
        self.sent: list[SentMessage] = []
        self.edits: list[SentMessage] = []
        self.documents: list[SentDocument] = []
        self.rejected: list[tuple[str, int, str]] = []
        self.violations: list[tuple[str, int, str]] = []
        # (time.monotonic(), chat_id) of every send or edit accepted, for rate checks.
        self.message_times: list[tuple[float, int | str | None]] = []
        self.rate_limit_hits: list[RateLimitHit] = []
        self._flood: _FloodControl | None = None
        self._network = random.Random(0)  # the strict mode's network delays
        self.chat_actions: list[tuple[int, str]] = []
        self.callback_answers: list[JSONDict] = []
        self.allowed_updates: list[str] | None = None
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._updates: list[JSONDict] = []
        self._next_update_id = 1
        self._next_message_id: dict[int, int] = {}
        self._chats: dict[int, JSONDict] = {}
        self._open_callbacks: dict[str, JSONDict] = {}
        self._blocked: set[int] = set()
        self._missing: set[int] = set()
        self._migrated: dict[int, int] = {}  # old group id -> its supergroup's id
        self._members: dict[int, dict[int, JSONDict]] = {}  # chat -> user -> ChatMember
        self._forums: set[int] = set()
        self._deleted_topics: set[tuple[int, int]] = set()
        self._closed_topics: set[tuple[int, int]] = set()
        self._restricted: set[int] = set()  # chats where the bot may not send messages
        self._removed: dict[int, str] = {}  # chats the bot was removed from -> the 403 text
        self._faults: list[_Fault] = []
        self._poll_generation = 0
        self._signal = asyncio.Event()
        self._closing = False
        self._methods = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "sendMessage": self._send_message,
                "sendDocument": self._send_document,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "answerCallbackQuery": self._answer_callback_query,
                "sendChatAction": self._send_chat_action,
                "getChat": self._get_chat,
                "getChatMember": self._get_chat_member,
                "getChatAdministrators": self._get_chat_administrators,
                "close": self._ok,
                "logOut": self._ok,
            }.items()
        }

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._closing = False
        await super().start()

    async def stop(self) -> None:
        """Answer pending long polls and stop serving."""
        self._closing = True
        self._notify()
        await super().stop()

    @property
    def base_url(self) -> str:
        """What PTB takes as ``base_url``; it appends the token."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """What PTB takes as ``base_file_url``."""
        return f"{self.url}/file/bot"

    @property
    def bot_id(self) -> int:
        return int(self.token.split(":", 1)[0])

    @property
    def bot_user(self) -> JSONDict:
        """The bot's User object, as getMe returns it."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    # -- test controls: users --------------------------------------------------------------------

    def user_sends(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        first_name: str = "Ada",
        username: str | None = "ada",
        chat_type: str = "private",
        language_code: str = "en",
        message_thread_id: int | None = None,
        as_group: bool = False,
    ) -> int:
        """Queue a text message from a user; returns its update_id. With ``as_group`` it
        comes from an anonymous admin: ``sender_chat`` is the group itself."""
        if not text.strip():
            raise ValueError("Telegram clients cannot send an empty message")
        if chat_id in self._migrated:
            raise ValueError(
                f"group {chat_id} was upgraded: its members write in {self._migrated[chat_id]}"
            )
        sender = self._user(chat_id, user_id, first_name, username, language_code, chat_type)
        chat = self._remember_chat(chat_id, chat_type, sender, message_thread_id is not None)
        message: JSONDict = {
            "message_id": self._new_message_id(chat_id),
            "from": sender,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        entities = _bot_commands(text)
        if entities:
            message["entities"] = entities
        if message_thread_id is not None:
            message["message_thread_id"] = message_thread_id
            message["is_topic_message"] = True
        if as_group:
            message["sender_chat"] = dict(chat)
            message["from"] = {
                "id": GROUP_ANONYMOUS_BOT_ID,
                "is_bot": True,
                "first_name": "Group",
                "username": "GroupAnonymousBot",
            }
        return self._queue_update("message", message)

    def user_edits(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
    ) -> int:
        """Queue an edited_message: the user changed the text of their message
        ``message_id`` (as returned in the chat's numbering); returns its update_id."""
        if not text.strip():
            raise ValueError("Telegram clients cannot send an empty message")
        sender = self._user(chat_id, user_id, "Ada", "ada", "en", chat_type)
        chat = self._remember_chat(chat_id, chat_type, sender, False)
        now = int(time.time())
        message: JSONDict = {
            "message_id": message_id,
            "from": sender,
            "chat": chat,
            "date": now - 1,
            "edit_date": now,
            "text": text,
        }
        entities = _bot_commands(text)
        if entities:
            message["entities"] = entities
        return self._queue_update("edited_message", message)

    def press_button(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        user_id: int | None = None,
        *,
        require_button: bool = True,
    ) -> int:
        """Queue a callback_query for a button on a message the bot sent; returns update_id.

        With ``require_button`` (the default) the message must carry a button with this
        callback_data, as a real client can only press existing buttons.
        """
        message = self._find_sent(chat_id, message_id)
        if message is None:
            raise AssertionError(f"the bot sent no message {message_id} to chat {chat_id}")
        if require_button and data not in message.callback_data:
            raise AssertionError(
                f"message {message_id} in chat {chat_id} has no button with callback_data "
                f"{data!r}; it has {message.callback_data!r}"
            )
        chat_type = self._chat(chat_id)["type"]
        sender = self._user(chat_id, user_id, "Ada", "ada", "en", chat_type)
        query_id = str(4_000_000_000_000 + self._next_update_id)
        query: JSONDict = {
            "id": query_id,
            "from": sender,
            "message": self._message_json(message),
            "chat_instance": str(-abs(chat_id) - 7),
            "data": data,
        }
        self._open_callbacks[query_id] = query
        return self._queue_update("callback_query", query)

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by a getUpdates offset."""
        return list(self._updates)

    # -- test controls: inspection ---------------------------------------------------------------

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        """Messages the bot sent to the chat, oldest first, in their latest version."""
        return [m for m in self.sent if m.chat_id == chat_id]

    async def wait_for_messages(
        self,
        chat_id: int,
        count: int,
        timeout: float = WAIT,
    ) -> list[SentMessage]:
        """Wait until at least ``count`` messages were sent to the chat; return them all."""
        try:
            async with asyncio.timeout(timeout):
                while len(self.messages_to(chat_id)) < count:
                    await self._changed()
        except TimeoutError:
            received = [m.plain_text for m in self.messages_to(chat_id)]
            raise AssertionError(
                f"expected at least {count} message(s) to chat {chat_id} within {timeout}s, "
                f"got {len(received)}: {received!r}; errors answered: {self.rejected!r}"
            ) from None
        return self.messages_to(chat_id)

    def calls_to(self, method: str) -> list[JSONDict]:
        """Parameters of every call of ``method`` (case-insensitive), in order."""
        return [params for name, params in self.calls if name.lower() == method.lower()]

    async def wait_for_call(
        self,
        method: str,
        count: int = 1,
        timeout: float = WAIT,
    ) -> list[JSONDict]:
        """Wait until ``method`` was called at least ``count`` times; return their params."""
        try:
            async with asyncio.timeout(timeout):
                while len(self.calls_to(method)) < count:
                    await self._changed()
        except TimeoutError:
            seen = [name for name, _ in self.calls]
            raise AssertionError(
                f"expected {count} call(s) of {method} within {timeout}s; calls: {seen!r}"
            ) from None
        return self.calls_to(method)

    @property
    def commands(self) -> dict[tuple[str, str], list[JSONDict]]:
        """Stored bot commands by (scope key, language_code).

        Scope keys: "default", "all_private_chats", "all_group_chats",
        "all_chat_administrators", "chat:<chat_id>", "chat_administrators:<chat_id>",
        "chat_member:<chat_id>:<user_id>". The default language is "".
        """
        return {key: list(value) for key, value in self._commands.items()}

    def commands_for(
        self, scope: JSONDict | None = None, language_code: str = ""
    ) -> list[JSONDict]:
        """What getMyCommands answers for this scope (default scope if None) and language."""
        return list(self._commands.get((_scope_key(scope), language_code), []))

    # -- test controls: faults -------------------------------------------------------------------

    def fail_next(
        self,
        method: str = "sendMessage",
        *,
        chat_id: int | None = None,
        status: int = 429,
        retry_after: int | None = 1,
        description: str | None = None,
        times: int = 1,
        html: bool = False,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (for ``chat_id``, if given) with an error.

        429 answers "Too Many Requests: retry after N" with ``parameters.retry_after`` as
        Telegram does; other statuses default to the HTTP reason phrase, in Telegram's JSON
        envelope (``{"ok": false, "error_code": 500, "description": "Internal Server Error"}``).
        ``html=True`` answers instead with the HTML page of Telegram's nginx front end, as a
        502 Bad Gateway or 504 Gateway Timeout does when the Bot API server behind it is down.
        The request is not handled: nothing is posted.
        """
        parameters = None
        if status == HTTPStatus.TOO_MANY_REQUESTS and retry_after is not None:
            parameters = {"retry_after": retry_after}
            default = f"Too Many Requests: retry after {retry_after}"
        else:
            default = HTTPStatus(status).phrase
        self._add_fault(
            _Fault(
                method.lower(),
                chat_id,
                times,
                status=status,
                description=description or default,
                parameters=parameters,
                html=html,
            )
        )

    def drop_next(
        self,
        method: str = "sendMessage",
        *,
        chat_id: int | None = None,
        times: int = 1,
        handled: bool = False,
    ) -> None:
        """Close the connection of the next ``times`` calls of ``method`` without an answer.

        By default the request is dropped before it is handled (nothing is posted); with
        ``handled=True`` it is handled first and only the answer is lost, so the client cannot
        tell whether its message was posted (it was).
        """
        self._add_fault(_Fault(method.lower(), chat_id, times, kind="drop", handled=handled))

    def answer_late(
        self,
        method: str = "sendMessage",
        *,
        seconds: float,
        chat_id: int | None = None,
        times: int = 1,
    ) -> None:
        """Handle the next ``times`` calls of ``method``, then answer only after ``seconds``.

        A client whose read timeout is shorter gives up (PTB raises TimedOut) although the
        message was posted: the ambiguous case of a slow Telegram.
        """
        self._add_fault(_Fault(method.lower(), chat_id, times, kind="late", delay=seconds))

    def _add_fault(self, fault: _Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("times must be at least 1")
        self._faults.append(fault)

    def enforce_rate_limits(
        self,
        global_per_s: int = 30,
        private_per_s: float = 1.0,
        private_burst: int = 3,
        group_limit: int = 20,
        group_period: float = 60.0,
        *,
        strict: bool = False,
        jitter: float = 0.05,
        seed: int = 0,
    ) -> RateLimits:
        """Referee Telegram's flood limits from now on (see RateLimits); returns them.

        A send or edit over a limit is answered 429 "Too Many Requests: retry after N" with
        ``parameters.retry_after`` (N whole seconds until the window frees, at least 1), is
        not delivered and not counted, and is recorded in ``rejected``, ``violations`` and
        ``rate_limit_hits``. Chat actions, callback answers and the like are never limited.

        ``strict=True`` is the strict sliding-window mode: every window is closed (at most N
        messages in any [t - T, t]), and each send or edit reaches the referee only after a
        network delay drawn uniformly from [0, ``jitter``] seconds (random with ``seed``); its
        moment in the windows and in ``message_times`` is when it got there. A client that
        keeps the limits only on its own clock, from the moments it sends, breaks them here.
        """
        if jitter < 0:
            raise ValueError("jitter must be >= 0")
        limits = RateLimits(
            global_per_s,
            private_per_s,
            private_burst,
            group_limit,
            group_period,
            strict=strict,
            jitter=jitter if strict else 0.0,
        )
        self._flood = _FloodControl(limits)
        self._network = random.Random(seed)
        return limits

    def stop_enforcing_rate_limits(self) -> None:
        self._flood = None

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: sends to the chat answer 403."""
        self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        self._blocked.discard(chat_id)

    def missing_chat(self, chat_id: int) -> None:
        """The chat does not exist (or the bot was removed): sends answer 400 chat not found."""
        self._missing.add(chat_id)

    def upgrade_group(
        self,
        group_id: int,
        supergroup_id: int,
        *,
        announce: bool = False,
        user_id: int | None = None,
    ) -> None:
        """The group became a supergroup with a new id; the old id is gone for good.

        From now on every call aimed at the old id answers as Telegram does: 400 "Bad
        Request: group chat was upgraded to a supergroup chat" with
        ``parameters.migrate_to_chat_id`` (PTB raises ChatMigrated). Members write from the
        new id; the group's old id can no longer send anything.

        With ``announce``, the bot also gets the two service messages a member bot receives:
        ``migrate_to_chat_id`` in the old group, then ``migrate_from_chat_id`` in the new
        supergroup, both from the member who upgraded it. Without, the bot learns only from
        the 400 (as when it was offline long enough for the updates to expire).
        """
        if group_id >= 0 or group_id in self._migrated:
            raise ValueError(f"{group_id} is not a basic group")
        if not str(supergroup_id).startswith("-100"):
            raise ValueError(f"{supergroup_id} is not a supergroup id (-100...)")
        old = self._chat(group_id)
        new: JSONDict = {
            "id": supergroup_id,
            "type": "supergroup",
            "title": old.get("title", "Test supergroup"),
        }
        self._chats[supergroup_id] = new
        if announce:
            member = self._user(group_id, user_id, "Ada", "ada", "en", "group")
            for chat, field_name, value in (
                (old, "migrate_to_chat_id", supergroup_id),
                (new, "migrate_from_chat_id", group_id),
            ):
                message: JSONDict = {
                    "message_id": self._new_message_id(chat["id"]),
                    "from": member,
                    "chat": dict(chat),
                    "date": int(time.time()),
                    field_name: value,
                }
                self._queue_update("message", message)
        self._migrated[group_id] = supergroup_id

    # -- test controls: groups, forum topics and channels ----------------------------------------

    def set_member(
        self,
        chat_id: int,
        user_id: int,
        status: str,
        *,
        can_post_messages: bool = False,
    ) -> None:
        """The user's (or the bot's, with ``bot_id``) status in a group or channel: creator,
        administrator, member or left; what getChatMember and getChatAdministrators answer.
        Unknown users are members of a group (the default group user its creator) and have
        left a channel."""
        if status not in _MEMBER_STATUSES:
            raise ValueError(f"unknown member status {status!r}")
        member = self._member_json(chat_id, user_id, status, can_post_messages)
        self._members.setdefault(chat_id, {})[user_id] = member

    def _member_json(
        self, chat_id: int, user_id: int, status: str, can_post_messages: bool = False
    ) -> JSONDict:
        """A ChatMember object as Telegram sends it, with the fields its status requires."""
        member: JSONDict = {"status": status, "user": self._member_user(user_id)}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member |= dict.fromkeys(_ADMIN_RIGHTS, False)
            member |= {"can_be_edited": False, "is_anonymous": False}
            if self._chat(chat_id)["type"] == "channel":
                member["can_post_messages"] = can_post_messages
                member["can_edit_messages"] = can_post_messages
        return member

    def add_channel(
        self, channel_id: int, username: str | None, title: str = "Test channel"
    ) -> None:
        """A channel (id -100…), public as ``@username`` if given, that getChat can find."""
        if not str(channel_id).startswith("-100"):
            raise ValueError(f"{channel_id} is not a channel id (-100...)")
        chat: JSONDict = {"id": channel_id, "type": "channel", "title": title}
        if username is not None:
            chat["username"] = username
        self._chats[channel_id] = chat

    def make_forum(self, chat_id: int) -> None:
        """The supergroup has topics: its messages say ``is_forum``, wherever they are sent."""
        self._forums.add(chat_id)
        if chat_id in self._chats:
            self._chats[chat_id]["is_forum"] = True

    def delete_topic(self, chat_id: int, message_thread_id: int) -> None:
        """A forum topic was deleted: sends to it answer 400 "message thread not found"."""
        self._deleted_topics.add((chat_id, message_thread_id))

    def close_topic(self, chat_id: int, message_thread_id: int) -> None:
        """A forum topic was closed: sends to it answer 400 "TOPIC_CLOSED" (the general topic
        and the other topics still take messages)."""
        self._closed_topics.add((chat_id, message_thread_id))

    def reopen_topic(self, chat_id: int, message_thread_id: int) -> None:
        self._closed_topics.discard((chat_id, message_thread_id))

    def restrict_bot(self, chat_id: int) -> None:
        """The bot stays in the group or channel but may no longer post: sends answer 400,
        "not enough rights to send text messages to the chat" in a group, "need administrator
        rights in the channel chat" in a channel, as Telegram does."""
        self._chat(chat_id)  # a known chat
        self._restricted.add(chat_id)

    def unrestrict_bot(self, chat_id: int) -> None:
        self._restricted.discard(chat_id)

    def remove_bot(self, chat_id: int) -> None:
        """The bot was removed from a group or channel: sends there answer 403."""
        kind = self._chat(chat_id)["type"]
        self._removed[chat_id] = (
            "Forbidden: bot is not a member of the channel chat"
            if kind == "channel"
            else f"Forbidden: bot was kicked from the {kind} chat"
        )
        self.set_member(chat_id, self.bot_id, "left")

    def _member_user(self, user_id: int) -> JSONDict:
        if user_id == self.bot_id:
            return self.bot_user
        return {"id": user_id, "is_bot": False, "first_name": "User"}

    def _resolve(self, params: JSONDict) -> int:
        """The chat of a getChat-like call: an id, or "@username" of a known chat."""
        value = params.get("chat_id")
        if isinstance(value, str) and value.startswith("@"):
            for chat_id, chat in self._chats.items():
                if str(chat.get("username", "")).lower() == value[1:].lower():
                    return chat_id
            raise _ApiError(400, "Bad Request: chat not found", violation=False)
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                raise _bad_request("chat_id is empty") from None
        if not isinstance(value, int) or isinstance(value, bool):
            raise _bad_request("chat_id is empty")
        if value not in self._chats and value not in self._members:
            raise _ApiError(400, "Bad Request: chat not found", violation=False)
        return value

    def _member(self, chat_id: int, user_id: int) -> JSONDict:
        known = self._members.get(chat_id, {}).get(user_id)
        if known is not None:
            return known
        if self._chat(chat_id)["type"] == "channel":
            status = "left"
        else:  # the user who writes by default created the group
            status = "creator" if user_id == DEFAULT_GROUP_USER_ID else "member"
        return self._member_json(chat_id, user_id, status)

    # -- plumbing --------------------------------------------------------------------------------

    def _notify(self) -> None:
        # Wake everyone waiting for a state change; each waiter re-checks its own condition.
        self._signal.set()
        self._signal = asyncio.Event()

    async def _changed(self) -> None:
        await self._signal.wait()

    def _queue_update(self, kind: str, payload: JSONDict) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append({"update_id": update_id, kind: payload})
        self._notify()
        return update_id

    def _new_message_id(self, chat_id: int) -> int:
        # Telegram numbers messages per chat, the user's and the bot's alike.
        message_id = self._next_message_id.get(chat_id, 0) + 1
        self._next_message_id[chat_id] = message_id
        return message_id

    def _user(
        self,
        chat_id: int,
        user_id: int | None,
        first_name: str,
        username: str | None,
        language_code: str,
        chat_type: str,
    ) -> JSONDict:
        if user_id is None:
            user_id = chat_id if chat_type == "private" else DEFAULT_GROUP_USER_ID
        user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username is not None:
            user["username"] = username
        user["language_code"] = language_code
        return user

    def _remember_chat(
        self, chat_id: int, chat_type: str, sender: JSONDict, is_forum: bool
    ) -> JSONDict:
        chat: JSONDict = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = sender["first_name"]
            if "username" in sender:
                chat["username"] = sender["username"]
        else:
            chat["title"] = f"Test {chat_type}"
            if is_forum or chat_id in self._forums:
                chat["is_forum"] = True
        self._chats[chat_id] = chat
        return dict(chat)

    def _chat(self, chat_id: int) -> JSONDict:
        if chat_id in self._chats:
            return dict(self._chats[chat_id])
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "User"}
        if str(chat_id).startswith("-100"):
            return {"id": chat_id, "type": "supergroup", "title": "Test supergroup"}
        return {"id": chat_id, "type": "group", "title": "Test group"}

    def _find_sent(self, chat_id: int, message_id: int) -> SentMessage | None:
        for message in self.sent:
            if (message.chat_id, message.message_id) == (chat_id, message_id):
                return message
        return None

    def _message_json(self, message: SentMessage) -> JSONDict:
        result: JSONDict = {
            "message_id": message.message_id,
            "from": self.bot_user,
            "chat": self._chat(message.chat_id),
            "date": message.date,
            "text": message.plain_text,
        }
        if message.entities:
            result["entities"] = message.entities
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            result["reply_markup"] = message.reply_markup
        if message.message_thread_id is not None:
            result["message_thread_id"] = message.message_thread_id
            result["is_topic_message"] = True
        if message.edit_date is not None:
            result["edit_date"] = message.edit_date
        return result

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        match = _API_PATH.fullmatch(request.path)
        if match is None:
            file_match = _FILE_PATH.fullmatch(request.path)
            if file_match is not None and file_match["token"] != self.token:
                return self._error_response("file", self._token_error(file_match["token"]))
            return self._error_response("file", _ApiError(404, "Not Found"))
        if match["token"] != self.token:
            return self._error_response(match["method"], self._token_error(match["token"]))
        name, handler = self._methods.get(match["method"].lower(), (match["method"], None))
        try:
            params = await _read_params(request)
        except _ApiError as err:
            return self._error_response(name, err)
        self.calls.append((name, params))
        self._notify()
        fault = self._take_fault(name, params) if handler is not None else None
        if fault is not None and fault.kind == "error" and fault.html:
            return self._html_error(name, fault)
        if fault is not None and fault.kind == "drop" and not fault.handled:
            return self._drop(request, name)
        try:
            if handler is None:
                raise _ApiError(404, "Not Found")
            if fault is not None and fault.kind == "error":
                raise fault.error()
            counted = name.lower() in _COUNTED_METHODS
            if counted:
                arrived = await self._network_delay(arrived)
                self._check_flood(name, params, arrived)
            result = await handler(params)
        except _ApiError as err:
            return self._error_response(name, err)
        if counted:
            self._count_message(params, arrived)
        if fault is not None and fault.kind == "drop":
            return self._drop(request, name)
        if fault is not None and fault.kind == "late":
            await asyncio.sleep(fault.delay)  # a client that gives up cancels this wait
        return web.json_response({"ok": True, "result": result})

    async def _network_delay(self, arrived: float) -> float:
        """In the strict mode, the moment a counted request reaches the referee: after a random
        network delay (the client cannot know it). Otherwise when it arrived."""
        if self._flood is None or self._flood.limits.jitter <= 0:
            return arrived
        await asyncio.sleep(self._network.uniform(0.0, self._flood.limits.jitter))
        return time.monotonic()

    def _check_flood(self, method: str, params: JSONDict, now: float) -> None:
        if self._flood is None:
            return
        chat_id = _limited_chat(params)
        broken = self._flood.check(chat_id, now)
        if broken is None:
            return
        limit, wait = broken
        retry_after = max(1, math.ceil(wait))
        self.rate_limit_hits.append(RateLimitHit(now, method, chat_id, limit, retry_after))
        raise _ApiError(
            429,
            f"Too Many Requests: retry after {retry_after}",
            parameters={"retry_after": retry_after},
        )

    def _count_message(self, params: JSONDict, now: float) -> None:
        chat_id = _limited_chat(params)
        self.message_times.append((now, chat_id))
        if self._flood is not None:
            self._flood.add(chat_id, now)

    def _token_error(self, token: str) -> _ApiError:
        # Telegram: 401 for a well-formed token it does not know, 404 for a malformed one.
        if _WELL_FORMED_TOKEN.fullmatch(token):
            return _ApiError(401, "Unauthorized")
        return _ApiError(404, "Not Found")

    def _error_response(self, method: str, err: _ApiError) -> web.Response:
        self.rejected.append((method, err.code, err.description))
        if err.violation:
            self.violations.append((method, err.code, err.description))
        self._notify()
        body: JSONDict = {"ok": False, "error_code": err.code, "description": err.description}
        if err.parameters:
            body["parameters"] = err.parameters
        return web.json_response(body, status=err.code)

    def _take_fault(self, method: str, params: JSONDict) -> _Fault | None:
        """The first fault planned for this call, used up by one; None if there is none."""
        for fault in self._faults:
            if fault.method != method.lower():
                continue
            if fault.chat_id is not None and params.get("chat_id") != fault.chat_id:
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
            return fault
        return None

    def _html_error(self, method: str, fault: _Fault) -> web.Response:
        self.rejected.append((method, fault.status, fault.description))
        self._notify()
        page = _NGINX_PAGE.format(code=fault.status, phrase=HTTPStatus(fault.status).phrase)
        return web.Response(text=page, status=fault.status, content_type="text/html")

    def _drop(self, request: web.Request, method: str) -> web.Response:
        """Close the connection: the client sees it end without an answer."""
        self.rejected.append((method, 0, "connection dropped"))
        self._notify()
        if request.transport is not None:
            request.transport.close()
        return web.Response()  # never reaches the client

    def _target_chat(self, params: JSONDict) -> int:
        """The chat a send/edit goes to, with the blocked and missing chat rules applied."""
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad_request("chat_id is empty")
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            # "@username" chats: the fake knows no public channels.
            raise _ApiError(400, "Bad Request: chat not found", violation=False)
        if chat_id in self._missing:
            raise _ApiError(400, "Bad Request: chat not found", violation=False)
        if chat_id in self._migrated:
            raise _ApiError(
                400,
                MIGRATED_DESCRIPTION,
                parameters={"migrate_to_chat_id": self._migrated[chat_id]},
                violation=False,
            )
        if chat_id in self._blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user", violation=False)
        if chat_id in self._removed:
            raise _ApiError(403, self._removed[chat_id], violation=False)
        return chat_id

    def _check_rights(self, chat_id: int, kind: str) -> None:
        """A restricted bot may not post (restrict_bot)."""
        if chat_id not in self._restricted:
            return
        if self._chat(chat_id)["type"] == "channel":
            raise _ApiError(
                400, "Bad Request: need administrator rights in the channel chat", violation=False
            )
        raise _ApiError(
            400, f"Bad Request: not enough rights to send {kind} to the chat", violation=False
        )

    def _formatted(self, params: JSONDict) -> tuple[str, list[JSONDict]]:
        """Validate text + parse_mode as Telegram does; returns the plain text and entities."""
        text = params.get("text")
        if text is None or text == "":
            raise _bad_request("message text is empty")
        if not isinstance(text, str):
            text = json.dumps(text)
        parse_mode = params.get("parse_mode") or None
        if parse_mode is not None and parse_mode.lower() not in ("html", "markdown", "markdownv2"):
            raise _bad_request("unsupported parse_mode")
        try:
            plain, entities = parse_message_text(
                text, parse_mode, strict_entities=self.strict_entities
            )
        except TelegramParseError as err:
            raise _bad_request(f"can't parse entities: {err}") from None
        except ValueError:
            raise _bad_request(
                f"can't parse entities: the fake Bot API implements only HTML, not {parse_mode}"
            ) from None
        if not plain:
            raise _bad_request("message must be non-empty")
        if utf16_len(plain) > MAX_MESSAGE_UTF16:
            raise _bad_request("message is too long")
        return plain, entities

    # -- methods ---------------------------------------------------------------------------------

    async def _ok(self, params: JSONDict) -> bool:
        return True

    async def _get_me(self, params: JSONDict) -> JSONDict:
        return self.bot_user

    async def _delete_webhook(self, params: JSONDict) -> bool:
        if _as_bool(params.get("drop_pending_updates")):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        return {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        offset = int(_number_param(params, "offset") or 0)
        limit = min(max(int(_number_param(params, "limit") or 100), 1), 100)
        timeout = max(float(_number_param(params, "timeout") or 0), 0.0)
        if "allowed_updates" in params:
            allowed = params["allowed_updates"]
            self.allowed_updates = list(allowed) if allowed else None
        self._confirm(offset)
        # A newer getUpdates terminates an older one still waiting, like Telegram does.
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if generation != self._poll_generation:
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                    violation=False,
                )
            ready = self._deliverable()[:limit]
            remaining = deadline - asyncio.get_running_loop().time()
            if ready or remaining <= 0 or self._closing:
                return ready
            try:
                async with asyncio.timeout(remaining):
                    await self._changed()
            except TimeoutError:
                pass

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _deliverable(self) -> list[JSONDict]:
        if not self.allowed_updates:
            return list(self._updates)
        allowed = set(self.allowed_updates)
        return [u for u in self._updates if allowed.intersection(u.keys())]

    async def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad_request("BOT_COMMANDS_TOO_MUCH")
        stored = [_checked_command(command) for command in commands]
        key = (_scope_key(params.get("scope")), str(params.get("language_code") or ""))
        if stored:
            self._commands[key] = stored
        else:
            self._commands.pop(key, None)
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        return self.commands_for(params.get("scope"), str(params.get("language_code") or ""))

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        key = (_scope_key(params.get("scope")), str(params.get("language_code") or ""))
        self._commands.pop(key, None)
        return True

    async def _send_message(self, params: JSONDict) -> JSONDict:
        chat_id = self._target_chat(params)
        self._check_rights(chat_id, "text messages")
        plain, entities = self._formatted(params)
        reply_markup = _checked_reply_markup(params.get("reply_markup"))
        thread_id = _number_param(params, "message_thread_id")
        if thread_id is not None and (chat_id, int(thread_id)) in self._deleted_topics:
            raise _ApiError(400, "Bad Request: message thread not found", violation=False)
        if thread_id is not None and (chat_id, int(thread_id)) in self._closed_topics:
            raise _ApiError(400, "Bad Request: TOPIC_CLOSED", violation=False)
        message = SentMessage(
            message_id=self._new_message_id(chat_id),
            chat_id=chat_id,
            text=str(params["text"]),
            plain_text=plain,
            parse_mode=params.get("parse_mode") or None,
            link_preview_disabled=_link_preview_disabled(params),
            reply_markup=reply_markup,
            message_thread_id=int(thread_id) if thread_id is not None else None,
            date=int(time.time()),
            entities=entities,
        )
        self.sent.append(message)
        self._notify()
        return self._message_json(message)

    async def _send_document(self, params: JSONDict) -> JSONDict:
        """A new file, uploaded as multipart/form-data (file ids and URLs are not supported)."""
        chat_id = self._target_chat(params)
        self._check_rights(chat_id, "documents")
        upload = params.get("document")
        if not isinstance(upload, Upload):
            raise _bad_request("there is no document in the request")
        if not upload:
            raise _bad_request("file must be non-empty")
        if len(upload) > MAX_UPLOAD_BYTES:
            raise _ApiError(413, "Request Entity Too Large")
        caption = params.get("caption")
        if caption is not None and not isinstance(caption, str):
            raise _bad_request("caption must be a string")
        if caption and params.get("parse_mode"):
            caption, _ = self._formatted({"text": caption, "parse_mode": params["parse_mode"]})
        if caption is not None and utf16_len(caption) > MAX_CAPTION_UTF16:
            raise _bad_request("message caption is too long")
        thread_id = _number_param(params, "message_thread_id")
        document = SentDocument(
            message_id=self._new_message_id(chat_id),
            chat_id=chat_id,
            file_name=upload.filename or "document",
            content=bytes(upload),
            mime_type=upload.content_type or "application/octet-stream",
            caption=caption or None,
            message_thread_id=int(thread_id) if thread_id is not None else None,
        )
        self.documents.append(document)
        self._notify()
        result: JSONDict = {
            "message_id": document.message_id,
            "from": self.bot_user,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "document": {
                "file_id": f"document-{chat_id}-{document.message_id}",
                "file_unique_id": f"u{chat_id}x{document.message_id}",
                "file_name": document.file_name,
                "mime_type": document.mime_type,
                "file_size": len(document.content),
            },
        }
        if document.caption:
            result["caption"] = document.caption
        if document.message_thread_id is not None:
            result["message_thread_id"] = document.message_thread_id
            result["is_topic_message"] = True
        return result

    def documents_to(self, chat_id: int) -> list[SentDocument]:
        """Files the bot sent to the chat, oldest first."""
        return [d for d in self.documents if d.chat_id == chat_id]

    async def wait_for_documents(
        self, chat_id: int, count: int, timeout: float = WAIT
    ) -> list[SentDocument]:
        """Wait until at least ``count`` files were sent to the chat; return them all."""
        try:
            async with asyncio.timeout(timeout):
                while len(self.documents_to(chat_id)) < count:
                    await self._changed()
        except TimeoutError:
            raise AssertionError(
                f"expected at least {count} document(s) to chat {chat_id} within {timeout}s, "
                f"got {len(self.documents_to(chat_id))}; errors answered: {self.rejected!r}"
            ) from None
        return self.documents_to(chat_id)

    async def _edit_message_text(self, params: JSONDict) -> JSONDict:
        current = self._message_to_edit(params)
        plain, entities = self._formatted(params)
        edited = replace(
            current,
            text=str(params["text"]),
            plain_text=plain,
            entities=entities,
            parse_mode=params.get("parse_mode") or None,
            link_preview_disabled=_link_preview_disabled(params),
            reply_markup=_checked_reply_markup(params.get("reply_markup")),
        )
        return self._store_edit(current, edited)

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        current = self._message_to_edit(params)
        markup = _checked_reply_markup(params.get("reply_markup"))
        return self._store_edit(current, replace(current, reply_markup=markup))

    def _message_to_edit(self, params: JSONDict) -> SentMessage:
        if params.get("inline_message_id"):
            raise _bad_request("message to edit not found")  # no inline mode in this bot
        chat_id = self._target_chat(params)
        message_id = _number_param(params, "message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        current = self._find_sent(chat_id, int(message_id))
        if current is None:
            raise _bad_request("message to edit not found")
        return current

    def _store_edit(self, current: SentMessage, edited: SentMessage) -> JSONDict:
        unchanged = (current.plain_text, current.entities, current.reply_markup) == (
            edited.plain_text,
            edited.entities,
            edited.reply_markup,
        )
        if unchanged:
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        edited = replace(edited, edit_date=int(time.time()))
        self.sent[self.sent.index(current)] = edited
        self.edits.append(edited)
        self._notify()
        return self._message_json(edited)

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if self._open_callbacks.pop(query_id, None) is None:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self.callback_answers.append(params)
        return True

    async def _send_chat_action(self, params: JSONDict) -> bool:
        chat_id = self._target_chat(params)
        action = params.get("action")
        if action not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        self.chat_actions.append((chat_id, str(action)))
        return True

    async def _get_chat(self, params: JSONDict) -> JSONDict:
        chat = self._chat(self._resolve(params))
        chat |= {"accent_color_id": 0, "max_reaction_count": 11}
        chat["accepted_gift_types"] = dict.fromkeys(
            (
                "unlimited_gifts",
                "limited_gifts",
                "unique_gifts",
                "premium_subscription",
                "gifts_from_channels",
            ),
            False,
        )
        return chat

    async def _get_chat_member(self, params: JSONDict) -> JSONDict:
        chat_id = self._resolve(params)
        if self._chat(chat_id)["type"] == "private":
            raise _bad_request("member list is inaccessible")
        user_id = _number_param(params, "user_id")
        if user_id is None:
            raise _bad_request("user_id is empty")
        if chat_id in self._removed:
            raise _ApiError(403, self._removed[chat_id], violation=False)
        return dict(self._member(chat_id, int(user_id)))

    async def _get_chat_administrators(self, params: JSONDict) -> list[JSONDict]:
        chat_id = self._resolve(params)
        if chat_id in self._removed:
            raise _ApiError(403, self._removed[chat_id], violation=False)
        return [
            dict(member)
            for member in self._members.get(chat_id, {}).values()
            if member["status"] in ("creator", "administrator")
        ]


def _scope_key(scope: Any) -> str:
    if not isinstance(scope, dict) or not scope.get("type"):
        return "default"
    parts = [str(scope["type"])]
    parts += [str(scope[key]) for key in ("chat_id", "user_id") if key in scope]
    return ":".join(parts)


def _checked_command(command: Any) -> JSONDict:
    if not isinstance(command, dict):
        raise _bad_request("can't parse BotCommand")
    name, description = command.get("command"), command.get("description")
    if not isinstance(name, str) or not _COMMAND_NAME.fullmatch(name):
        raise _bad_request("BOT_COMMAND_INVALID")
    if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
        raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    return {"command": name, "description": description}


def _link_preview_disabled(params: JSONDict) -> bool:
    options = params.get("link_preview_options")
    return _as_bool(params.get("disable_web_page_preview")) or (
        isinstance(options, dict) and _as_bool(options.get("is_disabled"))
    )


def _checked_reply_markup(markup: Any) -> JSONDict | None:
    """Validate reply_markup the way Telegram refuses broken inline keyboards."""
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise _bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return markup  # reply keyboards, remove_keyboard, force_reply: accepted as they are
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
    for button in (button for row in rows for button in row):
        _check_inline_button(button)
    return markup


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise _bad_request(
            'can\'t parse inline keyboard button: Field "text" must be of type String'
        )
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
            raise _bad_request("BUTTON_DATA_INVALID")
    elif "url" in button:
        if _checked_link(str(button["url"])) is None:
            raise _bad_request("BUTTON_URL_INVALID")
    elif not set(button) - {"text"}:
        raise _bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
