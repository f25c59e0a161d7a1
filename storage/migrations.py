"""Ordered, named schema migrations. Append only: never edit a shipped one."""

from storage.service_chats import SERVICE_ACCOUNT_IDS

_SERVICE_IDS = ", ".join(str(i) for i in sorted(SERVICE_ACCOUNT_IDS))
# Chats the privacy rule (storage.service_chats) never stores: Telegram's service accounts and bots.
_NOT_STORED = f"IN ({_SERVICE_IDS}) OR chat_id IN (SELECT id FROM chats WHERE type = 'bot')"

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
]
