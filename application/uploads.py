"""Where uploaded exports live, how big they may be, and how long they stay (the HTTP side, the
body cap on the upload routes, is `admin_ui.uploads`).

Every upload lands under `<data dir>/uploads` (0700): a REST `/api/import` body as
`uploads/export-<random>.json`, a file the panel received in `uploads/panel/` (Gradio's upload dir,
`GRADIO_TEMP_DIR`). An upload is deleted when its import job ends, or at once when the import is
refused; whatever a crash or an abandoned upload left there is swept when the panel is mounted.
The panel imports only files inside `uploads/panel/`: a path anywhere else is refused and left alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path

from application.errors import UploadNotFromPanel
from settings import Settings

log = logging.getLogger(__name__)

UPLOADS_DIR_NAME = "uploads"
PANEL_DIR_NAME = "panel"
MIB = 1 << 20


def uploads_dir(settings: Settings) -> Path:
    return settings.data_dir / UPLOADS_DIR_NAME


def panel_uploads_dir(settings: Settings) -> Path:
    return uploads_dir(settings) / PANEL_DIR_NAME


def max_upload_bytes(settings: Settings) -> int:
    return settings.max_upload_mb * MIB


def _remove(entry: Path) -> None:
    """A file, a symlink (never followed) or a directory tree."""
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry)
    else:
        entry.unlink(missing_ok=True)


def prepare_uploads_dir(settings: Settings) -> Path:
    """Create `uploads/` and `uploads/panel/` as 0700 (narrowing looser ones), delete everything an
    earlier run left in them, and return the panel's upload dir."""
    root = uploads_dir(settings)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)  # mkdir's mode does not apply to a directory that already existed
    swept = 0
    for entry in root.iterdir():
        if entry.name == PANEL_DIR_NAME and entry.is_dir() and not entry.is_symlink():
            for leftover in entry.iterdir():
                _remove(leftover)
                swept += 1
            continue
        _remove(entry)
        swept += 1
    panel = panel_uploads_dir(settings)
    panel.mkdir(mode=0o700, exist_ok=True)
    os.chmod(panel, 0o700)
    if swept:
        log.info("removed %d leftover upload(s) from %s", swept, root)
    return panel


def panel_upload(settings: Settings, path: str) -> Path:
    """The file the panel's upload route stored at `path`, with symlinks resolved; anything that does
    not resolve inside `uploads/panel/` is refused (and never touched)."""
    root = panel_uploads_dir(settings).resolve()
    resolved = Path(path).resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise UploadNotFromPanel("only a file uploaded through this panel can be imported")
    if not resolved.is_file():
        raise UploadNotFromPanel("that upload is gone (imported or refused already): choose the file again")
    return resolved


def discard_upload(settings: Settings, path: Path) -> None:
    """Delete an upload, and the folders Gradio made for it once they are empty (never `uploads/` itself)."""
    path.unlink(missing_ok=True)
    root = uploads_dir(settings).resolve()
    kept = {root, panel_uploads_dir(settings).resolve()}
    parent = path.parent.resolve()
    while parent not in kept and parent.is_relative_to(root):
        with contextlib.suppress(OSError):  # not empty: another upload lives there
            parent.rmdir()
        parent = parent.parent
