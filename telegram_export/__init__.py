"""Telegram Desktop export (`result.json`) → storage: both export shapes, streamed, in one transaction.

- `source`      what an export path may be (a regular file), refused by what it is otherwise
- `json_stream` a forward-only JSON cursor over a file of any size (why hand-written: see there)
- `rows`        export message/chat objects → storage rows (the shape `bot.convert` writes too)
- `walker`      walks an export (single chat or whole account) into chunks of rows + a summary
- `read_ahead`  runs the walker off the event loop (thread, or a spawned process for big files)
- `transaction` `import_export`: the one transaction, idempotent inserts, profile merge

No Telegram client code: this package reads files and writes storage.
"""

from telegram_export.errors import ExportFormatError
from telegram_export.transaction import ImportResult, import_export

__all__ = ["ExportFormatError", "ImportResult", "import_export"]
