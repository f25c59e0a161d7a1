"""Raw Telegram objects as the wire gives them: users, chats, messages, media, a session string.

Hand-built objects leave optional vectors `None` where the wire gives `[]`; `roundtrip` passes them
through TL so kurigram parses them exactly like decoded wire data.
"""

from __future__ import annotations

import base64
import os
import struct
import time
from io import BytesIO
from typing import Any

from pyrogram import raw, utils
from pyrogram.raw.core import TLObject

OWNER_ID = 1000
API_ID = 12345
API_HASH = "0123456789abcdef0123456789abcdef"


def session_string(user_id: int = OWNER_ID, api_id: int = API_ID, dc_id: int = 2) -> str:
    """An authorised-looking session string (random auth key): kurigram skips login with it."""
    packed = struct.pack(">BI?256sQ?", dc_id, api_id, False, os.urandom(256), user_id, False)
    return base64.urlsafe_b64encode(packed).decode().rstrip("=")


def roundtrip(obj: Any) -> Any:
    """Encode and decode through TL, so optional vectors are `[]` like on the wire."""
    if isinstance(obj, list):
        return [roundtrip(item) for item in obj]
    if isinstance(obj, TLObject):
        return TLObject.read(BytesIO(obj.write()))
    return obj


def unwrap(query: TLObject) -> TLObject:
    """Strip `InvokeWith*` wrappers kurigram may add."""
    while type(query).__name__.startswith("InvokeWith") and hasattr(query, "query"):
        query = query.query
    return query


def make_user(user_id: int, first_name: str = "", last_name: str | None = None, *, bot: bool = False,
              is_self: bool = False, username: str | None = None, contact: bool = False,
              mutual_contact: bool = False) -> raw.types.User:
    return raw.types.User(
        id=user_id, is_self=is_self, bot=bot, access_hash=user_id * 7 + 1, contact=contact or mutual_contact,
        mutual_contact=mutual_contact,
        first_name=first_name or f"User{user_id}", last_name=last_name, username=username,
        bot_info_version=1 if bot else None,  # the wire ties this field to the bot flag
    )


def make_group(group_id: int, title: str) -> raw.types.Chat:
    """A basic group (kurigram chat id: -group_id)."""
    return raw.types.Chat(id=group_id, title=title, photo=raw.types.ChatPhotoEmpty(),
                          participants_count=3, date=0, version=1)


def make_channel(channel_id: int, title: str, *, broadcast: bool = False) -> raw.types.Channel:
    """A supergroup (or broadcast channel); kurigram chat id: -100<channel_id>."""
    return raw.types.Channel(id=channel_id, title=title, photo=raw.types.ChatPhotoEmpty(), date=0,
                             access_hash=channel_id * 3 + 1, broadcast=broadcast, megagroup=not broadcast)


def peer_for(chat_id: int) -> raw.base.Peer:
    """kurigram chat id → raw peer."""
    kind = utils.get_peer_type(chat_id)
    if kind == "user":
        return raw.types.PeerUser(user_id=chat_id)
    if kind == "channel":
        return raw.types.PeerChannel(channel_id=utils.get_raw_peer_id(chat_id))
    return raw.types.PeerChat(chat_id=-chat_id)


def make_message(message_id: int, chat_id: int, *, text: str = "", out: bool = False,
                 sender_id: int | None = None, date: int | None = None,
                 media: raw.base.MessageMedia | None = None, forwarded: bool = False,
                 edit_date: int | None = None, reply_to: int | None = None) -> raw.types.Message:
    """A message in `chat_id` (kurigram id). Private chat: incoming from the partner, outgoing from
    the owner; groups need `sender_id`."""
    if sender_id is None:
        sender_id = OWNER_ID if out else chat_id
    return raw.types.Message(
        id=message_id, peer_id=peer_for(chat_id), date=date or int(time.time()), message=text, out=out,
        from_id=raw.types.PeerUser(user_id=sender_id), media=media,
        fwd_from=raw.types.MessageFwdHeader(date=0, from_name="Someone") if forwarded else None,
        edit_date=edit_date,
        reply_to=raw.types.MessageReplyHeader(reply_to_msg_id=reply_to) if reply_to else None,
    )


def make_service_message(message_id: int, chat_id: int, date: int | None = None) -> raw.types.MessageService:
    return raw.types.MessageService(
        id=message_id, peer_id=peer_for(chat_id), date=date or int(time.time()),
        from_id=raw.types.PeerUser(user_id=chat_id), action=raw.types.MessageActionContactSignUp(),
    )


def sticker_media(emoji: str) -> raw.types.MessageMediaDocument:
    doc = raw.types.Document(
        id=1, access_hash=2, file_reference=b"", date=0, mime_type="image/webp", size=10, dc_id=2,
        attributes=[raw.types.DocumentAttributeSticker(alt=emoji, stickerset=raw.types.InputStickerSetEmpty()),
                    raw.types.DocumentAttributeImageSize(w=512, h=512)],
    )
    return raw.types.MessageMediaDocument(document=doc)


def voice_media() -> raw.types.MessageMediaDocument:
    doc = raw.types.Document(
        id=3, access_hash=4, file_reference=b"", date=0, mime_type="audio/ogg", size=10, dc_id=2,
        attributes=[raw.types.DocumentAttributeAudio(duration=3, voice=True)],
    )
    return raw.types.MessageMediaDocument(document=doc)


def photo_media() -> raw.types.MessageMediaPhoto:
    photo = raw.types.Photo(id=5, access_hash=6, file_reference=b"", date=0, dc_id=2,
                            sizes=[raw.types.PhotoSize(type="x", w=800, h=600, size=1000)])
    return raw.types.MessageMediaPhoto(photo=photo)

