"""Chats tab: the whitelist. Search chats, pick one, set its reply mode, relationship tag and
training opt-in, confirm a suggested relationship, and see its counts, what the bot decided there
and the owner's pace learned in it (`bot.timing`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

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
from application import chats
from application.chats import ChatDetail, ChatView
from bot.timing import Distribution, Timing, load_timing
from storage import ReplyMode

TrainChoice = Literal["default", "yes", "no"]
TRAIN_VALUES: dict[str, bool | None] = {"default": None, "yes": True, "no": False}
CHAT_COLUMNS = ["id", "title", "type", "mode", "relationship", "suggested", "messages", "yours"]
PACE_COLUMNS = ["", "median", "p90", "samples", "learned from"]


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
    suggestion: str
    """The suggested relationship and why, Markdown ('' when there is none)."""
    can_confirm: bool
    pace: pd.DataFrame


def chat_choices(views: list[ChatView]) -> Choices:
    return [(f"{c.title or c.id} · {c.mode} · {c.id}", c.id) for c in views]


def train_choice(train: bool | None) -> TrainChoice:
    return "default" if train is None else ("yes" if train else "no")


def chat_stats(detail: ChatDetail, tz: str) -> str:
    decisions = ", ".join(f"{k} {v}" for k, v in sorted(detail.decisions.items())) or "none yet"
    last = format_time(detail.last_message_at, tz) or "never"
    return (
        f"**{detail.title or detail.id}** ({detail.type}, id `{detail.id}`)  \n"
        f"Messages: {detail.messages} ({detail.owner_messages} yours) · last {last}  \n"
        f"Bot decisions: {decisions} · pending drafts: {detail.pending_drafts}"
    )


def suggestion_markdown(detail: ChatView) -> str:
    """The relationship suggestion and its reason, or '' when there is none."""
    suggested = detail.relationship_suggestion
    if not suggested:
        return ""
    reason = detail.relationship_reason or "no reason recorded"
    if detail.pending_suggestion is None:
        return f"Suggested relationship **{suggested}** ({reason}) — confirmed."
    return (f"Suggested relationship: **{suggested}** — {reason}.  \n"
            "Not used for training or replies until you confirm it.")


PACE_QUANTITIES = (("answer delay (s)", "answer_delay_seconds"), ("typing speed (chars/s)", "chars_per_second"),
                   ("gap between messages (s)", "turn_gap_seconds"))


def _source(chat: Distribution, overall: Distribution) -> str:
    # `bot.timing.learn_timing` gives a chat the global distribution itself when the chat's own
    # history has too few samples, so identity tells the fallback apart.
    if not chat.learned:
        return "defaults (too little history)"
    return "all chats" if chat is overall else "this chat"


def pace_frame(chat: Timing, overall: Timing) -> pd.DataFrame:
    """A chat's learned pace (`bot.timing`): median, p90 and samples of each quantity, and where it
    comes from — this chat, the global fallback (`overall`), or the documented defaults."""
    rows = []
    for label, name in PACE_QUANTITIES:
        dist = getattr(chat, name)
        rows.append([label, round(dist.median, 2), round(dist.p90, 2), len(dist.samples) if dist.learned else 0,
                     _source(dist, getattr(overall, name))])
    return pd.DataFrame(rows, columns=PACE_COLUMNS)


async def chat_pace(ctx: PanelContext, chat_id: int) -> pd.DataFrame:
    """The pace as the bot learns it at start-up (`bot.timing.load_timing`, read afresh: about 1 s
    per 200,000 stored messages, measured here), for one chat."""
    overall, per_chat = await load_timing(ctx.services.db, ctx.services.settings.session_gap_minutes * 60.0, chat_id)
    return pace_frame(per_chat.get(chat_id, overall), overall)


async def chats_table(ctx: PanelContext, search: str = "") -> ChatsTable:
    views = await chats.chat_list(ctx.services, (search or "").strip())
    frame = pd.DataFrame(
        [[c.id, c.title, c.type, c.mode, c.relationship or "", c.pending_suggestion or "", c.messages, c.owner_messages]
         for c in views],
        columns=CHAT_COLUMNS,
    )
    return ChatsTable(frame, chat_choices(views))


async def chat_form(ctx: PanelContext, chat_id: Any) -> ChatForm:
    cid = as_id(chat_id, "chat")
    detail = await chats.chat_detail(ctx.services, cid)
    return ChatForm(detail.mode, detail.relationship or "", train_choice(detail.train),
                    chat_stats(detail, ctx.tz), suggestion_markdown(detail),
                    detail.pending_suggestion is not None, await chat_pace(ctx, cid))


async def confirm_relationship(ctx: PanelContext, chat_id: Any) -> ChatForm:
    """Accept the suggestion; returns the refreshed form (its relationship is now the suggestion)."""
    cid = as_id(chat_id, "chat")
    await chats.confirm_relationship(ctx.services, cid)
    return await chat_form(ctx, cid)


async def save_chat(ctx: PanelContext, chat_id: Any, mode: ReplyMode, relationship: str, train: str) -> str:
    """Store the form; returns the chat's refreshed stats line."""
    cid = as_id(chat_id, "chat")
    if train not in TRAIN_VALUES:
        raise NothingChosen("choose default, yes or no for training")
    await chats.update_chat(
        ctx.services, cid, mode=mode, relationship=(relationship or "").strip() or None, train=TRAIN_VALUES[train],
    )
    return chat_stats(await chats.chat_detail(ctx.services, cid), ctx.tz)


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

    def shown(form: ChatForm) -> tuple[Any, ...]:
        return (form.mode, form.relationship, form.train, form.stats, form.suggestion,
                gr.update(visible=form.can_confirm), form.pace)

    @owner_errors
    async def on_pick(chat_id: Any) -> tuple[Any, ...]:
        if is_empty(chat_id):
            return (gr.update(), "", "default", "_Pick a chat._", "", gr.update(visible=False),
                    pd.DataFrame(columns=PACE_COLUMNS))
        return shown(await chat_form(ctx, chat_id))

    @owner_errors
    async def on_confirm(chat_id: Any, search: str) -> tuple[Any, ...]:
        form = await confirm_relationship(ctx, chat_id)
        gr.Info(f"relationship confirmed: {form.relationship}")
        table, choices = await on_search(search)
        return (*shown(form), table, choices)

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
                suggestion_md = gr.Markdown()
                confirm_btn = gr.Button("Confirm suggested relationship", visible=False)
                save_btn = gr.Button("Save", variant="primary")
            with gr.Column(scale=3):
                stats_md = gr.Markdown("_Pick a chat._")
                pace_df = gr.Dataframe(label="Your pace in this chat (learned from history)", interactive=False)
        search_btn.click(on_search, search, [chats_df, chat_pick], api_name="list_chats")
        search.submit(on_search, search, [chats_df, chat_pick])
        chats_df.select(row_picker(), chats_df, chat_pick)
        form_outputs = [mode, relationship, train, stats_md, suggestion_md, confirm_btn, pace_df]
        chat_pick.change(on_pick, chat_pick, form_outputs)
        confirm_btn.click(on_confirm, [chat_pick, search], [*form_outputs, chats_df, chat_pick],
                          api_name="confirm_relationship")
        save_btn.click(on_save, [chat_pick, mode, relationship, train, search], [stats_md, chats_df, chat_pick],
                       api_name="save_chat")
    return ChatsTab(search, chats_df, chat_pick)
