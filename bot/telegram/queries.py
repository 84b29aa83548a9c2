"""The queries of /subscribe, /unsubscribe and /latest, as the handlers check them beyond the
query language (`bot.matching`): how many one command may carry."""

from __future__ import annotations

from bot.i18n import texts
from bot.matching.query import QueryError
from bot.matching.ranking import MAX_SUBSCRIPTIONS, parse_keywords


def query_list(args: str) -> list[str]:
    """The queries of a command's arguments (`parse_keywords`); QueryError for more than a
    chat may follow (MAX_SUBSCRIPTIONS), as for a malformed one."""
    queries = parse_keywords(args)
    if len(queries) > MAX_SUBSCRIPTIONS:
        raise QueryError(texts.TOO_MANY_QUERIES, count=len(queries), max=MAX_SUBSCRIPTIONS)
    return queries
