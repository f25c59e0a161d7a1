"""Everything Telegram (kurigram user client).

- `client`        builds the Client from Settings (session file 0600 in the data dir)
- `login`         `main.py login`: terminal login or a session string
- `convert`       kurigram Message/User/Chat → storage rows (same shape as `telegram_export`)
- `harvest`       `main.py harvest`: resumable backfill, chunks of 100, FloodWait handled
- `live`          handlers: live sync of new/edited/deleted messages, typing and draft signals
- `policy`        the pure `ReplyPolicy`: whether and how to answer, with a reason
- `pipeline`      policy → debounce → generate → send (typing) or draft → reply log
- `runtime`       `TelegramBot` lifecycle and the panel's `TelegramGateway`
- `context`       the dialogue context for a chat (shared with the panel)
"""
