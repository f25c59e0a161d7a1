"""Drafts tab: suggest a reply for a stored chat, review it, edit, send as the owner or discard; why
each draft says what it says (the memory its prompt held, read back from the chat); and what the
twin learns from that (preference pairs, the latest preference stage)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from admin_ui.panel.common import (
    Choices,
    PanelContext,
    as_id,
    chat_titles,
    format_time,
    is_empty,
    owner_errors,
    row_picker,
    why_text,
)
from admin_ui.panel.training import learning_text
from application import drafting, overview, records
from application.reply_memory import memory_of_draft
from storage.replies import Draft

PENDING_COLUMNS = ["draft", "chat", "suggestion", "memory", "created"]
CLOSED_COLUMNS = ["draft", "chat", "status", "suggestion", "sent", "memory", "when"]
SHOWN_DRAFTS, SHOWN_CLOSED = 300, 50


@dataclass(frozen=True)
class DraftsView:
    pending: pd.DataFrame
    closed: pd.DataFrame
    choices: Choices
    """The pending drafts, for the review dropdown."""
    telegram_note: str
    learning: str
    """Preference pairs from the drafts and the latest run's preference stage (`training.learning_text`)."""


@dataclass(frozen=True)
class DraftAction:
    """After suggest/send/discard: the refreshed tables, the text box's new content and a note."""

    view: DraftsView
    draft_id: int | None
    """What the review dropdown should show: the new draft, or nothing once it is closed."""
    text: str
    note: str
    why: str = ""
    """The new draft's memory ("why this reply"); empty once it is closed."""


def lines(stored: str) -> str:
    """A stored draft → one message per line, as the owner edits it."""
    return drafting.editable_text(drafting.draft_messages(stored))


def inline(stored: str) -> str:
    """A stored draft in a table cell: its messages separated by ` / `."""
    return " / ".join(drafting.draft_messages(stored))


def memory_cell(draft: Draft) -> str:
    """How many of the chat's messages the draft's prompt held as memory ("—": not recorded)."""
    ids = draft.memory_message_ids
    return "—" if ids is None else f"{len(ids)} message{'s' * (len(ids) != 1)}" if ids else "none"


async def drafts_view(ctx: PanelContext) -> DraftsView:
    drafts = await records.drafts(ctx.services, limit=SHOWN_DRAFTS)
    titles = await chat_titles(ctx)
    pending = [d for d in drafts if d.status == "pending"]
    closed = [d for d in drafts if d.status != "pending"][:SHOWN_CLOSED]
    pending_frame = pd.DataFrame(
        [[d.id, titles.get(d.chat_id, d.chat_id), inline(d.text), memory_cell(d), format_time(d.created_at, ctx.tz)]
         for d in pending],
        columns=PENDING_COLUMNS,
    )
    closed_frame = pd.DataFrame(
        [[d.id, titles.get(d.chat_id, d.chat_id), d.status, inline(d.text), inline(d.sent_text or ""), memory_cell(d),
          format_time(d.updated_at, ctx.tz)] for d in closed],
        columns=CLOSED_COLUMNS,
    )
    choices = [(f"#{d.id} · {titles.get(d.chat_id, d.chat_id)}", d.id) for d in pending]
    telegram = "Telegram connected: **Send** posts as you." if overview.telegram_connected(ctx.services) else (
        "Telegram is offline: drafts can be suggested and discarded; sending needs `python main.py run`."
    )
    return DraftsView(pending_frame, closed_frame, choices, telegram, await learning_text(ctx))


async def suggest(ctx: PanelContext, chat_id: Any, message: str) -> DraftAction:
    suggestion = await drafting.suggest_draft(ctx.services, as_id(chat_id, "chat"), (message or "").strip() or None)
    draft = suggestion.draft
    where = " and placed in the Telegram input box." if suggestion.telegram_draft_saved else "."
    return DraftAction(await drafts_view(ctx), draft.id, lines(draft.text), f"Draft #{draft.id} stored{where}",
                       f"Draft #{draft.id} · {why_text(suggestion.memory, ctx.tz)}")


async def draft_text(ctx: PanelContext, draft_id: Any) -> str:
    if is_empty(draft_id):
        return ""
    return lines((await records.draft(ctx.services, as_id(draft_id, "draft"))).text)


