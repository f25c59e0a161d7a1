"""A fake Telegram server below kurigram's transport, for offline tests and the load bench.

Only `Session.start/stop/send` are replaced (see /work/shared/notes/kurigram-offline-testing.md):
kurigram's own invoke wrappers, peer storage, FloodWait handling, update parsing, filters and
dispatch all run. The fake answers with real `pyrogram.raw` objects, round-tripped through TL so
they look exactly like decoded wire data.

- `raw_objects` — users, chats, messages and media as the wire gives them; a session string.
- `server` — `FakeTelegram`: what the account holds, the answers, the updates it pushes.
- `transport` — `fake_transport` patches kurigram onto a server; `wait_dispatched`.
"""

from testdata.telegram_fake.raw_objects import (
    API_HASH,
    API_ID,
    OWNER_ID,
    make_channel,
    make_group,
    make_message,
    make_service_message,
    make_user,
    peer_for,
    photo_media,
    roundtrip,
    session_string,
    sticker_media,
    unwrap,
    voice_media,
)
from testdata.telegram_fake.server import FakeTelegram, InjectedError, SimulatedCrash
from testdata.telegram_fake.transport import SleepRecorder, fake_transport, wait_dispatched

__all__ = [
    "API_HASH", "API_ID", "OWNER_ID", "FakeTelegram", "InjectedError", "SimulatedCrash", "SleepRecorder",
    "fake_transport", "make_channel", "make_group", "make_message", "make_service_message", "make_user", "peer_for",
    "photo_media", "roundtrip", "session_string", "sticker_media", "unwrap", "voice_media", "wait_dispatched",
]
