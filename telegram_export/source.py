"""What an export path may be: a regular file (symlinks followed). Anything else is refused before
it is opened, by what it is: opening a FIFO waits for a writer forever, and /dev/zero never ends."""

from __future__ import annotations

import errno
import stat
from pathlib import Path

from telegram_export.errors import ExportFormatError

_NOT_FILES = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def export_file_size(path: Path) -> int:
    """The size of the regular file at `path`; otherwise a one-line ExportFormatError saying what
    the path is (missing, a broken symlink, a symlink loop, a directory, a device, a FIFO…)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ExportFormatError("a broken symlink" if path.is_symlink() else "no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ExportFormatError("a symlink loop (the link never reaches a file)") from None
        if exc.errno == errno.ENOTDIR:
            raise ExportFormatError("no such file (a part of the path is a file, not a directory)") from None
        raise ExportFormatError(f"cannot read the file: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ExportFormatError("is a directory, not an export file")
    for test, kind in _NOT_FILES:
        if test(info.st_mode):
            raise ExportFormatError(f"not a regular file: it is {kind}")
    if not stat.S_ISREG(info.st_mode):
        raise ExportFormatError("not a regular file")
    return info.st_size
