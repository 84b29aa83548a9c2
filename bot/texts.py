"""User-facing texts (HTML parse mode). Kept together so they can move to message catalogs."""

from __future__ import annotations

import html
from collections.abc import Sequence

from bot import arxiv_categories

COMMANDS: tuple[tuple[str, str], ...] = (
    ("subscribe", 'Follow a keyword or "phrase"'),
    ("unsubscribe", "Stop following a keyword (or all)"),
    ("list", "Your keywords and digest time"),
    ("latest", "Newest matching papers: /latest [N] or /latest <query>"),
    ("search", "Search all of arXiv, older papers too: /search <query>"),
    ("categories", "Which arXiv categories your digest reads"),
    ("digest", "Send my pending digest now"),
    ("time", "Daily digest time, HH:MM"),
    ("timezone", "Time zone for the digest, Area/City"),
    ("settings", "Which announcements: new, cross-lists, revisions"),
    ("export", "Markdown file of your papers: /export [days]"),
    ("channel", "Post your digests in a channel you run: /channel @name"),
    ("help", "How to use this bot"),
    ("start", "Welcome"),
)

START = (
    "<b>Welcome to arXiv digest!</b>\n\n"
    "I read arXiv's new announcements every day, pick the papers that match your keywords, "
    "and send you one tidy digest a day — every matching paper, once.\n\n"
    "Start by following a topic:\n"
    "<code>/subscribe diffusion</code>\n"
    '<code>/subscribe "large language model", GAN</code>\n\n'
    "Curious right now? <code>/latest</code> shows the newest matches, "
    "<code>/latest graph neural network</code> searches without subscribing.\n"
    "Your digest comes daily at {time} ({timezone}); change it with /time and /timezone.\n"
    "/help lists everything."
)

HELP = (
    "<b>Commands</b>\n"
    "/subscribe <i>query</i>, <i>another query</i> — follow queries (comma-separated, "
    "at most {max_subs}, up to {max_len} characters each)\n"
    "/unsubscribe <i>keyword</i> — stop following one; <code>/unsubscribe all</code> — all\n"
    "/list — your keywords and digest time\n"
    "/latest [N] — the N newest stored papers matching your keywords (default 5, at most 20)\n"
    "/latest <i>query</i> — search stored papers without subscribing\n"
    "/search <i>query</i> — search all of arXiv (older papers too), newest first\n"
    "/digest — send my pending digest now\n"
    "/export [<i>days</i>] — a Markdown file of the papers that matched your keywords "
    "(default 7 days, at most 90)\n"
    "/categories — which arXiv categories your digest and /latest read; "
    "<code>/categories cs.LG math.ST</code> to choose, <code>/categories default</code> "
    "to go back to {default}\n"
    "/time <i>HH:MM</i> — when the daily digest comes (24-hour clock)\n"
    "/timezone <i>Area/City</i> — its time zone, e.g. <code>Europe/Berlin</code>\n"
    "/settings — which announcements your digest carries (new, cross-lists, revisions)\n"
    "/help — this list; /start — the welcome message\n\n"
    "<b>Queries</b>\n"
    'Words and <code>"quoted phrases"</code> in titles and abstracts, all required; '
    "<code>OR</code> (or <code>|</code>); <code>-word</code> or <code>NOT</code> to exclude; "
    "parentheses; fields <code>ti:</code> <code>abs:</code> <code>au:</code> "
    "<code>cat:</code>; <code>diffus*</code> for a prefix. Examples: "
    '<code>diffusion -medical</code>, <code>"text-to-image" OR t2i</code>, '
    '<code>cat:cs.CV (diffusion OR "flow matching")</code>, <code>au:hinton</code>.\n'
    "Case, accents, hyphens, simple plurals and LaTeX do not matter; "
    '<i>GAN</i> never matches "organ".\n'
    "New papers and cross-lists are sent once; revisions only if you turn them on in "
    "/settings."
)

