"""Files a command writes where the user points it (`dataset --out`): whole or not at all, and a
place that cannot take a file is one clear line, not a traceback."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cli.common import fail


def check_output_path(path: Path, option: str = "--out") -> None:
    """Refuse, before any work, a path that plainly cannot take the file: a directory, or a path
    under a file. (Places that refuse new files, like /proc, are only found by trying: `write_lines`.)"""
    if path.is_dir():
        fail(f"{option} {path} is a directory; name a file")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        fail(f"{option} {path}: cannot create a file there (a parent of it is a file, not a directory)")


def write_lines(path: Path, lines: Iterable[str], option: str = "--out") -> None:
    """Write `lines` to `path` through a temporary file beside it, renamed over `path` once
    complete, so a failed or interrupted write leaves no half-written file. A place that cannot
    take the file ends the command: one line naming `option`, exit 2."""
    check_output_path(path, option)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        fail(f"{option} {path}: cannot create a file there ({_reason(exc)})")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
        os.replace(temporary, path)
    except BaseException as exc:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            fail(f"{option} {path}: cannot write the file ({_reason(exc)})")
        raise


def _reason(exc: OSError) -> str:
    # mkdir(parents=True) under a file says "File exists" (EEXIST) or ENOTDIR: name the real problem.
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        return "a parent of it is a file, not a directory"
    return exc.strerror or str(exc)
