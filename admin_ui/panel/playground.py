"""Playground tab: compose a dialogue by hand and see the candidates the model would send, and
why: the memory their prompt held, recalled from a chat the owner picks (or why none)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from admin_ui.panel.common import RELATIONSHIPS, PanelContext, as_id, is_empty, owner_errors, why_text
from application import drafting

MAX_SHOWN_CANDIDATES = 4
OWNER_PREFIXES = ("me:", "я:", ">")
PARTNER_PREFIXES = ("them:", "они:", "<")
EXAMPLE_DIALOGUE = "them: hey! are you coming tonight?\nme: maybe, what's the plan\nthem: pizza at 8 at Marco's"


def parse_playground(text: str) -> list[tuple[drafting.Speaker, str]]:
    """One message per line: `me: …` is the owner, `them: …` (or no prefix) the partner.
    A line without a prefix after an owner line stays the partner's, so plain text is a question."""
    messages: list[tuple[drafting.Speaker, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        lower = line.lower()
        speaker: drafting.Speaker = "partner"
        for prefix in OWNER_PREFIXES:
            if lower.startswith(prefix):
                speaker, line = "owner", line[len(prefix):].strip()
                break
        else:
            for prefix in PARTNER_PREFIXES:
                if lower.startswith(prefix):
                    line = line[len(prefix):].strip()
                    break
        if line:
            messages.append((speaker, line))
    return messages


@dataclass(frozen=True)
class PlaygroundResult:
    candidates: list[str]
    """Up to MAX_SHOWN_CANDIDATES replies, each one message per line."""
    why: str
    """The memory their prompt held, or why none (`common.why_text`)."""


async def candidates(ctx: PanelContext, text: str, relationship: str, partner: str, n: float,
                     memory_chat: Any = None) -> PlaygroundResult:
    """Replies to the composed dialogue; with `memory_chat`, its prompt gets that chat's memory."""
    dialogue = drafting.compose_dialogue(parse_playground(text or ""), relationship, (partner or "").strip() or None)
    count = max(1, min(MAX_SHOWN_CANDIDATES, int(n)))
    chat_id = None if is_empty(memory_chat) else as_id(memory_chat, "chat")
    result = await drafting.generate_candidates(ctx.services, dialogue, count, chat_id)
    shown = [drafting.editable_text(c) for c in result.replies][:MAX_SHOWN_CANDIDATES]
    return PlaygroundResult(shown, why_text(result.memory, ctx.tz))


@dataclass(frozen=True)
class PlaygroundTab:
    candidates: list[Any]
    memory_chat: Any


def build(ctx: PanelContext) -> PlaygroundTab:
    """The tab's components and events; call inside `gr.Blocks`."""
    import gradio as gr

    @owner_errors
    async def on_generate(text: str, relationship: str, partner: str, n: float, memory_chat: Any) -> list[Any]:
        result = await candidates(ctx, text, relationship, partner, n, memory_chat)
        shown = result.candidates
        return [*(gr.update(value=shown[i] if i < len(shown) else "", visible=i < len(shown))
                  for i in range(MAX_SHOWN_CANDIDATES)), result.why]

    with gr.Tab("Playground"):
        gr.Markdown("Compose a dialogue, one message per line: `them: …` for the partner, `me: …` for you. "
                    "The model answers the last partner messages, as it would in a chat.")
        with gr.Row():
            with gr.Column(scale=3):
                dialogue_box = gr.Textbox(label="Dialogue", lines=8, value=EXAMPLE_DIALOGUE)
            with gr.Column(scale=1):
                relationship = gr.Dropdown(RELATIONSHIPS, label="Relationship", allow_custom_value=True)
                partner = gr.Textbox(label="Partner name", placeholder="optional")
                count = gr.Slider(1, MAX_SHOWN_CANDIDATES, value=3, step=1, label="Candidates")
                memory_chat = gr.Dropdown(label="Memory from chat (optional)", allow_custom_value=True)
                generate_btn = gr.Button("Generate", variant="primary")
        with gr.Row():
            boxes = [gr.Textbox(label=f"Candidate {i + 1}", lines=4, elem_classes="candidate", visible=i < 3)
                     for i in range(MAX_SHOWN_CANDIDATES)]
        why = gr.Textbox(label="Why this reply: the memory the prompt held", lines=4, interactive=False)
        generate_btn.click(on_generate, [dialogue_box, relationship, partner, count, memory_chat], [*boxes, why],
                           api_name="playground")
    return PlaygroundTab(boxes, memory_chat)
