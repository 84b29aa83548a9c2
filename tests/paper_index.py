"""An in-memory full-text index of papers' normal forms, made by migration 9's own statement,
for tests of what searches find."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager

from bot.models import Document, SearchPlan
from bot.storage.migrations import MIGRATIONS
from bot.storage.search import fts_query, index_columns

PAPER_WORDS = next(
    statement
    for step in MIGRATIONS
    for statement in step
    if "CREATE VIRTUAL TABLE paper_words" in statement
)


class PaperIndex:
    """paper_words holding documents 0, 1, 2… (rowid = position), searched with plans."""

    def __init__(self, db: sqlite3.Connection, docs: Sequence[Document]) -> None:
        self.db = db
        self.count = len(docs)
        db.execute(PAPER_WORDS)
        db.executemany(
            "INSERT INTO paper_words (rowid, title, abstract, authors, categories)"
            " VALUES (?, ?, ?, ?, ?)",
            [(number, *index_columns(doc)) for number, doc in enumerate(docs)],
        )

    def match(self, expression: str) -> set[int]:
        """The documents an FTS5 MATCH expression finds."""
        sql = "SELECT rowid FROM paper_words WHERE paper_words MATCH ?"
        return {row[0] for row in self.db.execute(sql, (expression,))}

    def find(self, plan: SearchPlan | None) -> set[int]:
        """The documents a plan finds: every one for None."""
        return set(range(self.count)) if plan is None else self.match(fts_query(plan))

    def tokens(self, number: int, column: str) -> list[str]:
        """The tokens FTS5 made of one column of a document, in order."""
        self.db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS words_vocab USING fts5vocab(paper_words, instance)"
        )
        sql = 'SELECT term FROM words_vocab WHERE doc = ? AND col = ? ORDER BY "offset"'
        return [row[0] for row in self.db.execute(sql, (number, column))]


@contextmanager
def paper_index(docs: Sequence[Document]) -> Iterator[PaperIndex]:
    """An index of the documents, closed afterwards."""
    with closing(sqlite3.connect(":memory:")) as db:
        yield PaperIndex(db, docs)
