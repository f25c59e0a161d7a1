"""The only package that speaks SQL: schema, migrations, transactions and typed queries."""

from storage.db import Database, now
from storage.errors import InvalidValue, NotFound, SchemaTooNew, StorageError
from storage.rows import REPLY_MODES, ChatRow, ChatType, MessageRow, ReplyMode, UserRow

__all__ = [
    "REPLY_MODES", "ChatRow", "ChatType", "Database", "InvalidValue", "MessageRow", "NotFound",
    "ReplyMode", "SchemaTooNew", "StorageError", "UserRow", "now",
]
