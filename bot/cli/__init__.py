"""The shell's sub-commands, `python -m bot export` and `python -m bot preview`, and what only
they use (Telegram HTML as terminal text).

May import every stage below it, `bot.pipeline` and `bot.schedule` included; not `bot.telegram`
or `bot.app`.
"""
