"""Matching papers to subscriptions: the query language, the normal form shared by queries and
papers, the engine over all subscriptions, ranking and highlights. Pure: no I/O.

May import: `bot.models` and `bot.messages` only.
"""
