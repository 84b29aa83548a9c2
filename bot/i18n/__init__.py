"""Two languages: the texts (English message ids), the translator, and the catalogs in
`locale/`.

May import: `bot.models`, `bot.messages`, `bot.matching`, `bot.storage`, `bot.arxiv`.
"""
