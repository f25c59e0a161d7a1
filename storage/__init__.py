"""The only package that speaks SQL: schema, migrations, transactions and typed queries."""

from storage.db import Database, now
from storage.errors import (
    DatabasePathUnusable,
    DatabaseUnusable,
    InvalidValue,
    NotADatabase,
    NotFound,
    SchemaTooNew,
    StorageError,
    TransactionDeadlock,
    WriteWaitTimeout,
)
from storage.rows import REPLY_MODES, ChatRow, ChatType, MessageRow, ReplyMode, UserRow

__all__ = [
    "REPLY_MODES", "ChatRow", "ChatType", "Database", "DatabasePathUnusable", "DatabaseUnusable", "InvalidValue",
    "MessageRow", "NotADatabase", "NotFound", "ReplyMode", "SchemaTooNew", "StorageError", "TransactionDeadlock",
    "UserRow", "WriteWaitTimeout", "now",
]
