"""Which chats are never stored: the one home of the privacy rule for service chats.

Telegram's service chat 777000 carries login codes; other service/notification accounts and bots
carry receipts, codes and notifications, not the owner's conversation. None of them is stored by
the harvest, live sync or the export import unless the owner lists the chat id in
`TGTWIN_ALLOWED_SERVICE_CHATS`. Pure: no I/O, callable from every writer.
"""

from __future__ import annotations

from collections.abc import Collection

SERVICE_ACCOUNT_IDS: frozenset[int] = frozenset({
    777000,      # "Telegram": login codes, new-login and security notifications
    42777,       # Telegram's official account
    333000,      # Telegram support
    4244000,     # Telegram notifications (older service account)
    489000,      # Telegram Premium / Stars notifications
    1271266957,  # @replies: replies to the owner's channel comments
    136817688,   # @Channel_Bot: posts sent "as a channel" in groups
    1087968824,  # @GroupAnonymousBot: anonymous group admins
})


def is_service_chat(chat_id: int, *, chat_type: str | None = None, is_support: bool = False,
                    is_bot: bool = False, allowed: Collection[int] = ()) -> bool:
    """True for a chat that must not be stored: a known Telegram service account, a chat with a bot,
    a user Telegram flags as official support, unless the owner allowed its id explicitly.

    `chat_type` is ours (`storage.rows.ChatType`): "bot" for one-to-one chats with bots. Groups and
    channels are never service chats by this rule.
    """
    if chat_id in allowed:
        return False
    return chat_id in SERVICE_ACCOUNT_IDS or chat_type == "bot" or is_bot or is_support
