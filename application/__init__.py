"""The application layer both faces call: the CLI (`cli/`) and the panel and REST API (`admin_ui/`).

What the owner can do (import history, suggest and send drafts, start a run, promote or roll
back an adapter, read the status and the chat views) is written here once, over the domain
packages (`bot`, `training`, `model`, `telegram_export`) and storage; the faces parse input, call
one function and show the result. `runtime.py` is the composition root that runs it all.
"""
