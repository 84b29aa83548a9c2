"""The texts of /categories: a chat's categories, a refused name with what was probably meant,
and arXiv's taxonomy. Marked and translated as those of `bot.i18n.texts` (see its docstring),
arXiv's names of archives and categories too (marked in `bot.arxiv.categories`); the codes
(cs.LG, hep-th) stay as arXiv spells them."""

from __future__ import annotations

import html
from collections.abc import Sequence

from bot.arxiv import categories as arxiv_categories
from bot.i18n.translate import ENGLISH_TEXTS, Translator
from bot.messages import N_

CATEGORIES_DEFAULT = N_("Your digest and /latest read the default categories:")
CATEGORIES_OWN = N_("Your digest and /latest read your own choice of categories:")
CATEGORIES_CHOOSE = N_("Choose others with <code>/categories cs.LG math.ST</code>.")
CATEGORIES_BACK = N_("<code>/categories default</code> goes back to the default ({default}).")
NOT_A_CATEGORY = N_("<b>{given}</b> is not an arXiv category.")
DID_YOU_MEAN = N_("Did you mean {names}?")
LIST_ARCHIVE = N_("<code>/categories list {archive}</code> lists the categories of {archive}.")
LIST_ARCHIVES = N_("<code>/categories list</code> lists arXiv's archives.")
ARCHIVES_HEADING = N_(
    "<b>arXiv's archives</b> (choose one whole, or <code>/categories list cs</code> "
    "for its categories):"
)
SINGLE_CATEGORY_ARCHIVES = N_("Single-category archives:")
NOT_AN_ARCHIVE = N_("{archive} is not an archive.")
ARCHIVE_LINE = N_("<code>{archive}</code> {name} ({count})")
LIST_SEPARATOR = N_(", ")
_FULL_WIDTH_ENDS = ("。", "\uff01", "？", "：", "；", "）")  # \uff01: the full-width "!"


def chat_categories(
    chosen: Sequence[str] | None,
    default: Sequence[str],
    lead: str = "",
    tr: Translator = ENGLISH_TEXTS,
) -> str:
    """The chat's categories with their names in the chat's language; `lead` is a
    (translated) sentence put before."""
    which = tr(CATEGORIES_DEFAULT) if chosen is None else tr(CATEGORIES_OWN)
    lines = [sentences([lead, which]) if lead else which]
    lines += [f"• {html.escape(arxiv_categories.describe(c, tr))}" for c in chosen or default]
    if chosen is None:
        lines.append(tr(CATEGORIES_CHOOSE))
    else:
        lines.append(tr(CATEGORIES_BACK, default=html.escape(tr(LIST_SEPARATOR).join(default))))
    return "\n".join(lines)


def unknown_category(
    error: arxiv_categories.UnknownCategory, tr: Translator = ENGLISH_TEXTS
) -> str:
    """Why a name is refused, what was probably meant, and how to see the real ones."""
    parts = [tr(NOT_A_CATEGORY, given=html.escape(error.given[:40]))]
    close = arxiv_categories.close_matches(error.given, limit=3)
    if close:
        parts.append(tr(DID_YOU_MEAN, names=tr(LIST_SEPARATOR).join(map(html.escape, close))))
    archive = arxiv_categories.guess_archive(error.given)
    if archive is not None:
        parts.append(tr(LIST_ARCHIVE, archive=archive))
    else:
        parts.append(tr(LIST_ARCHIVES))
    return sentences(parts)


def sentences(parts: Sequence[str]) -> str:
    """Sentences one after another: a space after a Latin full stop, none after a Chinese
    one ("完成。你的推送…", not "完成。 你的推送…")."""
    joined = parts[0] if parts else ""
    for part in parts[1:]:
        joined += ("" if joined.endswith(_FULL_WIDTH_ENDS) else " ") + part
    return joined


def taxonomy(archive: str | None, tr: Translator = ENGLISH_TEXTS) -> str:
    """arXiv's archives, or the categories of one, with their names in the chat's language."""
    found = arxiv_categories.lookup(archive) if archive else None
    if found is not None and found in arxiv_categories.ARCHIVES:
        lines = [f"<b>{html.escape(arxiv_categories.describe(found, tr))}</b>"]
        lines += [
            f"<code>{name}</code> {html.escape(arxiv_categories.name_of(name, tr))}"
            for name in arxiv_categories.members(found)
        ]
        return "\n".join(lines)
    lines = [tr(ARCHIVES_HEADING)]
    lines += [
        tr(
            ARCHIVE_LINE,
            archive=name,
            name=html.escape(arxiv_categories.name_of(name, tr)),
            count=len(arxiv_categories.members(name)),
        )
        for name in arxiv_categories.ARCHIVES
    ]
    lines.append(tr(SINGLE_CATEGORY_ARCHIVES))
    lines.append(
        tr(LIST_SEPARATOR).join(
            f"<code>{name}</code> {html.escape(arxiv_categories.name_of(name, tr))}"
            for name in arxiv_categories.CATEGORIES
            if "." not in name
        )
    )
    if archive:
        lines.insert(0, tr(NOT_AN_ARCHIVE, archive=html.escape(archive[:40])))
    return "\n".join(lines)
