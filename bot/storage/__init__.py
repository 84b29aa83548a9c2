"""Every SQL statement: the `Store` (one module per table family) and its numbered migrations.

May import: `bot.models` and `bot.messages` only.
"""
