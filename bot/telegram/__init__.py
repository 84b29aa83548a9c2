"""The Telegram side: command handlers by family and the group/channel guard that runs
before them. Handlers are thin: parse the arguments, call the store or the pipeline, reply.

May import every stage below it and `bot.schedule`, `bot.pipeline`, `bot.services`,
`bot.config`; not `bot.cli` or `bot.app`.
"""
