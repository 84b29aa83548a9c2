"""Every SQL statement: the `Store` and its numbered migrations.

May import: `bot.models` and `bot.messages` only.
"""
