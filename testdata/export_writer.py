"""One chat's messages in Telegram Desktop's export layout (`result.json`): the only place that
knows the field names, shared by the synthetic history and the bundled sample."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

Sender = tuple[str, int]
"""(display name, user id) as the export names a message's author."""

STICKERS = ["👍", "😂", "❤️", "😅", "🔥"]


class ExportWriter:
    """Appends messages to one chat (`chat["messages"]`), numbering them from `next_id`; `rnd` draws
    the media details (and, without `first_id`, the first id)."""

    def __init__(self, rnd: random.Random, chat: dict[str, Any], first_id: int | None = None) -> None:
        self.rnd = rnd
        self.chat = chat
        self.next_id = rnd.randint(100, 900) if first_id is None else first_id

    def _base(self, when: datetime, sender: Sender, kind: str = "message") -> dict[str, Any]:
        name, user_id = sender
        message: dict[str, Any] = {
            "id": self.next_id, "type": kind, "date": when.strftime("%Y-%m-%dT%H:%M:%S"),
            "date_unixtime": str(int(when.timestamp())),
        }
        self.next_id += 1
        if kind == "message":
            message["from"], message["from_id"] = name, f"user{user_id}"
        else:
            message["actor"], message["actor_id"] = name, f"user{user_id}"
        self.chat["messages"].append(message)
        return message

    def text(self, when: datetime, sender: Sender, text: str | list[Any], **extra: Any) -> dict[str, Any]:
        """A text message; a list mixes plain strings with entities (`{"type": "link", "text": …}`)."""
        message = self._base(when, sender)
        message.update(extra)
        message["text"] = text
        parts = [text] if isinstance(text, str) else text
        message["text_entities"] = [{"type": "plain", "text": p} if isinstance(p, str) else p for p in parts]
        return message

    def media(self, when: datetime, sender: Sender, kind: str) -> dict[str, Any]:
        """A sticker, photo, voice message, round video or location (no text)."""
        message = self._base(when, sender)
        n = message["id"]
        if kind == "sticker":
            message.update(file=f"stickers/sticker_{n}.webp", thumbnail=f"stickers/sticker_{n}.webp_thumb.jpg",
                           media_type="sticker", sticker_emoji=self.rnd.choice(STICKERS), width=512, height=512)
        elif kind == "photo":
            message.update(photo=f"photos/photo_{n}@{message['date'][:10]}.jpg", width=1280, height=960)
        elif kind == "voice":
            message.update(file=f"voice_messages/audio_{n}.ogg", media_type="voice_message",
                           mime_type="audio/ogg", duration_seconds=self.rnd.randint(3, 40))
        elif kind == "video_note":
            message.update(file=f"round_video_messages/file_{n}.mp4", media_type="video_message",
                           mime_type="video/mp4", duration_seconds=self.rnd.randint(5, 30))
        elif kind == "location":
            message["location_information"] = {"latitude": 52.52, "longitude": 13.405}
        message["text"], message["text_entities"] = "", []
        return message

    def service(self, when: datetime, sender: Sender, action: str, **extra: Any) -> None:
        """A service message (a call, a pin, a group created…)."""
        message = self._base(when, sender, kind="service")
        message.update(action=action, **extra)
        message["text"], message["text_entities"] = "", []


def mark_edited(message: dict[str, Any], when: datetime) -> None:
    """Mark a message as edited at `when`, as the export does."""
    message["edited"] = when.strftime("%Y-%m-%dT%H:%M:%S")
    message["edited_unixtime"] = str(int(when.timestamp()))
