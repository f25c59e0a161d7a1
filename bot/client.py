"""Build the kurigram user client from Settings.

The session lives in the data dir as `<session_name>.session`, readable by the owner only (0600):
it holds the account's auth key. Nothing here logs session strings, codes or passwords.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from settings import Settings

if TYPE_CHECKING:
    from pyrogram import Client

SESSION_FILE_MODE = 0o600

# One handler worker: handlers only store the message and hand it to the reply pipeline (the slow
# work runs in per-chat tasks), and a single worker keeps every chat's updates in arrival order,
# so an edit can never be written before the message it edits.
HANDLER_WORKERS = 1


class TelegramNotConfigured(RuntimeError):
    """TGTWIN_API_ID / TGTWIN_API_HASH are not set."""


class NotLoggedIn(RuntimeError):
    """No Telegram session in the data dir yet: run `python main.py login`."""


def require_credentials(settings: Settings) -> tuple[int, str]:
    """The API id and hash, or a clear error saying what to set."""
    if settings.api_id is None or settings.api_hash is None:
        raise TelegramNotConfigured(
            "Telegram is not configured: set TGTWIN_API_ID and TGTWIN_API_HASH "
            "(from https://my.telegram.org, 'API development tools') in the environment or .env"
        )
    return settings.api_id, settings.api_hash.get_secret_value()


def protect_session_file(path: Path) -> None:
    """Make the session file owner-only (it is the account's key)."""
    if path.exists():
        os.chmod(path, SESSION_FILE_MODE)


def private_session_storage(name: str, workdir: Path):  # -> pyrogram.storage.SQLiteStorage
    """kurigram's file storage, tightened to 0600 as soon as the file exists (before any key is
    written into it: `open()` creates an empty session row; the auth key comes later)."""
    from pyrogram.storage import SQLiteStorage

    class PrivateSQLiteStorage(SQLiteStorage):
        async def open(self) -> None:
            await super().open()
            protect_session_file(Path(self.database))

        async def save(self) -> None:
            await super().save()
            protect_session_file(Path(self.database))

    return PrivateSQLiteStorage(name, workdir=workdir)


def build_client(
    settings: Settings, *, session_string: str | None = None, require_session: bool = True
) -> "Client":
    """The user client for this account.

    `session_string` gives an in-memory session (tests, one-off runs); otherwise the session file in
    the data dir is used and, with `require_session`, must already exist (see `login`).
    """
    from pyrogram import Client

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    common = dict(
        workdir=str(settings.data_dir),
        workers=HANDLER_WORKERS,
        # We store reply ids, not the replied-to messages; skipping these lookups saves a request
        # per reply/sticker/topic message.
        fetch_replies=False,
        fetch_topics=False,
        fetch_stories=False,
        fetch_stickers=False,
        hide_password=True,
        # Missed updates are recovered by bot.runtime once its handlers exist (kurigram's own
        # start-time recovery would dispatch them to no handler and lose them).
        skip_updates=True,
    )
    if session_string is not None:
        api_id = settings.api_id
        api_hash = settings.api_hash.get_secret_value() if settings.api_hash else None
        return Client(settings.session_name, api_id=api_id, api_hash=api_hash,
                      session_string=session_string, **common)
    api_id, api_hash = require_credentials(settings)
    if require_session and not settings.session_path.exists():
        raise NotLoggedIn(f"no Telegram session at {settings.session_path}; run `python main.py login` first")
    return Client(
        settings.session_name, api_id=api_id, api_hash=api_hash,
        storage_engine=private_session_storage(settings.session_name, settings.data_dir), **common,
    )
