"""The Gradio panel, one module per tab (dashboard, chats, playground, drafts, training, activity),
assembled by `builder`. Tab modules import gradio only inside `build()`, so their handlers are
plain async functions, tested without Gradio."""

from admin_ui.panel.builder import PANEL_CSS, build_panel

__all__ = ["PANEL_CSS", "build_panel"]
