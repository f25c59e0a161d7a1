"""Memory: earlier exchanges of the same chat, recalled into the prompt (issue 20).

`recall` is the one function serving (bot.context.chat_dialogue: live replies, drafts, the panel's
suggest, `tgtwin reply`) and training call; it holds the privacy rule: a chat's memory comes from
that chat only, never from another (groups included), redacted like training data, and nothing at
all with `memory_enabled` off or, for live prompts, for a chat whose reply mode is `off`.
"""

from memory.retrieval import Withheld, memory_withheld, recall, recalled_message_ids

__all__ = ["Withheld", "memory_withheld", "recall", "recalled_message_ids"]
