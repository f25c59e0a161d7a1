"""A fake Telegram server below kurigram's transport, for offline tests and the load bench.

Only `Session.start/stop/send` are replaced (see /work/shared/notes/kurigram-offline-testing.md):
kurigram's own invoke wrappers, peer storage, FloodWait handling, update parsing, filters and
dispatch all run. The fake answers with real `pyrogram.raw` objects, round-tripped through TL so
they look exactly like decoded wire data.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import os
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from pyrogram import raw, utils
from pyrogram.errors import RPCError
from pyrogram.raw.core import TLObject
from pyrogram.session import session as session_module

from model.status import ModelStatus

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


# ---------------------------------------------------------------- raw object builders

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


# ---------------------------------------------------------------- the fake server

class SimulatedCrash(Exception):
    """Raised by the fake server to stand in for the process dying mid-harvest."""


@dataclass
class InjectedError:
    """Answer the next `times` requests of `function` with an RPC error (e.g. FLOOD_WAIT_5)."""

    function: type
    message: str
    code: int = 420
    times: int = 1


@dataclass
class FakeTelegram:
    """Holds users, chats and histories; answers requests; records every request it got."""

    owner: raw.types.User = field(default_factory=lambda: make_user(OWNER_ID, "Owner", is_self=True))
    users: dict[int, raw.types.User] = field(default_factory=dict)
    chats: dict[int, raw.base.Chat] = field(default_factory=dict)   # kurigram chat id → raw chat
    history: dict[int, list[raw.base.Message]] = field(default_factory=dict)
    requests: list[TLObject] = field(default_factory=list)
    errors: list[InjectedError] = field(default_factory=list)
    fail_after_history_pages: int | None = None  # simulate a crash: raise after this many pages
    on_request: Callable[[TLObject], None] | None = None
    last_message_id: int = 0  # sent messages continue the account's id sequence, like Telegram
    pts: int = 1  # the account's update counter; every pts update is also kept in `update_log`
    update_log: list[tuple[int, raw.base.Update]] = field(default_factory=list)
    history_pages: int = 0
    common_chats: dict[int, int] = field(default_factory=dict)  # user id → groups shared with the owner

    def __post_init__(self) -> None:
        self.users[self.owner.id] = self.owner

    # --- set-up
    def add_user(self, user: raw.types.User) -> raw.types.User:
        self.users[user.id] = user
        return user

    def add_chat(self, chat_id: int, chat: raw.base.Chat) -> None:
        self.chats[chat_id] = chat

    def set_history(self, chat_id: int, messages: list[raw.base.Message]) -> None:
        self.history[chat_id] = sorted(messages, key=lambda m: m.id, reverse=True)

    def sent(self, function: type) -> list[TLObject]:
        """Requests of one kind, in order (e.g. `raw.functions.messages.SendMessage`)."""
        return [r for r in self.requests if isinstance(r, function)]

    def next_message_id(self) -> int:
        """An id for a new message in the account's sequence (after anything sent so far)."""
        return self.last_message_id + 1

    # --- updates pushed to the client
    def new_message_update(self, message: raw.base.Message) -> raw.types.Updates:
        self.last_message_id = max(self.last_message_id, message.id)
        update = self._logged(raw.types.UpdateNewMessage(message=message, pts=self._next_pts(), pts_count=1))
        return self._updates([update], self._peers_of(message))

    def edit_message_update(self, message: raw.base.Message) -> raw.types.Updates:
        update = self._logged(raw.types.UpdateEditMessage(message=message, pts=self._next_pts(), pts_count=1))
        return self._updates([update], self._peers_of(message))

    def delete_messages_update(self, message_ids: list[int]) -> raw.types.Updates:
        update = self._logged(raw.types.UpdateDeleteMessages(messages=message_ids, pts=self._next_pts(), pts_count=1))
        return self._updates([update])

    def _next_pts(self) -> int:
        self.pts += 1
        return self.pts

    def _logged(self, update: Any) -> Any:
        """Updates with a pts are what `updates.getDifference` replays to a client that missed them."""
        self.update_log.append((update.pts, update))
        return update

    def typing_update(self, user_id: int) -> raw.types.Updates:
        return self._updates([raw.types.UpdateUserTyping(user_id=user_id, action=raw.types.SendMessageTypingAction())])

    def draft_update(self, chat_id: int, text: str) -> raw.types.Updates:
        draft = raw.types.DraftMessage(message=text, date=int(time.time()))
        return self._updates([raw.types.UpdateDraftMessage(peer=peer_for(chat_id), draft=draft)])

    def _peers_of(self, message: raw.base.Message) -> tuple[list[raw.base.User], list[raw.base.Chat]]:
        """Like Telegram, an update carries only the users and chats it mentions."""
        user_ids = {self.owner.id}
        for peer in (message.peer_id, getattr(message, "from_id", None)):
            if isinstance(peer, raw.types.PeerUser):
                user_ids.add(peer.user_id)
        chat = next((c for cid, c in self.chats.items() if peer_for(cid) == message.peer_id), None)
        return [self.users[u] for u in user_ids if u in self.users], [chat] if chat is not None else []

    def _updates(self, updates: list[raw.base.Update],
                 peers: tuple[list[raw.base.User], list[raw.base.Chat]] | None = None) -> raw.types.Updates:
        users, chats = peers if peers is not None else (list(self.users.values()), self._raw_chats())
        return roundtrip(raw.types.Updates(updates=updates, users=users, chats=chats, date=int(time.time()), seq=0))

    def _raw_chats(self) -> list[raw.base.Chat]:
        return [c for c in self.chats.values() if not isinstance(c, raw.types.User)]

    # --- request handling
    def answer(self, query: TLObject) -> Any:
        query = unwrap(query)
        self.requests.append(query)
        if self.on_request is not None:
            self.on_request(query)
        for error in self.errors:
            if isinstance(query, error.function) and error.times > 0:
                error.times -= 1
                return raw.types.RpcError(error_code=error.code, error_message=error.message)
        handler = getattr(self, f"_on_{type(query).__name__}", None)
        if handler is None:
            raise NotImplementedError(f"fake Telegram does not answer {type(query).__name__}")
        return roundtrip(handler(query))

    def _on_GetState(self, query: Any) -> Any:
        return raw.types.updates.State(pts=self.pts, qts=0, date=int(time.time()), seq=0, unread_count=0)

    def _on_GetDifference(self, query: Any) -> Any:
        """Everything after the client's pts: new messages apart, edits/deletions as other updates."""
        missed = [u for pts, u in self.update_log if pts > query.pts]
        now = int(time.time())
        if not missed:
            return raw.types.updates.DifferenceEmpty(date=now, seq=0)
        return raw.types.updates.Difference(
            new_messages=[u.message for u in missed if isinstance(u, raw.types.UpdateNewMessage)],
            new_encrypted_messages=[],
            other_updates=[u for u in missed if not isinstance(u, raw.types.UpdateNewMessage)],
            chats=self._raw_chats(), users=list(self.users.values()),
            state=raw.types.updates.State(pts=self.pts, qts=0, date=now, seq=0, unread_count=0),
        )

    def _on_GetFullUser(self, query: Any) -> Any:
        user_id = getattr(query.id, "user_id", self.owner.id)
        user = self.users.get(user_id, self.owner)
        full = raw.types.UserFull(id=user.id, settings=raw.types.PeerSettings(),
                                  notify_settings=raw.types.PeerNotifySettings(),
                                  common_chats_count=self.common_chats.get(user.id, 0))
        return raw.types.users.UserFull(full_user=full, chats=[], users=[user])

    def _on_GetUsers(self, query: Any) -> Any:
        ids = []
        for item in query.id:
            if isinstance(item, raw.types.InputUserSelf):
                ids.append(self.owner.id)
            elif hasattr(item, "user_id"):
                ids.append(item.user_id)
        return [self.users[i] for i in ids if i in self.users]

    def _on_GetChannels(self, query: Any) -> Any:
        wanted = {utils.get_channel_id(c.channel_id) for c in query.id if hasattr(c, "channel_id")}
        return raw.types.messages.Chats(chats=[c for cid, c in self.chats.items() if cid in wanted])

    def _on_GetChats(self, query: Any) -> Any:
        wanted = {-i for i in query.id}
        return raw.types.messages.Chats(chats=[c for cid, c in self.chats.items() if cid in wanted])

    def _on_GetHistory(self, query: Any) -> Any:
        if self.fail_after_history_pages is not None and self.history_pages >= self.fail_after_history_pages:
            raise SimulatedCrash(f"simulated crash after {self.history_pages} history pages")
        self.history_pages += 1
        chat_id = self._chat_id(query.peer)
        rows = self.history.get(chat_id, [])  # newest first
        # Telegram's paging: start at the first message older than offset_id, shift by add_offset.
        start = 0
        if query.offset_id:
            start = next((i for i, m in enumerate(rows) if m.id < query.offset_id), len(rows))
        start += query.add_offset
        page = rows[max(0, start):max(0, start + query.limit)]
        if query.max_id:
            page = [m for m in page if m.id < query.max_id]
        if query.min_id:
            page = [m for m in page if m.id > query.min_id]
        return raw.types.messages.MessagesSlice(
            count=len(rows), messages=page, topics=[], chats=self._raw_chats(), users=list(self.users.values()),
        )

    def _on_GetDialogs(self, query: Any) -> Any:
        if query.offset_id or not isinstance(query.offset_peer, raw.types.InputPeerEmpty):
            return raw.types.messages.Dialogs(dialogs=[], messages=[], chats=[], users=[])
        dialogs, tops = [], []
        for chat_id, rows in self.history.items():
            if not rows:
                continue
            tops.append(rows[0])
            dialogs.append(raw.types.Dialog(
                peer=peer_for(chat_id), top_message=rows[0].id, read_inbox_max_id=0, read_outbox_max_id=0,
                unread_count=0, unread_mentions_count=0, unread_reactions_count=0, unread_poll_votes_count=0,
                notify_settings=raw.types.PeerNotifySettings(),
            ))
        return raw.types.messages.Dialogs(dialogs=dialogs, messages=tops, chats=self._raw_chats(),
                                          users=list(self.users.values()))

    def _on_SendMessage(self, query: Any) -> Any:
        self.last_message_id += 1
        return raw.types.UpdateShortSentMessage(id=self.last_message_id, pts=self._next_pts(), pts_count=1,
                                                date=int(time.time()), out=True)

    def _on_SetTyping(self, query: Any) -> Any:
        return True

    def _on_SaveDraft(self, query: Any) -> Any:
        return True

    def _chat_id(self, peer: Any) -> int:
        if isinstance(peer, raw.types.InputPeerUser):
            return peer.user_id
        if isinstance(peer, raw.types.InputPeerSelf):
            return self.owner.id
        if isinstance(peer, raw.types.InputPeerChat):
            return -peer.chat_id
        if isinstance(peer, raw.types.InputPeerChannel):
            return utils.get_channel_id(peer.channel_id)
        raise NotImplementedError(type(peer).__name__)


