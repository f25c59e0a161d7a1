"""Named storage errors. Their messages are one line, fit to show to the user as they are."""


class StorageError(Exception):
    """Base class for storage failures."""


class NotFound(StorageError):
    """The requested row does not exist."""


class InvalidValue(StorageError):
    """A value does not fit the schema (unknown mode, bad status…)."""


class DatabaseUnusable(StorageError):
    """The database cannot be opened as it is; nothing was written to it."""


class DatabasePathUnusable(DatabaseUnusable):
    """The database path is a directory or another non-file, or SQLite cannot open it."""


class NotADatabase(DatabaseUnusable):
    """The file is not SQLite (or is damaged), or is another program's SQLite database."""


class SchemaTooNew(DatabaseUnusable):
    """The database was written by a newer tgtwin than this one."""


class WriteWaitTimeout(StorageError):
    """A write waited longer than `Database.write_wait_seconds` for another task's transaction."""


class TransactionDeadlock(StorageError):
    """A task started inside an open transaction wrote before it ended (it would wait for its parent)."""
