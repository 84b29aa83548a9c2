"""User-facing texts (HTML parse mode), in English; the English text is the message id.

Every text a user can see lives here (those of /categories in `bot.i18n.category_texts`),
marked with `N_(...)` (or `NP_(singular, plural)`), and is translated where it is used:
`tr(texts.START, time=...)`, `tr` being the chat's `bot.i18n.translate.Translator`. (The
error messages of the stages below, such as QueryError and ArxivApiError, are
`bot.messages.UserError`s marked `N_` where they are raised, with their values as keyword
arguments; the handler shows `error.localized(tr)`.) Placeholders are `{name}`s filled by the
translator, never %-formats or f-strings (an f-string would be translated after it was
filled, i.e. never).

Adding or changing a text is two steps:
1. Write it here, `NEW_TEXT = N_("English, with {placeholders} and <b>tags</b>")`, and use it
   through the translator: `tr(texts.NEW_TEXT, placeholders=...)`, with
   `tr = await _tr(update, context)` in a handler or `translator(await
   store.language_of(chat_id))` elsewhere.
2. Refresh the catalogs and translate it:
       pybabel extract -F babel.cfg --no-wrap --sort-by-file -o bot/i18n/locale/messages.pot .
       pybabel update -i bot/i18n/locale/messages.pot -d bot/i18n/locale -l zh_Hans --no-wrap \
           --no-fuzzy-matching
   then fill its `msgstr` in bot/i18n/locale/zh_Hans/LC_MESSAGES/messages.po (same placeholders,
   same tags). tests/i18n/test_i18n.py fails until every text has its translation.
"""

from __future__ import annotations

from bot.i18n.translate import CHINESE, Translator
from bot.messages import N_, NP_

COMMANDS: tuple[tuple[str, str], ...] = (
    ("subscribe", N_('Follow a keyword or "phrase"')),
    ("unsubscribe", N_("Stop following a keyword (or all)")),
    ("list", N_("Your keywords and digest time")),
    ("latest", N_("Newest matching papers: /latest [N] or /latest <query>")),
    ("search", N_("Search all of arXiv, older papers too: /search <query>")),
    ("categories", N_("Which arXiv categories your digest reads")),
    ("digest", N_("Send my pending digest now")),
    ("time", N_("Daily digest time, HH:MM")),
    ("timezone", N_("Time zone for the digest, Area/City")),
    ("settings", N_("Which announcements: new, cross-lists, revisions")),
    ("export", N_("Markdown file of your papers: /export [days]")),
    ("channel", N_("Post your digests in a channel you run: /channel @name")),
    ("lang", N_("Language: English or 中文")),
    ("id", N_("Your Telegram user id and this chat's id")),
    ("help", N_("How to use this bot")),
    ("start", N_("Welcome")),
)