SUBSCRIBE_USAGE = (
    "Usage: <code>/subscribe diffusion</code> or "
    '<code>/subscribe "flow matching", GAN</code> (comma-separated).'
)
UNSUBSCRIBE_USAGE = (
    "Usage: <code>/unsubscribe diffusion</code>, or <code>/unsubscribe all</code> "
    "to remove every keyword."
)
LATEST_USAGE = (
    "Usage: <code>/latest</code>, <code>/latest 10</code> (at most {max}) or "
    "<code>/latest diffusion</code>."
)
SEARCH_USAGE = (
    "Usage: <code>/search diffusion au:hinton</code>, "
    '<code>/search ti:"flow matching" -video</code> or <code>/search 2508.13167</code>. '
    "It asks arXiv itself, so older papers are found too; the query language is the one of "
    "/subscribe, without prefixes (diffus*)."
)
SEARCH_EMPTY = "arXiv has no paper matching <b>{query}</b>."
CATEGORIES_USAGE = (
    "Usage: <code>/categories</code> shows them, <code>/categories cs.LG math.ST</code> "
    "chooses them (categories such as cs.CV or hep-th, or whole archives such as math), "
    "<code>/categories default</code> goes back to the default, "
    "<code>/categories list</code> lists arXiv's archives and <code>/categories list cs</code> "
    "the categories of one."
)
TIME_USAGE = "Usage: <code>/time 08:30</code> (24-hour clock, in your time zone {timezone})."
TIMEZONE_USAGE = (
    "Usage: <code>/timezone Europe/Berlin</code> (an IANA name such as America/New_York, "
    "Asia/Shanghai or UTC)."
)
NO_SUBSCRIPTIONS = (
    "You follow no keywords yet. Try <code>/subscribe diffusion</code>, or search once "
    "with <code>/latest diffusion</code>."
)
NOTHING_PENDING = (
    "Nothing new for you since your last digest: no stored paper that you have not received "
    "matches your keywords. I poll arXiv after each daily announcement."
)
UNKNOWN_COMMAND = "I don't know the command {command}. /help lists what I can do."
NOT_A_COMMAND = "I understand commands only. /help lists them."
INTERNAL_ERROR = "Sorry, something went wrong on my side. Please try again in a minute."
SETTINGS = (
    "<b>Which announcements go into your digest?</b>\n"
    "New papers and cross-lists from other categories are on by default; turn on revisions "
    "to hear about new versions of papers. Tap to switch."
)


def chat_categories(chosen: Sequence[str] | None, default: Sequence[str], lead: str = "") -> str:
    """The chat's categories with their names; `lead` is a sentence put before."""
    which = "the default categories" if chosen is None else "your own choice of categories"
    lines = [f"{lead} " * bool(lead) + f"Your digest and /latest read {which}:"]
    lines += [f"• {html.escape(arxiv_categories.describe(c))}" for c in chosen or default]
    if chosen is None:
        lines.append("Choose others with <code>/categories cs.LG math.ST</code>.")
    else:
        lines.append(
            "<code>/categories default</code> goes back to the default "
            f"({html.escape(', '.join(default))})."
        )
    return "\n".join(lines)


def unknown_category(error: arxiv_categories.UnknownCategory) -> str:
    """Why a name is refused, what was probably meant, and how to see the real ones."""
    line = f"<b>{html.escape(error.given[:40])}</b> is not an arXiv category."
    close = arxiv_categories.close_matches(error.given, limit=3)
    if close:
        line += " Did you mean " + ", ".join(map(html.escape, close)) + "?"
    archive = arxiv_categories.guess_archive(error.given)
    if archive is not None:
        line += f" <code>/categories list {archive}</code> lists the categories of {archive}."
    else:
        line += " <code>/categories list</code> lists arXiv's archives."
    return line


def taxonomy(archive: str | None) -> str:
    """arXiv's archives, or the categories of one, with their names."""
    found = arxiv_categories.lookup(archive) if archive else None
    if found is not None and found in arxiv_categories.ARCHIVES:
        lines = [f"<b>{html.escape(arxiv_categories.describe(found))}</b>"]
        lines += [
            f"<code>{name}</code> {html.escape(arxiv_categories.name_of(name))}"
            for name in arxiv_categories.members(found)
        ]
        return "\n".join(lines)
    lines = [
        "<b>arXiv's archives</b> (choose one whole, or <code>/categories list cs</code> "
        "for its categories):"
    ]
    lines += [
        f"<code>{name}</code> {html.escape(title)} ({len(arxiv_categories.members(name))})"
        for name, title in arxiv_categories.ARCHIVES.items()
    ]
    lines.append("Single-category archives:")
    lines.append(
        ", ".join(
            f"<code>{name}</code> {html.escape(arxiv_categories.name_of(name))}"
            for name in arxiv_categories.CATEGORIES
            if "." not in name
        )
    )
    if archive:
        lines.insert(0, f"{html.escape(archive[:40])} is not an archive.")
    return "\n".join(lines)


# --- /export and the Markdown export -------------------------------------------------------------

EXPORT_DEFAULT_DAYS, EXPORT_MAX_DAYS = 7, 90
EXPORT_USAGE = (
    "Usage: <code>/export</code> (the last {default} days) or <code>/export 30</code> "
    "(1 to {max} days): a Markdown file of the papers that matched your keywords."
)
EXPORT_EMPTY = "No paper announced from {first} to {last} matches your keywords."
EXPORT_CAPTION = ("{count} paper, {first} to {last}", "{count} papers, {first} to {last}")
# The export's headings, per language (the language codes are Telegram's, shortened).
EXPORT_HEADING = {"en": "{topic}: paper overview", "zh": "{topic}论文概览"}
EXPORT_LINK_LABEL = {"en": "link", "zh": "link"}