class SleepRecorder:
    """Stands in for `asyncio` inside kurigram's session module: records FloodWait sleeps instead
    of sleeping; everything else is the real asyncio."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


@contextlib.contextmanager
def fake_transport(server: FakeTelegram) -> Iterator[SleepRecorder]:
    """Patch kurigram so every session talks to `server`; yields the FloodWait sleep recorder."""
    import pyrogram.client

    class FakeSession(session_module.Session):
        async def start(self) -> None:
            self._state = session_module.SessionState.STARTED
            self.is_started.set()

        async def stop(self) -> None:
            self._state = session_module.SessionState.STOPPED
            self.is_started.clear()

        async def send(self, data: TLObject, wait_response: bool = True, timeout: float = 15) -> Any:
            await asyncio.sleep(0)  # a network hop: let other tasks run
            result = server.answer(data)
            if isinstance(result, raw.types.RpcError):
                RPCError.raise_it(result, type(unwrap(data)))
            return result

    recorder = SleepRecorder()
    original_session, original_asyncio = pyrogram.client.Session, session_module.asyncio
    pyrogram.client.Session = FakeSession  # type: ignore[misc]
    session_module.asyncio = recorder  # type: ignore[assignment]
    try:
        yield recorder
    finally:
        pyrogram.client.Session = original_session  # type: ignore[misc]
        session_module.asyncio = original_asyncio


# ---------------------------------------------------------------- time and model fakes

class ManualClock:
    """Virtual time for the reply pipeline: `sleep` waits until a test calls `advance`."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + seconds, future))
        await future

    @property
    def sleeping(self) -> int:
        return sum(1 for _, f in self._sleepers if not f.done())

    def advance(self, seconds: float) -> None:
        self._now += seconds
        due = [(t, f) for t, f in self._sleepers if t <= self._now]
        self._sleepers = [(t, f) for t, f in self._sleepers if t > self._now]
        for _, future in sorted(due, key=lambda item: item[0]):
            if not future.done():
                future.set_result(None)