START = N_(
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

HELP = N_(
    "<b>Commands</b>\n"
    "/subscribe <i>query</i>, <i>another query</i> — follow queries (comma-separated, "
    "at most {max_subs}, up to {max_len} characters each)\n"
    "/unsubscribe <i>keyword</i> — stop following one; <code>/unsubscribe all</code> — all\n"
    "/list — your keywords and digest time\n"
    "/latest [N] — the N newest stored papers matching your keywords (default 5, at most 20)\n"
    "/latest <i>query</i> — search stored papers without subscribing\n"
    "/search <i>query</i> — search all of arXiv (older papers too), newest first\n"
    "/digest — send my pending digest now, or say why there is none and when arXiv's next "
    "announcement comes\n"
    "/export [<i>days</i>] — a Markdown file of the papers that matched your keywords "
    "(default 7 days, at most 90)\n"
    "/categories — which arXiv categories your digest and /latest read; "
    "<code>/categories cs.LG math.ST</code> to choose, <code>/categories default</code> "
    "to go back to {default}\n"
    "/time <i>HH:MM</i> — when the daily digest comes (24-hour clock)\n"
    "/timezone <i>Area/City</i> — its time zone, e.g. <code>Europe/Berlin</code>\n"
    "/settings — which announcements your digest carries (new, cross-lists, revisions), "
    "and a line on days when nothing matched\n"
    "/lang — my language: English or 中文 (Simplified Chinese)\n"
    "/id — your Telegram user id and this chat's id\n"
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

ID_USER = N_("Your Telegram user id: <code>{user_id}</code>")
ID_ANONYMOUS = N_(
    "You wrote on behalf of a chat, so Telegram does not tell me your own user id: "
    "send /id to me in a private chat to see it."
)
ID_CHAT = N_("This chat's id: <code>{chat_id}</code>")
ID_TOPIC = N_("This topic's id: <code>{topic_id}</code>")
ID_ADMINS = N_(
    "Whoever runs this bot gives it the user ids of its admins in <code>ADMIN_IDS</code> "
    "(they can then use /stats)."
)

SUBSCRIBE_USAGE = N_(
    "Usage: <code>/subscribe diffusion</code> or "
    '<code>/subscribe "flow matching", GAN</code> (comma-separated).'
)
UNSUBSCRIBE_USAGE = N_(
    "Usage: <code>/unsubscribe diffusion</code>, or <code>/unsubscribe all</code> "
    "to remove every keyword."
)
LATEST_USAGE = N_(
    "Usage: <code>/latest</code>, <code>/latest 10</code> (at most {max}) or "
    "<code>/latest diffusion</code>."
)
SEARCH_USAGE = N_(
    "Usage: <code>/search diffusion au:hinton</code>, "
    '<code>/search ti:"flow matching" -video</code> or <code>/search 2508.13167</code>. '
    "It asks arXiv itself, so older papers are found too; the query language is the one of "
    "/subscribe, without prefixes (diffus*)."
)
SEARCH_EMPTY = N_("arXiv has no paper matching <b>{query}</b>.")
SEARCH_TOO_MANY_IDS = N_("That is {count} arXiv ids; /search looks up at most {max} at a time.")
# Said after the reason a query is refused: no HTML.
TOO_MANY_QUERIES = N_("That is {count} queries; at most {max} at a time.")
CATEGORIES_USAGE = N_(
    "Usage: <code>/categories</code> shows them, <code>/categories cs.LG math.ST</code> "
    "chooses them (categories such as cs.CV or hep-th, or whole archives such as math), "
    "<code>/categories default</code> goes back to the default, "
    "<code>/categories list</code> lists arXiv's archives and <code>/categories list cs</code> "
    "the categories of one."
)
TIME_USAGE = N_("Usage: <code>/time 08:30</code> (24-hour clock, in your time zone {timezone}).")
TIMEZONE_USAGE = N_(
    "Usage: <code>/timezone Europe/Berlin</code> (an IANA name such as America/New_York, "
    "Asia/Shanghai or UTC)."
)
NO_SUBSCRIPTIONS = N_(
    "You follow no keywords yet. Try <code>/subscribe diffusion</code>, or search once "
    "with <code>/latest diffusion</code>."
)
DIGESTS_PAUSED = N_(
    "I cannot send digests right now: my database cannot be written (its disk may be full). "
    "Your papers wait and come as soon as it can be written again."
)
# /digest with nothing to send: {day} is arXiv's (US/Eastern) date, {next_day} {time} when its
# next announcement reaches the bot, in the chat's {timezone}.
NO_ANNOUNCEMENT_TODAY = N_(
    "Nothing new today: arXiv makes no announcement on {day} (none on weekends and arXiv "
    "holidays, by New York's calendar). The next one reaches me on {next_day} at {time} "
    "({timezone})."
)
NOTHING_MATCHED_TODAY = N_(
    "Nothing new for you: no paper in arXiv's announcement of {day} matched your keywords, "
    "and you have received every earlier match. The next announcement reaches me on "
    "{next_day} at {time} ({timezone})."
)
UNKNOWN_COMMAND = N_("I don't know the command {command}. /help lists what I can do.")
NOT_A_COMMAND = N_("I understand commands only. /help lists them.")
INTERNAL_ERROR = N_("Sorry, something went wrong on my side. Please try again in a minute.")
SETTINGS = N_(
    "<b>Which announcements go into your digest?</b>\n"
    "New papers and cross-lists from other categories are on by default; turn on revisions "
    "to hear about new versions of papers. Tap to switch."
)
SETTINGS_NO_MATCH = N_(
    "The last switch sends one line on announcement days when none of your keywords "
    "matched (off by default)."
)


# Digests (bot/delivery/digest.py and paper_block.py, the "More" button of bot/telegram/digests.py)

DIGEST_HEADING = N_("arXiv digest")
PAPERS = NP_("{count} paper", "{count} papers")
MORE_BUTTON = N_("More ({page}/{pages})")
ET_AL = N_("{authors} et al.")
MATCHED = N_("matched: {reasons}")
# "matched: diffusion — title, abstract; GAN — title": where each query matched, by field.
MATCHED_IN = N_("{query} — {fields}")
MATCHED_FIELDS = {
    "title": N_("title"),
    "abstract": N_("abstract"),
    "authors": N_("authors"),
    "categories": N_("categories"),
}
FIELD_SEPARATOR = N_(", ")  # between the fields of one query
REASON_SEPARATOR = N_("; ")  # between queries
CROSS_LIST = N_("cross-list")
CROSS_LIST_FROM = N_("cross-list from {category}")
REVISED = N_("revised")
REVISED_VERSION = N_("revised v{version}")
WITHDRAWN = N_("withdrawn")
WITHDRAWN_VERSION = N_("withdrawn v{version}")
REVISED_CROSS_LIST = N_("{revised}, {cross_list}")

# Command answers (bot/telegram/) ---------------------------------------------------------------

TOO_MANY_SUBSCRIPTIONS = N_(
    "You follow {count} keywords; adding {adding} would pass the limit of {max}. "
    "Nothing was changed — remove some with /unsubscribe first."
)
SUBSCRIBED = N_("Subscribed to {keywords}.")
ALREADY_FOLLOWING = N_("Already following {keywords}.")
FOLLOWING_SUMMARY = N_(
    "You follow {count} keyword(s). Your digest comes daily at {time} ({timezone}); "
    "/latest shows matches now."
)
PREVIEW_NONE = N_("{query}: no paper of the last {days} days matches (too narrow?).")
PREVIEW_COUNT = N_("{query}: {hits} of {papers} papers in the last {days} days.")
PREVIEW_EXAMPLES = N_("{query}: {hits} of {papers} papers in the last {days} days, e.g.")
REMOVED_ALL = N_("Removed all your keywords ({count}).")
UNSUBSCRIBED = N_("Unsubscribed from {keywords}.")
NOT_FOLLOWING = N_("You were not following {keywords}. /list shows your keywords.")
DIGEST_AT = N_("Daily digest at {time} ({timezone}).")
YOU_FOLLOW = N_("<b>You follow {count} keyword(s):</b>")
# After a stored query in /list that the query language no longer accepts.
QUERY_BROKEN = N_("⚠️ I no longer understand this query, so it matches nothing: {error}")
SHOWING_AT_MOST = N_("Showing at most {max}.")
NO_MATCH_YET = N_(
    "No stored paper matches {keywords} yet. I keep the papers of the last {days} days; "
    "<code>/search</code> asks arXiv itself, older papers too."
)
LATEST_HEADING = N_("Latest papers")
SEARCH_HEADING = N_("arXiv search: {query}")
SEARCH_HEADING_SOME = N_("arXiv search: {query} ({shown} newest of {total})")
TOO_MANY_CATEGORIES = N_(
    "That is {count} categories; at most {max} can be chosen "
    "(a whole archive such as <code>math</code> counts as one). Nothing was changed."
)
NOTHING_CHANGED = N_("Nothing was changed.")
BACK_TO_DEFAULT = N_("Back to the default.")
DONE = N_("Done.")
CATEGORY_ALIAS = N_("{typed} is {merged} at arXiv")
NEXT_ANNOUNCEMENT = N_("Papers of newly chosen categories come with arXiv's next announcement.")
DIGEST_NOW_AT = N_("Your daily digest now comes at {time} ({timezone}).")
BAD_TIME = N_("Expected a time as HH:MM (24-hour clock), got {given}.")
BAD_TIMEZONE = N_("Unknown time zone {given} (use a name like Europe/Berlin).")
SETTING_NEW = N_("New papers")
SETTING_CROSS = N_("Cross-lists")
SETTING_REVISIONS = N_("Revisions")
SETTING_NO_MATCH = N_("Tell me when nothing matched")
# A daily run that found nothing, for a chat that turned on SETTING_NO_MATCH ({day}: arXiv's).
NO_MATCH_NOTE = N_("Nothing in arXiv's announcement of {day} matched your keywords.")
BUTTON_EXPIRED = N_("This button is no longer valid.")
SAVED = N_("Saved.")
DIGEST_COMPLETE = N_("That was all of this digest.")

STATS = N_(
    "<b>Bot statistics</b>\n"
    "Chats: {chats} ({active_chats} active)\n"
    "Subscriptions: {subscriptions}\n"
    "Papers stored: {papers}\n"
    "Outbox: {pending_parts} parts pending, {held_parts} behind a More button\n"
    "<b>Today</b> (since 00:00 {timezone}):\n"
    "{digests} digests, {messages} messages sent\n"
    "{too_many} answers 429, {retries} retries"
)
STATS_ENDED = N_(
    "{refused} digest messages refused by Telegram, {expired} given up unsent after {hours} h "
    "(their papers wait for the next digest)"
)
STATS_PAUSED = N_("Sending is paused: the database cannot be written ({error})")

# /lang ------------------------------------------------------------------------------------------

LANG_CURRENT = N_(
    "I speak English with this chat. Tap a language, or send <code>/lang zh</code> "
    "or <code>/lang en</code>."
)
LANG_SET = N_("From now on I speak English with this chat. /help lists the commands.")
LANG_UNKNOWN = N_(
    "I do not know the language {given}. I speak English (<code>/lang en</code>) and "
    "Simplified Chinese (<code>/lang zh</code>)."
)

# --- /export and the Markdown export -------------------------------------------------------------

EXPORT_DEFAULT_DAYS, EXPORT_MAX_DAYS = 7, 90
EXPORT_USAGE = N_(
    "Usage: <code>/export</code> (the last {default} days) or <code>/export 30</code> "
    "(1 to {max} days): a Markdown file of the papers that matched your keywords. "
    "I keep the papers of the last {kept} days."
)
EXPORT_EMPTY = N_("No paper announced from {first} to {last} matches your keywords.")
EXPORT_CAPTION = NP_("{count} paper, {first} to {last}", "{count} papers, {first} to {last}")
# The export's heading after its dates ("生成式论文概览" in Chinese) and its link label.
EXPORT_HEADING = N_("{topic}: paper overview")
EXPORT_LINK_LABEL = N_("link")


def export_heading(topic: str, tr: Translator) -> str:
    """The words of the export's top heading after its dates: "diffusion: paper overview",
    "生成式论文概览"; a space keeps a Latin topic apart from Chinese words."""
    if tr.language == CHINESE and topic and topic[-1].isascii():
        topic += " "
    return tr(EXPORT_HEADING, topic=topic)


# Groups, forum topics and channels ------------------------------------------------------------

HELP_GROUPS = N_(
    "\n\n<b>Groups, topics and channels</b>\n"
    "In a group, only its admins change its keywords and settings; everyone can use /list, "
    "/latest, /search and /help. In a group with topics, the digest goes to the topic "
    "where /subscribe was last sent.\n"
    "/channel <i>@name</i> — in this private chat: post the digests of this chat's keywords "
    "in a channel where you and I are admins, instead of here; you keep managing them here "
    "(/subscribe, /time, …). <code>/channel</code> shows the link, "
    "<code>/channel off</code> brings the digests back here."
)
ADMINS_ONLY = N_(
    "Sorry, only the admins of this group can change its keywords and settings. "
    "/list, /latest and /search work for everyone."
)
ADMINS_ONLY_BUTTON = N_("Only the group's admins can change its settings.")
ADMIN_CHECK_FAILED = N_(
    "I could not check whether you are an admin of this group; please try again."
)
TOPIC_CHOSEN = N_("Digests will be posted in this topic.")
TOPIC_MOVED = N_("Digests now go to this topic instead of the one they went to before.")
TOPIC_GENERAL = N_("Digests now go to the General topic.")
CHANNEL_PRIVATE_ONLY = N_(
    "Link a channel from a private chat with me: <code>/channel @name</code> there."
)
CHANNEL_NONE = N_(
    "No channel is linked: your digests come here.\n"
    "<code>/channel @name</code> posts them in a channel where you and I are admins "
    "(add me with the right to post messages first)."
)
CHANNEL_SHOW = N_(
    "Your digests are posted in <b>{channel}</b>. You manage them here with /subscribe, "
    "/unsubscribe, /time and the others; <code>/channel off</code> brings them back here."
)
CHANNEL_INACTIVE = N_(
    "Your digests were posted in <b>{channel}</b> until I lost the right to post there; "
    "they come here now. Make me an admin there again and send "
    "<code>/channel {ref}</code>, or <code>/channel off</code> to forget it."
)
CHANNEL_LINKED = N_(
    "Linked <b>{channel}</b>: from now on the digests of this chat's keywords are posted "
    "there instead of here. You keep managing them here (/subscribe, /unsubscribe, /time, "
    "…); <code>/channel off</code> brings them back here."
)
DIGEST_POSTED = N_("Your digest was posted in <b>{channel}</b>.")
CHANNEL_UNLINKED = N_("Unlinked <b>{channel}</b>: your digests come here again.")
CHANNEL_NOT_LINKED = N_("No channel was linked; your digests come here.")
CHANNEL_NOT_FOUND = N_(
    "I cannot find the channel {channel}. Add me to it as an admin with the right to post "
    "messages, then send <code>/channel @name</code> (its public name) or its numeric id."
)
CHANNEL_NOT_A_CHANNEL = N_(
    "{channel} is not a channel. <code>/channel @name</code> links a channel."
)
CHANNEL_BOT_NOT_ADMIN = N_(
    "I am not an admin of <b>{channel}</b> with the right to post messages. In the channel's "
    "settings, add me as an admin with <i>Post messages</i>, then send "
    "<code>/channel {ref}</code> again."
)
CHANNEL_USER_NOT_ADMIN = N_(
    "Only an admin of <b>{channel}</b> can link it, and you are not one. Nothing was changed."
)
CHANNEL_CHECK_FAILED = N_("I could not check the channel {channel}; please try again in a minute.")
CHANNEL_LOST = N_(
    "I can no longer post in <b>{channel}</b> (I was removed or lost the right to post), so "
    "your digests come here again. Make me an admin there and send "
    "<code>/channel {ref}</code> to link it again."
)

# When Telegram refuses a digest for good (bot/delivery/notices.py) ---------------------------

DIGEST_REFUSED = N_(
    "Telegram refused a message of this chat's digest: <i>{reason}</i>. Its papers will come "
    "with the next digest."
)
DIGEST_TOPIC_REFUSED = N_(
    "I could not post the digest in its topic: Telegram answered <i>{reason}</i> (is the topic "
    "closed?). Reopen it, or send /subscribe in the topic where the digests should go. The "
    "papers will come with the next digest."
)
CHANNEL_PART_REFUSED = N_(
    "Telegram refused a message of the digest for <b>{channel}</b>: <i>{reason}</i>. Its papers "
    "will come with the next digest."
)
