"""Named storage errors."""


class StorageError(Exception):
    """Base class for storage failures."""


class NotFound(StorageError):
    """The requested row does not exist."""


class InvalidValue(StorageError):
    """A value does not fit the schema (unknown mode, bad status…)."""


class SchemaTooNew(StorageError):
    """The database was written by a newer tgtwin than this one."""