async def draft_why(ctx: PanelContext, draft_id: Any) -> str:
    """Why a draft (pending or closed) says what it says: the memory its prompt held, read back from
    its chat now (a message deleted since shows as deleted)."""
    if is_empty(draft_id):
        return ""
    draft = await records.draft(ctx.services, as_id(draft_id, "draft"))
    return f"Draft #{draft.id} · {why_text(await memory_of_draft(ctx.services, draft), ctx.tz)}"


async def send(ctx: PanelContext, draft_id: Any, text: str) -> DraftAction:
    draft = await drafting.send_draft(ctx.services, as_id(draft_id, "draft"), drafting.edited_messages(text or ""))
    edited = " (edited)" if draft.sent_text != draft.text else ""
    return DraftAction(await drafts_view(ctx), None, "", f"Draft #{draft.id} sent{edited}.")


async def discard(ctx: PanelContext, draft_id: Any) -> DraftAction:
    draft = await drafting.discard_draft(ctx.services, as_id(draft_id, "draft"))
    return DraftAction(await drafts_view(ctx), None, "", f"Draft #{draft.id} discarded.")


@dataclass(frozen=True)
class DraftsTab:
    chat: Any
    pending: Any
    closed: Any
    pick: Any
    telegram_note: Any
    learning: Any


def build(ctx: PanelContext) -> DraftsTab:
    """The tab's components and events; call inside `gr.Blocks`."""
    import gradio as gr

    def shown(action: DraftAction) -> list[Any]:
        view = action.view
        return [view.pending, view.closed, gr.update(choices=view.choices, value=action.draft_id), view.telegram_note,
                view.learning, action.text, action.note, action.why]

    @owner_errors
    async def on_suggest(chat_id: Any, message: str) -> list[Any]:
        return shown(await suggest(ctx, chat_id, message))

    @owner_errors
    async def on_pick(draft_id: Any) -> list[str]:
        return [await draft_text(ctx, draft_id), await draft_why(ctx, draft_id)]

    @owner_errors
    async def on_pick_closed(draft_id: Any) -> str:
        return await draft_why(ctx, draft_id)

    @owner_errors
    async def on_send(draft_id: Any, text: str) -> list[Any]:
        return shown(await send(ctx, draft_id, text))

    @owner_errors
    async def on_discard(draft_id: Any) -> list[Any]:
        return shown(await discard(ctx, draft_id))

    with gr.Tab("Drafts"):
        telegram_note = gr.Markdown()
        with gr.Row():
            with gr.Column(scale=2):
                gr.Markdown("#### Suggest a reply")
                draft_chat = gr.Dropdown(label="Chat", allow_custom_value=True)
                incoming = gr.Textbox(label="New incoming message (optional)", lines=2)
                suggest_btn = gr.Button("Suggest", variant="primary")
            with gr.Column(scale=3):
                gr.Markdown("#### Review")
                draft_pick = gr.Dropdown(label="Pending draft", allow_custom_value=True)
                text_box = gr.Textbox(label="Text to send (one message per line; edit freely)", lines=4)
                with gr.Row():
                    send_btn = gr.Button("Send", variant="primary")
                    discard_btn = gr.Button("Discard", variant="stop")
                note = gr.Markdown()
                why = gr.Textbox(label="Why this reply: the memory the prompt held", lines=4, interactive=False)
        pending_df = gr.Dataframe(label="Pending drafts (click a row to review it)", interactive=False)
        closed_df = gr.Dataframe(label="Sent and discarded (click a row for why)", interactive=False)
        closed_pick = gr.Number(visible=False)
        learning_md = gr.Markdown()
        outputs = [pending_df, closed_df, draft_pick, telegram_note, learning_md, text_box, note, why]
        suggest_btn.click(on_suggest, [draft_chat, incoming], outputs, api_name="suggest_draft")
        draft_pick.change(on_pick, draft_pick, [text_box, why])
        pending_df.select(row_picker(), pending_df, draft_pick)
        closed_df.select(row_picker(), closed_df, closed_pick)
        closed_pick.change(on_pick_closed, closed_pick, why)
        send_btn.click(on_send, [draft_pick, text_box], outputs, api_name="send_draft")
        discard_btn.click(on_discard, draft_pick, outputs, api_name="discard_draft")
    return DraftsTab(draft_chat, pending_df, closed_df, draft_pick, telegram_note, learning_md)
