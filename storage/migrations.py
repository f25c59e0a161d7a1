"""Ordered, named schema migrations. Append only: never edit a shipped one."""

from storage.service_chats import SERVICE_ACCOUNT_IDS

_SERVICE_IDS = ", ".join(str(i) for i in sorted(SERVICE_ACCOUNT_IDS))
# Chats the privacy rule (storage.service_chats) never stores: Telegram's service accounts and bots.
_NOT_STORED = f"IN ({_SERVICE_IDS}) OR chat_id IN (SELECT id FROM chats WHERE type = 'bot')"

# Migration 0007's parts (the memory index, storage.memory_index), frozen with it. Which expression
# of a message row is indexed is written once, so the back-fill view and the triggers that keep the
# index in step index the same text (an external-content FTS5 table must be told, on delete,
# exactly what it indexed). `ё` is folded to `е` because unicode61 keeps them apart
# (remove_diacritics does not touch Cyrillic) while Russian writers use either. The chat goes in as
# one token (`p123`, `n100123`), so a search is restricted to one chat inside the full-text index
# rather than by filtering every chat's hits afterwards.
_INDEXED_TEXT = "replace(replace({row}.text, 'ё', 'е'), 'Ё', 'Е')"
_CHAT_TOKEN = "(CASE WHEN {row}.chat_id < 0 THEN 'n' ELSE 'p' END || abs({row}.chat_id))"


def _index(row: str) -> str:
    """Index a live message's row (`NEW` or `OLD`) under its rowid."""
    return (f"INSERT INTO memory_fts (rowid, text, chat) SELECT id, {_INDEXED_TEXT.format(row=row)}, "
            f"{_CHAT_TOKEN.format(row=row)} FROM memory_rowids "
            f"WHERE chat_id = {row}.chat_id AND message_id = {row}.message_id AND {row}.deleted = 0")


def _unindex(row: str) -> str:
    """Take a row out of the index, with the very values it was indexed with (if it was: live)."""
    return (f"INSERT INTO memory_fts (memory_fts, rowid, text, chat) SELECT 'delete', id, "
            f"{_INDEXED_TEXT.format(row=row)}, {_CHAT_TOKEN.format(row=row)} FROM memory_rowids "
            f"WHERE chat_id = {row}.chat_id AND message_id = {row}.message_id AND {row}.deleted = 0")


MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_initial",
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            first_name TEXT, last_name TEXT, username TEXT,
            is_bot INTEGER NOT NULL DEFAULT 0,
            updated_at INTEGER NOT NULL
        );
        CREATE TABLE chats (
            id INTEGER PRIMARY KEY,            -- kurigram convention: users >0, groups -id, channels -100id
            type TEXT NOT NULL CHECK (type IN ('private','bot','group','supergroup','channel','self')),
            title TEXT NOT NULL DEFAULT '',
            reply_mode TEXT NOT NULL DEFAULT 'off' CHECK (reply_mode IN ('off','draft','auto')),
            relationship TEXT,
            train INTEGER,                     -- NULL: default by type (private yes, groups per settings)
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE TABLE messages (
            chat_id INTEGER NOT NULL,
            message_id INTEGER NOT NULL,
            sender_id INTEGER,
            sender_name TEXT,
            outgoing INTEGER NOT NULL,         -- written by the owner
            date INTEGER NOT NULL,             -- unix seconds, UTC
            text TEXT NOT NULL DEFAULT '',
            media TEXT,                        -- media kind placeholder (photo, sticker, voice…) or NULL
            reply_to INTEGER,
            forwarded INTEGER NOT NULL DEFAULT 0,
            edited_at INTEGER,
            deleted INTEGER NOT NULL DEFAULT 0,
            source TEXT NOT NULL CHECK (source IN ('export','telegram')),
            PRIMARY KEY (chat_id, message_id)
        ) WITHOUT ROWID;
        CREATE INDEX messages_by_chat_date ON messages (chat_id, date);
        CREATE TABLE sync_state (
            chat_id INTEGER PRIMARY KEY,
            oldest_id INTEGER,                 -- harvest watermark: everything newer is stored
            newest_id INTEGER,
            complete INTEGER NOT NULL DEFAULT 0,
            updated_at INTEGER NOT NULL
        );
        CREATE TABLE reply_log (
            id INTEGER PRIMARY KEY,
            chat_id INTEGER NOT NULL,
            message_id INTEGER,
            decision TEXT NOT NULL CHECK (decision IN ('answered','drafted','skipped','error')),
            reason TEXT NOT NULL,
            sent_message_ids TEXT,             -- JSON list
            created_at INTEGER NOT NULL
        );
        CREATE INDEX reply_log_by_chat ON reply_log (chat_id, created_at);
        CREATE TABLE drafts (
            id INTEGER PRIMARY KEY,
            chat_id INTEGER NOT NULL,
            trigger_message_id INTEGER,
            text TEXT NOT NULL,                -- what the model suggested
            sent_text TEXT,                    -- what the owner actually sent (edit = preference pair)
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','sent','discarded')),
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE TABLE training_runs (
            id INTEGER PRIMARY KEY,
            status TEXT NOT NULL CHECK (status IN ('queued','running','succeeded','failed','skipped')),
            trigger TEXT NOT NULL,             -- cli, api, schedule, demo
            preset TEXT NOT NULL,
            adapter_id TEXT,
            owner_messages INTEGER,            -- owner messages in the DB when the run started
            started_at INTEGER NOT NULL,
            finished_at INTEGER,
            error TEXT,
            progress REAL NOT NULL DEFAULT 0,
            loss_curve TEXT NOT NULL DEFAULT '[]',  -- JSON [[step, loss], ...]
            report TEXT                        -- JSON evaluation report
        );
        CREATE TABLE adapters (
            id TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            run_id INTEGER,
            base_model TEXT NOT NULL,
            metrics TEXT NOT NULL DEFAULT '{}',
            created_at INTEGER NOT NULL
        );
        CREATE TABLE promotions (
            id INTEGER PRIMARY KEY,
            adapter_id TEXT,                   -- NULL = serve the base model
            reason TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );
        CREATE TABLE kv (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL                -- JSON
        );
        """,
    ),
    (
        # Telegram's service chat (777000: login codes) and other service accounts and bots were
        # harvested and live-stored before the rule existed: remove them and everything about them.
        "0002_forget_service_chats",
        f"""
        DELETE FROM messages WHERE chat_id {_NOT_STORED};
        DELETE FROM sync_state WHERE chat_id {_NOT_STORED};
        DELETE FROM reply_log WHERE chat_id {_NOT_STORED};
        DELETE FROM drafts WHERE chat_id {_NOT_STORED};
        DELETE FROM chats WHERE type = 'bot' OR id IN ({_SERVICE_IDS});
        DELETE FROM users WHERE is_bot = 1 OR id IN ({_SERVICE_IDS});
        """,
    ),
    (
        # Who wrote a stored message: a person ('human': the owner or the partner, as `outgoing`
        # says), the bot ('bot': sent automatically), or the owner sending the bot's draft unchanged
        # ('draft_unchanged'). Only 'human' owner messages are training targets.
        "0003_message_authorship",
        """
        ALTER TABLE messages ADD COLUMN authored_by TEXT NOT NULL DEFAULT 'human'
            CHECK (authored_by IN ('human', 'bot', 'draft_unchanged'));
        """,
    ),
    (
        # A suggested relationship for the chat's partner (never used until confirmed into
        # `relationship`, or the owner enables automatic use) and why it was suggested.
        "0004_relationship_suggestion",
        """
        ALTER TABLE chats ADD COLUMN relationship_suggestion TEXT;
        ALTER TABLE chats ADD COLUMN relationship_reason TEXT;
        """,
    ),
    (
        # Which preference pairs (one per draft) a training run has learned from, so the status can
        # count the unused ones. Pairs themselves are derived from drafts and messages, not stored.
        "0005_preference_pair_uses",
        """
        CREATE TABLE preference_pair_uses (
            draft_id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL,
            used_at INTEGER NOT NULL
        );
        """,
    ),
    (
        # Continual training: which adapter each run continued from (NULL = the base model) and the
        # latest promotion when it was planned, and which owner turns it learned, keyed by the turn's
        # first message with a hash of the text as trained (an edited turn no longer matches).
        "0006_learned_turns",
        """
        CREATE TABLE continual_runs (
            run_id INTEGER PRIMARY KEY,
            continued_from TEXT,
            promotion_id INTEGER
        );
        CREATE TABLE learned_turns (
            run_id INTEGER NOT NULL,
            chat_id INTEGER NOT NULL,
            message_id INTEGER NOT NULL,
            text_hash TEXT NOT NULL,
            replay INTEGER NOT NULL,           -- 1: the run's lineage had learned it already
            PRIMARY KEY (run_id, chat_id, message_id)
        ) WITHOUT ROWID;
        """,
    ),
    (
        # Memory (issue 20): a full-text index over message texts, per chat, kept in step with every
        # write path by triggers; and which messages memory recalled for a reply (ids, JSON list).
        # `messages` is WITHOUT ROWID, so `memory_rowids` gives each message the integer rowid FTS5
        # needs; the FTS table stores no text of its own (external content: the `memory_source` view).
        "0007_memory_index",
        f"""
        CREATE TABLE memory_rowids (
            id INTEGER PRIMARY KEY,
            chat_id INTEGER NOT NULL,
            message_id INTEGER NOT NULL,
            date INTEGER NOT NULL,             -- the message's (never rewritten): searches filter on it
            UNIQUE (chat_id, message_id)
        );
        CREATE VIEW memory_source AS
            SELECT r.id AS id, {_INDEXED_TEXT.format(row='m')} AS text, {_CHAT_TOKEN.format(row='m')} AS chat
            FROM memory_rowids r JOIN messages m ON m.chat_id = r.chat_id AND m.message_id = r.message_id
            WHERE m.deleted = 0;
        CREATE VIRTUAL TABLE memory_fts USING fts5 (
            text, chat, content = 'memory_source', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
        );
        INSERT INTO memory_rowids (chat_id, message_id, date)
            SELECT chat_id, message_id, date FROM messages ORDER BY date;
        INSERT INTO memory_fts (memory_fts) VALUES ('rebuild');
        CREATE TRIGGER memory_after_insert AFTER INSERT ON messages BEGIN
            INSERT INTO memory_rowids (chat_id, message_id, date) VALUES (NEW.chat_id, NEW.message_id, NEW.date);
            {_index('NEW')};
        END;
        CREATE TRIGGER memory_after_update AFTER UPDATE OF text, deleted ON messages
            WHEN OLD.text IS NOT NEW.text OR OLD.deleted IS NOT NEW.deleted BEGIN
            {_unindex('OLD')};
            {_index('NEW')};
        END;
        CREATE TRIGGER memory_after_delete AFTER DELETE ON messages BEGIN
            {_unindex('OLD')};
            DELETE FROM memory_rowids WHERE chat_id = OLD.chat_id AND message_id = OLD.message_id;
        END;
        ALTER TABLE reply_log ADD COLUMN memory_message_ids TEXT;
        ALTER TABLE drafts ADD COLUMN memory_message_ids TEXT;
        """,
    ),
]
