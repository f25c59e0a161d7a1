"""Chats tab: the whitelist. Search chats, pick one, set its reply mode, relationship tag and
training opt-in, and see its counts and what the bot decided there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from admin_ui import overview, records
from admin_ui.panel.common import (
    RELATIONSHIPS,
    Choices,
    NothingChosen,
    PanelContext,
    as_id,
    format_time,
    is_empty,
    owner_errors,
    row_picker,
)
from storage import ReplyMode

TrainChoice = Literal["default", "yes", "no"]
TRAIN_VALUES: dict[str, bool | None] = {"default": None, "yes": True, "no": False}
CHAT_COLUMNS = ["id", "title", "type", "mode", "relationship", "messages", "yours"]


@dataclass(frozen=True)
class ChatsTable:
    table: pd.DataFrame
    choices: Choices


@dataclass(frozen=True)
class ChatForm:
    """A picked chat's settings as the form shows them, and its stats line."""

    mode: ReplyMode
    relationship: str
    train: TrainChoice
    stats: str


def chat_choices(chats: list[dict[str, Any]]) -> Choices:
    return [(f"{c['title'] or c['id']} · {c['mode']} · {c['id']}", c["id"]) for c in chats]


def train_choice(train: bool | None) -> TrainChoice:
    return "default" if train is None else ("yes" if train else "no")


def chat_stats(detail: dict[str, Any], tz: str) -> str:
    decisions = ", ".join(f"{k} {v}" for k, v in sorted(detail["decisions"].items())) or "none yet"
    last = format_time(detail["last_message_at"], tz) or "never"
    return (
        f"**{detail['title'] or detail['id']}** ({detail['type']}, id `{detail['id']}`)  \n"
        f"Messages: {detail['messages']} ({detail['owner_messages']} yours) · last {last}  \n"
        f"Bot decisions: {decisions} · pending drafts: {detail['pending_drafts']}"
    )


async def chats_table(ctx: PanelContext, search: str = "") -> ChatsTable:
    chats = await overview.chat_list(ctx.services, (search or "").strip())
    frame = pd.DataFrame(
        [[c["id"], c["title"], c["type"], c["mode"], c["relationship"] or "", c["messages"], c["owner_messages"]]
         for c in chats],
        columns=CHAT_COLUMNS,
    )
    return ChatsTable(frame, chat_choices(chats))


async def chat_form(ctx: PanelContext, chat_id: Any) -> ChatForm:
    detail = await overview.chat_detail(ctx.services, as_id(chat_id, "chat"))
    return ChatForm(detail["mode"], detail["relationship"] or "", train_choice(detail["train"]),
                    chat_stats(detail, ctx.tz))


async def save_chat(ctx: PanelContext, chat_id: Any, mode: ReplyMode, relationship: str, train: str) -> str:
    """Store the form; returns the chat's refreshed stats line."""
    cid = as_id(chat_id, "chat")
    if train not in TRAIN_VALUES:
        raise NothingChosen("choose default, yes or no for training")
    await records.update_chat(
        ctx.services, cid, mode=mode, relationship=(relationship or "").strip() or None, train=TRAIN_VALUES[train],
    )
    return chat_stats(await overview.chat_detail(ctx.services, cid), ctx.tz)


@dataclass(frozen=True)
class ChatsTab:
    search: Any
    table: Any
    pick: Any


def build(ctx: PanelContext) -> ChatsTab:
    """The tab's components and events; call inside `gr.Blocks`."""
    import gradio as gr

    async def on_search(search: str) -> tuple[pd.DataFrame, Any]:
        view = await chats_table(ctx, search)
        return view.table, gr.update(choices=view.choices)

    @owner_errors
    async def on_pick(chat_id: Any) -> tuple[Any, str, str, str]:
        if is_empty(chat_id):
            return gr.update(), "", "default", "_Pick a chat._"
        form = await chat_form(ctx, chat_id)
        return form.mode, form.relationship, form.train, form.stats

    @owner_errors
    async def on_save(
        chat_id: Any, mode: ReplyMode, relationship: str, train: str, search: str
    ) -> tuple[str, pd.DataFrame, Any]:
        stats = await save_chat(ctx, chat_id, mode, relationship, train)
        gr.Info("saved")
        table, choices = await on_search(search)
        return stats, table, choices

    with gr.Tab("Chats"):
        with gr.Row():
            search = gr.Textbox(label="Search chats", placeholder="part of a name", scale=4)
            search_btn = gr.Button("Search", scale=1)
        chats_df = gr.Dataframe(label="Chats (click a row to edit)", interactive=False, max_height=360)
        with gr.Row():
            with gr.Column(scale=2):
                chat_pick = gr.Dropdown(label="Chat", allow_custom_value=True)
                mode = gr.Radio(["off", "draft", "auto"], label="Reply mode", value="off",
                                info="off: never answered · draft: suggestions for you to send · auto: answered as you")
                relationship = gr.Dropdown(RELATIONSHIPS, label="Relationship (goes into the prompt)",
                                           allow_custom_value=True)
                train = gr.Radio(["default", "yes", "no"], label="Use for training", value="default",
                                 info="default: private chats yes, groups per settings")
                save_btn = gr.Button("Save", variant="primary")
            with gr.Column(scale=3):
                stats_md = gr.Markdown("_Pick a chat._")
        search_btn.click(on_search, search, [chats_df, chat_pick], api_name="list_chats")
        search.submit(on_search, search, [chats_df, chat_pick])
        chats_df.select(row_picker(), chats_df, chat_pick)
        chat_pick.change(on_pick, chat_pick, [mode, relationship, train, stats_md])
        save_btn.click(on_save, [chat_pick, mode, relationship, train, search], [stats_md, chats_df, chat_pick],
                       api_name="save_chat")
    return ChatsTab(search, chats_df, chat_pick)
