"""The one error an import raises for anything that is not a readable export."""

from __future__ import annotations


class ExportFormatError(ValueError):
    """The file is not a Telegram Desktop export we can import; the message is a one-line reason."""