def export_language(language_code: str | None) -> str:
    """The export's language for a Telegram language_code ("zh-hans" → zh); English else."""
    code = (language_code or "").casefold().replace("_", "-").split("-")[0]
    return code if code in EXPORT_HEADING else "en"


def export_heading(topic: str, language: str = "en") -> str:
    """The words of the export's top heading after its dates: "diffusion: paper overview",
    "生成式论文概览"; a space keeps a Latin topic apart from Chinese words."""
    template = EXPORT_HEADING.get(language, EXPORT_HEADING["en"])
    if language == "zh" and topic and topic[-1].isascii():
        template = template.replace("}论", "} 论")
    return template.format(topic=topic)


def export_link_label(language: str = "en") -> str:
    return EXPORT_LINK_LABEL.get(language, EXPORT_LINK_LABEL["en"])


def export_caption(count: int, first: object, last: object) -> str:
    """The document's caption: "1 paper, 2024-03-08 to 2024-03-11", "2 papers, ..."."""
    return EXPORT_CAPTION[count != 1].format(count=count, first=first, last=last)


# Groups, forum topics and channels ------------------------------------------------------------

HELP_GROUPS = (
    "\n\n<b>Groups, topics and channels</b>\n"
    "In a group, only its admins change its keywords and settings; everyone can use /list, "
    "/latest, /search and /help. In a group with topics, the digest goes to the topic "
    "where /subscribe was last sent.\n"
    "/channel <i>@name</i> — in this private chat: post the digests of this chat's keywords "
    "in a channel where you and I are admins, instead of here; you keep managing them here "
    "(/subscribe, /time, …). <code>/channel</code> shows the link, "
    "<code>/channel off</code> brings the digests back here."
)
ADMINS_ONLY = (
    "Sorry, only the admins of this group can change its keywords and settings. "
    "/list, /latest and /search work for everyone."
)
ADMINS_ONLY_BUTTON = "Only the group's admins can change its settings."
ADMIN_CHECK_FAILED = "I could not check whether you are an admin of this group; please try again."
TOPIC_CHOSEN = "Digests will be posted in this topic."
TOPIC_MOVED = "Digests now go to this topic instead of the one they went to before."
TOPIC_GENERAL = "Digests now go to the General topic."
CHANNEL_PRIVATE_ONLY = (
    "Link a channel from a private chat with me: <code>/channel @name</code> there."
)
CHANNEL_NONE = (
    "No channel is linked: your digests come here.\n"
    "<code>/channel @name</code> posts them in a channel where you and I are admins "
    "(add me with the right to post messages first)."
)
CHANNEL_SHOW = (
    "Your digests are posted in <b>{channel}</b>. You manage them here with /subscribe, "
    "/unsubscribe, /time and the others; <code>/channel off</code> brings them back here."
)
CHANNEL_INACTIVE = (
    "Your digests were posted in <b>{channel}</b> until I lost the right to post there; "
    "they come here now. Make me an admin there again and send "
    "<code>/channel {ref}</code>, or <code>/channel off</code> to forget it."
)
CHANNEL_LINKED = (
    "Linked <b>{channel}</b>: from now on the digests of this chat's keywords are posted "
    "there instead of here. You keep managing them here (/subscribe, /unsubscribe, /time, "
    "…); <code>/channel off</code> brings them back here."
)
DIGEST_POSTED = "Your digest was posted in <b>{channel}</b>."
CHANNEL_UNLINKED = "Unlinked <b>{channel}</b>: your digests come here again."
CHANNEL_NOT_LINKED = "No channel was linked; your digests come here."
CHANNEL_NOT_FOUND = (
    "I cannot find the channel {channel}. Add me to it as an admin with the right to post "
    "messages, then send <code>/channel @name</code> (its public name) or its numeric id."
)
CHANNEL_NOT_A_CHANNEL = "{channel} is not a channel. <code>/channel @name</code> links a channel."
CHANNEL_BOT_NOT_ADMIN = (
    "I am not an admin of <b>{channel}</b> with the right to post messages. In the channel's "
    "settings, add me as an admin with <i>Post messages</i>, then send "
    "<code>/channel {ref}</code> again."
)
CHANNEL_USER_NOT_ADMIN = (
    "Only an admin of <b>{channel}</b> can link it, and you are not one. Nothing was changed."
)
CHANNEL_CHECK_FAILED = "I could not check the channel {channel}; please try again in a minute."
CHANNEL_LOST = (
    "I can no longer post in <b>{channel}</b> (I was removed or lost the right to post), so "
    "your digests come here again. Make me an admin there and send "
    "<code>/channel {ref}</code> to link it again."
)
