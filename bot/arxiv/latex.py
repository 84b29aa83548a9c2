"""LaTeX in titles, abstracts and author names, turned into Unicode for display (pure).

pylatexenc does the conversion: $\\alpha$-stable, J\\"org and \\mathcal{O} come out as a Greek
alpha, an o with umlaut and a script O. Around it, this module decides what is LaTeX at all
(a price like "$5" is not math), protects characters that mean something else in an abstract
than in TeX ("50%" is not a comment, "R&D" is not a table cell), and adds what pylatexenc
leaves out: sub- and superscripts as Unicode characters where Unicode has them. It never
raises: on any failure the text is shown as it came.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

from bot.matching.normalize import latex_fragments

log = logging.getLogger(__name__)

# Math between single dollars, by pandoc's rule: the opening $ is followed by a non-space, the
# closing $ follows a non-space and is not followed by a digit ("$5 and $6" is not math).
# Escaped dollars (\$) are neither; $$...$$ display math is matched first.
_MATH_SPAN = re.compile(
    r"(?<!\\)\$\$(?P<display>[^$]+?)(?<!\\)\$\$"
    r"|(?<![\\$])\$(?![\s$])(?P<inline>(?:\\.|[^$\\])*?)(?<![\s\\])\$(?![\d$])",
    re.DOTALL,
)
_LONE_DOLLAR = re.compile(r"(?<!\\)\$")
# TeX comment and alignment characters: in an abstract they are a percent sign and an ampersand.
_UNESCAPED_PERCENT = re.compile(r"(?<!\\)%")
_UNESCAPED_AMPERSAND = re.compile(r"(?<!\\)&")
# A tie (~) between a non-space and a letter is a space ("J.~Smith"); any other ~ means
# "about" ("~10x faster") and stays.
_TIE = re.compile(r"(?<=\S)(?<!\\)~(?=[^\W\d_])")
_TILDE = re.compile(r"(?<!\\)~")
# Spacing commands with a TeX dimension argument, which pylatexenc cannot parse.
_SPACING = re.compile(r"\\(?:m?kern|[hm]?skip)\s*-?\s*\d*\.?\d+\s*(?:mu|pt|em|ex|cm|mm|in)\b\s*")
# A sub- or superscript: ^2, _i, ^{10}, _{ij}.
_SCRIPT = re.compile(r"(?P<op>[\^_])(?:\{(?P<group>[^{}\\]*)\}|(?P<char>[A-Za-z0-9+\-=()]))")
# Something that can only be LaTeX: a command, or a math span (checked separately).
_COMMAND = re.compile(r"\\(?:[A-Za-z]+|[^A-Za-z\s])")
# What pylatexenc changes in prepared text: commands, math, groups, and its special
# character sequences (dashes, TeX quotes); a piece without any comes out as it went in.
_MARKUP = re.compile(r"[\\${}]|--|''|``|[!?]`")

_SUPERSCRIPTS = dict(
    zip(
        "0123456789+-=()abcdefghijklmnoprstuvwxyzABDEGHIJKLMNOPRTUVW",
        "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻᴬᴮᴰᴱᴳᴴᴵᴶᴷᴸᴹᴺᴼᴾᴿᵀᵁⱽᵂ",
        strict=True,
    )
)
_SUBSCRIPTS = dict(
    zip("0123456789+-=()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ", strict=True)
)

# Macros pylatexenc does not know (its default is to drop them, arguments included), and ones
# whose rendering we want different. Arguments are kept: they are the readable part.
_TEXT_MACROS = ("textsf", "texttt", "textnormal", "textup", "textmd", "textsl", "mathnormal")
_MATH_WRAPPERS = ("operatorname", "boldsymbol", "bm", "mathbfit", "pmb")


def to_unicode(text: str) -> str:
    """Text with its LaTeX markup rendered as Unicode, for display; unchanged if there is none.

    Whitespace runs become one space. Never raises: on malformed or unsupported input the
    original text is returned.
    """
    if "\\" not in text and "$" not in text:
        return text  # fast path: the vast majority of titles and author names
    spans = list(_MATH_SPAN.finditer(text))
    if not spans and not _COMMAND.search(text):
        return text  # a price, a lone brace, a backslash-free dollar: not LaTeX
    try:
        converted = _convert(_prepare(text, spans))
    except Exception:  # pylatexenc raises IndexError, RecursionError... on odd input
        log.debug("could not convert LaTeX, showing it raw: %r", text[:200], exc_info=True)
        return text
    return " ".join(converted.split())


def _prepare(text: str, spans: list[re.Match[str]]) -> str:
    """Escape what is not TeX markup; write scripts as Unicode inside math spans."""
    pieces: list[str] = []
    end = 0
    for span in spans:
        pieces.append(_escape_text(text[end : span.start()]))
        display = span["display"] is not None
        inner = span["display"] if display else span["inline"]
        # Display math is shown inline: a digest line has no room for a displayed formula.
        pieces.append("$" + _escape_math(inner) + "$")
        end = span.end()
    pieces.append(_escape_text(text[end:]))
    return "".join(pieces)


def _escape_text(text: str) -> str:
    text = _LONE_DOLLAR.sub(r"\\$", text)
    text = _TIE.sub(" ", text)
    text = _TILDE.sub(r"\\textasciitilde{}", text)
    return _escape_common(text)


def _escape_math(text: str) -> str:
    return _SCRIPT.sub(_unicode_script, _escape_common(text.replace("~", " ")))


def _escape_common(text: str) -> str:
    text = _UNESCAPED_PERCENT.sub(r"\\%", text)
    text = _UNESCAPED_AMPERSAND.sub(r"\\&", text)
    # Thin kerning between letters ("E\\mkern-2mu L", a logic's name) joins them.
    return _SPACING.sub("", text)


def _unicode_script(match: re.Match[str]) -> str:
    """^{10} → ¹⁰ when every character has a Unicode form; else left for pylatexenc (x^a_b)."""
    table = _SUPERSCRIPTS if match["op"] == "^" else _SUBSCRIPTS
    body = match["group"] if match["group"] is not None else match["char"]
    if body and all(char in table for char in body):
        return "".join(table[char] for char in body)
    return match[0]


def _convert(text: str) -> str:
    """The prepared text converted piece by piece: only the pieces with markup (most of an
    abstract has none) go through pylatexenc, which is slow. The pieces are split where no
    group, math or macro argument is open, so the result is the whole text's; a piece that
    fails alone (a macro's argument after a space) has the whole text converted at once."""
    try:
        return "".join(
            _convert_piece(piece) if _MARKUP.search(piece) else piece
            for piece in latex_fragments(text)
        )
    except Exception:  # the whole text decides
        return _convert_piece(text)


def _convert_piece(text: str) -> str:
    converter, walker_context = _converter()
    converted = converter.latex_to_text(text, latex_context=walker_context, tolerant_parsing=True)
    if not isinstance(converted, str):
        raise TypeError(f"pylatexenc gave {type(converted).__name__}")
    return converted


def _keep_arguments(node: Any, l2tobj: Any) -> str:
    """An unknown macro: show its arguments if it has any (a font switch), else its name."""
    arguments = [arg for arg in (node.nodeargd.argnlist if node.nodeargd else []) if arg]
    if arguments:
        return "".join(l2tobj.nodelist_to_text([arg]) for arg in arguments)
    return "\\" + str(node.macroname) + str(getattr(node, "macro_post_space", ""))


@functools.cache
def _converter() -> tuple[Any, Any]:
    """pylatexenc's converter and parser context with our additions, built once on first use."""
    # Imported here: pylatexenc's import builds large tables and is slow.
    from pylatexenc import latex2text, latexwalker, macrospec

    # pylatexenc logs a warning for every macro it cannot substitute in malformed input; we
    # fall back to the raw text then, so those lines would only be noise in the bot's log.
    logging.getLogger("pylatexenc").setLevel(logging.ERROR)

    walker_context = latexwalker.get_default_latex_context_db()
    walker_context.add_context_category(
        "arxiv-digest",
        prepend=True,
        macros=[
            *(macrospec.MacroSpec(name, "{") for name in _TEXT_MACROS + _MATH_WRAPPERS),
            macrospec.MacroSpec("href", "{{"),
        ],
    )
    text_context = latex2text.get_default_latex_context_db()
    text_context.add_context_category(
        "arxiv-digest",
        prepend=True,
        macros=[
            *(latex2text.MacroTextSpec(name, "%(1)s") for name in _TEXT_MACROS + _MATH_WRAPPERS),
            latex2text.MacroTextSpec("|", "\u2016"),  # \| is a double bar (a norm)
            latex2text.MacroTextSpec("href", "%(2)s"),  # pylatexenc's own fails on \href
        ],
    )
    text_context.set_unknown_macro_spec(latex2text.MacroTextSpec("", _keep_arguments))
    converter = latex2text.LatexNodes2Text(latex_context=text_context, math_mode="text")
    return converter, walker_context
