"""The fake Telegram server: users, chats and histories; it answers kurigram's requests with real
`pyrogram.raw` objects (round-tripped through TL) and records every request it got."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyrogram import raw, utils
from pyrogram.raw.core import TLObject

from testdata.telegram_fake.raw_objects import OWNER_ID, make_user, peer_for, roundtrip, unwrap


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

