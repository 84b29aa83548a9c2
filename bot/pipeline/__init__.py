"""The one place where the pipeline runs, in its order: poll → ingest → match → compose → send.

A poll (`bot.pipeline.polls`: `run_poll`) ingests every feed the chats need (`ingest`;
`ingest_feed` fetches, parses and stores one feed URL), has the new papers indexed and matched
once against every query followed (`bot.index`), and plans the next poll. A chat's daily run
(`bot.pipeline.digests`: `daily_digest`) reads the matches it has not received, composes its
digest (with those of every chat due at the same time: `bot.pipeline.composer`) and sends it
through the outbox (`send_digest`). When each runs (the poll chain, the chats' daily jobs) is
`bot.schedule`'s.

May import every stage below it: `bot.models`, `bot.messages`, `bot.matching`,
`bot.storage`, `bot.arxiv`, `bot.i18n`, `bot.delivery`, `bot.ops`, `bot.config`,
`bot.services`, `bot.index`.
"""
