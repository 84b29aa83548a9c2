"""Numbered, append-only schema migrations, applied in order at start-up.

Never edit a migration that has shipped: add a new one. Each is a list of portable SQL
statements (SQLite today, PostgreSQL later), so types stay to INTEGER and TEXT.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: chats, their subscriptions, the papers seen, and what each chat has received.
    (
        """
        CREATE TABLE chats (
            chat_id INTEGER PRIMARY KEY,
            active INTEGER NOT NULL DEFAULT 1,
            digest_time TEXT NOT NULL,
            timezone TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_digest_at TEXT
        )
        """,
        """
        CREATE TABLE subscriptions (
            chat_id INTEGER NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE,
            keyword_key TEXT NOT NULL,
            keyword TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (chat_id, keyword_key)
        )
        """,
        """
        CREATE TABLE papers (
            arxiv_id TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            title TEXT NOT NULL,
            authors TEXT NOT NULL,
            abstract TEXT NOT NULL,
            categories TEXT NOT NULL,
            announce_type TEXT NOT NULL,
            announced TEXT,
            first_seen_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """,
        "CREATE INDEX papers_by_first_seen ON papers (first_seen_at)",
        """
        CREATE TABLE deliveries (
            chat_id INTEGER NOT NULL,
            arxiv_id TEXT NOT NULL,
            delivered_at TEXT NOT NULL,
            PRIMARY KEY (chat_id, arxiv_id)
        )
        """,
    ),
    # 2: which announcements each chat wants; how a paper was first announced (a later
    # replacement must not hide a new paper from chats without revisions); the version a
    # chat received, so that a revision can be delivered once to chats that want revisions.
    (
        "ALTER TABLE chats ADD COLUMN want_new INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE chats ADD COLUMN want_cross INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE chats ADD COLUMN want_revisions INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE papers ADD COLUMN first_announce_type TEXT",
        "UPDATE papers SET first_announce_type = announce_type",
        "ALTER TABLE deliveries ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
        "CREATE INDEX papers_by_updated ON papers (updated_at)",
    ),
    # 3: the outbox. Composing a digest writes its parts here, and the ledger, in one
    # transaction; a part is marked sent once Telegram confirms it, so a crash loses nothing.
    (
        """
        CREATE TABLE digests (
            digest_id INTEGER PRIMARY KEY,
            chat_id INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            parts_total INTEGER NOT NULL,
            papers INTEGER NOT NULL
        )
        """,
        """
        CREATE TABLE outbox (
            digest_id INTEGER NOT NULL REFERENCES digests (digest_id) ON DELETE CASCADE,
            part_no INTEGER NOT NULL,
            chat_id INTEGER NOT NULL,
            text TEXT NOT NULL,
            arxiv_ids TEXT NOT NULL,
            status TEXT NOT NULL,
            sent_at TEXT,
            PRIMARY KEY (digest_id, part_no)
        )
        """,
        "CREATE INDEX outbox_by_status ON outbox (status, chat_id)",
        "CREATE INDEX digests_by_created ON digests (created_at)",
    ),
    # 4: the arXiv categories a chat's digests draw from (NULL: the configured ones, stored
    # space-separated); what the fetcher remembers per feed URL so that a restart keeps its
    # conditional GETs and knows which feed day it last ingested; withdrawn papers.
    (
        "ALTER TABLE chats ADD COLUMN categories TEXT",
        """
        CREATE TABLE fetch_state (
            url TEXT PRIMARY KEY,
            etag TEXT,
            last_modified TEXT,
            sha256 TEXT,
            feed_day TEXT,
            updated_at TEXT NOT NULL
        )
        """,
        "ALTER TABLE papers ADD COLUMN withdrawn INTEGER NOT NULL DEFAULT 0",
    ),
    # 5: the forum topic a group's digests go to (NULL: the general topic); the channel a
    # private chat's digests are posted in instead of the chat itself (inactive once the bot
    # lost the right to post there).
    (
        "ALTER TABLE chats ADD COLUMN thread_id INTEGER",
        """
        CREATE TABLE channel_links (
            chat_id INTEGER PRIMARY KEY,
            channel_id INTEGER NOT NULL,
            title TEXT NOT NULL,
            linked_by INTEGER NOT NULL,
            active INTEGER NOT NULL DEFAULT 1,
            linked_at TEXT NOT NULL
        )
        """,
    ),
    # 6: the language the bot speaks with a chat ("en", "zh"); NULL until the chat first
    # writes, then taken from the Telegram user's language_code.
    ("ALTER TABLE chats ADD COLUMN language TEXT",),
    # 7: how many papers each arXiv category carried in its last feed (a category in a feed
    # at arXiv's item limit counts as more than half of it), so that feed URLs are planned
    # under the limit from the first poll after a restart.
    (
        """
        CREATE TABLE category_sizes (
            category TEXT PRIMARY KEY,
            items INTEGER NOT NULL,
            updated_at TEXT NOT NULL
        )
        """,
    ),
    # 8: a part can end unsent (status 'failed'): refused for good by Telegram, or given up
    # after the maximum age; when and why ('refused', 'expired'). When a part was queued (its
    # digest composed, or its "More" button pressed), from which its age counts (NULL: the
    # digest's created_at). A scratch table that the outbox's write probe fills and empties.
    (
        "ALTER TABLE outbox ADD COLUMN queued_at TEXT",
        "ALTER TABLE outbox ADD COLUMN ended_at TEXT",
        "ALTER TABLE outbox ADD COLUMN end_reason TEXT",
        "CREATE TABLE write_probe (filler TEXT)",
    ),
    # 9: match once per announcement. Each paper's normal form is indexed once: `seq` is its
    # row in the full-text index paper_words (FTS5, SQLite only), renewed whenever its text
    # changes and NULL until it is indexed; index_days hands out each day's rows, never twice.
    # query_matches holds, per distinct query (a
    # subscription key), the papers it matches (their index row and version when matched: a
    # row for an earlier text is ignored, and no index by paper slows the day's inserts) and
    # where (a bit mask of fields): a chat's
    # pending papers are those of its queries it has not received. matched_queries lists the
    # queries whose matches are complete (matched against the lookback window when first
    # followed, then at every indexing run while followed). Old papers are pruned with
    # their ledger entries (deliveries_by_paper). The Python side of the upgrade (indexing
    # and matching the stored papers) runs at start-up, in bot.pipeline.
    (
        "ALTER TABLE papers ADD COLUMN seq INTEGER",
        "CREATE UNIQUE INDEX papers_by_seq ON papers (seq)",
        """
        CREATE VIRTUAL TABLE paper_words USING fts5(
            title, abstract, authors, categories, tokenize = "ascii tokenchars '.-'"
        )
        """,
        """
        CREATE TABLE query_matches (
            query_key TEXT NOT NULL,
            arxiv_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            version INTEGER NOT NULL,
            fields INTEGER NOT NULL,
            PRIMARY KEY (query_key, seq)
        ) WITHOUT ROWID
        """,
        "CREATE TABLE matched_queries (query_key TEXT PRIMARY KEY) WITHOUT ROWID",
        "CREATE TABLE index_days (day INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL)",
        "CREATE INDEX deliveries_by_paper ON deliveries (arxiv_id)",
        "CREATE INDEX subscriptions_by_key ON subscriptions (keyword_key)",
        # A chat's last digest is asked for at every digest: without this, a scan of every
        # digest ever composed (10,000 a day at 10,000 chats).
        "CREATE INDEX digests_by_chat ON digests (chat_id, created_at)",
    ),
    # 10: digests read only the matches they have not read yet. Every write of matches takes
    # the next run number (match_runs) and stamps its rows with it; a chat's digest records
    # the run it read up to, and a fingerprint of what decided what it read (its queries,
    # settings, categories, lookback): its next digest reads only later runs while the
    # fingerprint holds. A chat with no record (0) reads the whole window, as before.
    (
        "ALTER TABLE query_matches ADD COLUMN run INTEGER NOT NULL DEFAULT 0",
        "CREATE TABLE match_runs (id INTEGER PRIMARY KEY CHECK (id = 1), last INTEGER NOT NULL)",
        "INSERT INTO match_runs (id, last) VALUES (1, 0)",
        "ALTER TABLE chats ADD COLUMN read_run INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE chats ADD COLUMN read_for TEXT",
        # What a digest's read asks of each matched paper, without reading its row (the
        # abstract's page): half the read's time.
        "CREATE INDEX papers_pending ON papers (seq, arxiv_id, version, updated_at,"
        " first_seen_at, first_announce_type, announce_type, withdrawn)",
    ),
    # 11: a long digest's parts after the visible ones are held without their text, which is
    # rendered when the "More" button releases them (bot.delivery.digest.render_held): `held`
    # is what it is rendered from (NULL: the text is stored).
    ("ALTER TABLE outbox ADD COLUMN held TEXT",),
    # 12: the 429s and retries the sender met, per kind and quarter hour (UTC), for /stats:
    # they survive a restart, and "today" counts from midnight in any time zone.
    (
        """
        CREATE TABLE event_counts (
            bucket TEXT NOT NULL,
            kind TEXT NOT NULL,
            events INTEGER NOT NULL,
            PRIMARY KEY (bucket, kind)
        ) WITHOUT ROWID
        """,
    ),
    # 13: the last arXiv announcement day (a US/Eastern date) each digest named, so that the
    # next one names the announcement days since (NULL for earlier digests: the last
    # announcement day on or before the day they were composed); a chat's switch for a
    # one-line note on an announcement day that matched none of its keywords (off), recorded
    # as a digest of no papers.
    (
        "ALTER TABLE digests ADD COLUMN through_day TEXT",
        "ALTER TABLE chats ADD COLUMN tell_no_match INTEGER NOT NULL DEFAULT 0",
    ),
)
