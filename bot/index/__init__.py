"""The stored papers' index: each paper normalised and matched once, when it is stored.

`bot.index.indexing` indexes the papers a poll stored and matches the recent ones against
every query any chat follows (one engine, one pass); a new subscription's queries are matched
against the lookback window once. `bot.index.search` finds stored papers for /latest, /export
and the subscription preview through the full-text index, then checks the candidates with the
exact matcher. `bot.index.retention` prunes what can no longer be pending.

May import: `bot.models`, `bot.messages`, `bot.matching`, `bot.storage`, `bot.arxiv`,
`bot.i18n`, `bot.delivery`, `bot.ops`, `bot.config`, `bot.services`.
"""