class FakeModel:
    """services.ReplyModel stand-in: a fixed reply, records the dialogues it was asked about."""

    def __init__(self, reply: list[str] | None = None) -> None:
        self.parts = reply if reply is not None else ["ok"]
        self.dialogues: list[Any] = []
        self.fail_next = 0

    async def reply(self, dialogue: Any) -> list[str]:
        self.dialogues.append(dialogue)
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("model failure (injected)")
        return list(self.parts)

    async def candidates(self, dialogue: Any, n: int) -> list[list[str]]:
        return [await self.reply(dialogue) for _ in range(n)]

    async def swap_adapter(self, adapter_dir: str | None) -> None:
        return None

    def status(self) -> ModelStatus:
        return ModelStatus(backend="fake", state="ready", base_model="fake")


async def wait_until(condition: Callable[[], Any], *, clock: ManualClock | None = None, step: float = 1.0,
                     timeout: float = 10.0, what: str | None = None) -> None:
    """Poll `condition` (sync or async) until true, advancing `clock` by `step` virtual seconds
    between polls if given. Fails after `timeout` real seconds, naming what it waited for (`what`,
    else the condition's source line)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s in vain for: {what or _describe(condition)}")
        if clock is not None:
            clock.advance(step)
        await asyncio.sleep(0.002)


def _describe(condition: Callable[[], Any]) -> str:
    try:
        return inspect.getsource(condition).strip()
    except (OSError, TypeError):
        return repr(condition)


async def wait_dispatched(client: Any, timeout: float = 10.0) -> None:
    """Wait until kurigram's dispatcher has handled every queued update (its worker holds a lock
    while handlers run); checked twice to step over the gap between dequeue and lock."""
    dispatcher = client.dispatcher

    def busy() -> bool:
        return not dispatcher.updates_queue.empty() or any(lock.locked() for lock in dispatcher.locks_list)

    deadline = time.monotonic() + timeout
    while True:
        while busy():
            if time.monotonic() > deadline:
                raise AssertionError(f"kurigram's dispatcher still busy after {timeout:g} s (updates queued or a handler stuck)")
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.01)
        if not busy():
            return
