"""Ordered, named schema migrations. Append only: never edit a shipped one."""

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
]
