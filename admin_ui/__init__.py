"""The admin panel: FastAPI REST with token auth, and the Gradio panel mounted at `/ui`."""
