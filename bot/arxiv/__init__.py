"""What arXiv gives us: the announcement calendar, the category taxonomy, arXiv ids, the HTTP
client and the polite fetcher, feed parsing (RSS and Atom), the search API client and its query
translation, LaTeX to Unicode.

May import: `bot.models`, `bot.messages`, `bot.matching` (the search query is written in the
bot's query language) and `bot.storage`. Nothing above: texts for users travel as
`bot.messages.UserError`s and are said in the chat's language by the caller.
"""
