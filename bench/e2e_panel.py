"""End-to-end panel check in a real browser (run by hand, not in CI).

    python -m bench.e2e_panel [--out DIR] [--model auto|real|echo] [--no-train] [--base-model tiny]

Builds a throwaway data dir with the bundled sample export (the demo's history, imported through
the real importer), runs a few incoming messages through the real reply pipeline (so the reply log
and a draft are genuine), trains the `tiny` preset through the real training controller (so the
loss curve and the evaluation report are real), then starts `admin_ui.server.serve` on loopback,
opens `/ui` in headless Chromium (Debian's `chromium`, driven with playwright), logs in with the
token, and saves a screenshot of the login page and of each tab. Prints only what it measured.

Needs: `apt-get install -y chromium` and `pip install playwright` (the browser is the system one).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from model.candidates import ChosenReplies
from model.status import ModelStatus
from samples import SAMPLE_EXPORT
from testdata.conversations import OWNER_ID, OWNER_NAME
from testdata.sample import DAN, MIA, MOM

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]
class BenchOutbox:
    """Stands in for Telegram: 'sends' by storing the owner's message, like the real outbox does."""

    def __init__(self, db: Any) -> None:
        self.db, self.next_id = db, 100_000

    async def send_typing(self, chat_id: int) -> None:
        return None

    async def send_text(self, chat_id: int, text: str) -> int:
        from storage import MessageRow
        from storage import messages as message_queries

        self.next_id += 1
        row = MessageRow(chat_id, self.next_id, OWNER_ID, OWNER_NAME, True, int(time.time()), text)
        async with self.db.atomic():
            await message_queries.upsert_messages(self.db, [row], source="telegram")
        return self.next_id

    async def save_draft(self, chat_id: int, text: str) -> None:
        return None


class EchoModel:
    """Used only when model.service is not importable: replies are labelled as echoes; its prompt
    format has no memory."""

    async def candidates(self, dialogue: Any, n: int) -> ChosenReplies:
        return ChosenReplies([[f"(echo model {i + 1}) {dialogue.turns[-1].messages[-1]}"] for i in range(n)])

    async def swap_adapter(self, adapter_dir: str | None) -> None:
        return None

    def status(self) -> ModelStatus:
        return ModelStatus(backend="bench-echo", state="ready", base_model="echo", device="cpu")


@contextlib.asynccontextmanager
async def open_model(settings: Any, choice: str, adapter_dir: str | None) -> AsyncIterator[Any]:
    if choice != "echo":
        try:
            from model.service import ModelService
        except ImportError:
            if choice == "real":
                raise
            print("model: model.service not importable; using the bench echo model")
        else:
            async with ModelService(settings, adapter_dir=adapter_dir) as service:
                yield service
            return
    yield EchoModel()


async def play_incoming(db: Any, settings: Any, model: Any) -> None:
    """A few partner messages through the real pipeline: auto, draft and off chats."""
    from bot.pipeline import ReplyPipeline
    from bot.policy import IncomingMessage
    from storage import MessageRow
    from storage import chats as chat_queries
    from storage import messages as message_queries

    await chat_queries.update_chat_settings(db, MIA[1], reply_mode="auto", relationship="friend")
    await chat_queries.update_chat_settings(db, MOM[1], reply_mode="draft", relationship="family")
    await chat_queries.update_chat_settings(db, DAN[1], relationship="work")
    pipeline = ReplyPipeline(db, settings, model, BenchOutbox(db))
    await pipeline.start()
    try:
        incoming = [(MIA[1], "wanna grab pizza?"), (MOM[1], "перезвони мне"), (DAN[1], "status update?")]
        for n, (chat_id, text) in enumerate(incoming):
            mid = 90_000 + n
            row = MessageRow(chat_id, mid, chat_id, None, False, int(time.time()), text)
            async with db.atomic():
                await message_queries.upsert_messages(db, [row], source="telegram")
            await pipeline.on_incoming(IncomingMessage(chat_id, mid, "private", text))
        await asyncio.wait_for(pipeline.idle(), 300)
    finally:
        await pipeline.stop()


async def train_tiny(settings: Any, timeout: float) -> tuple[int | None, float]:
    from training.runs.controller import TrainingController

    controller = TrainingController(settings)
    began = time.perf_counter()
    run_id = await controller.start_run("bench", "tiny")
    await asyncio.wait_for(controller.wait(), timeout)
    return run_id, time.perf_counter() - began


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def browse(base: str, token: str, out: Path, profile: Path) -> dict[str, float]:
    from playwright.async_api import async_playwright

    measured: dict[str, float] = {}
    async with async_playwright() as p:
        context = await p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        page = context.pages[0] if context.pages else await context.new_page()

        async def shot(name: str) -> None:
            await page.wait_for_timeout(800)
            await page.screenshot(path=str(out / f"{name}.png"), full_page=True)

        async def step(name: str, action: Any) -> None:
            try:
                await action()
            except Exception as exc:  # a bench reports what broke and still takes the picture
                print(f"step {name}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            await shot(name)

        await page.goto(f"{base}/ui/")
        await page.wait_for_selector("#token")
        await shot("01-login")
        began = time.perf_counter()
        await page.fill("#token", token)
        await page.click("button[type=submit]")
        await page.wait_for_selector("text=your Telegram twin", timeout=60_000)
        await page.wait_for_selector("text=Auto-replies", timeout=60_000)
        measured["login_to_dashboard_s"] = time.perf_counter() - began
        await page.wait_for_timeout(1500)
        await shot("02-dashboard")

        async def chats() -> None:
            await page.get_by_role("tab", name="Chats").click()
            await page.locator("[role=gridcell]:visible").filter(has_text=MIA[0]).first.click()
            await page.wait_for_selector("text=Bot decisions", timeout=20_000)

        await step("03-chats", chats)

        async def playground() -> None:
            await page.get_by_role("tab", name="Playground").click()
            started = time.perf_counter()
            await page.get_by_role("button", name="Generate").click()
            await page.wait_for_function(
                "() => [...document.querySelectorAll('.candidate textarea')].some(t => t.value.trim().length > 0)",
                timeout=180_000,
            )
            measured["playground_3_candidates_s"] = time.perf_counter() - started

        await step("04-playground", playground)

        async def drafts() -> None:
            await page.get_by_role("tab", name="Drafts").click()
            await page.locator("input[aria-label='Chat']:visible").click()
            await page.get_by_role("option").filter(has_text=MOM[0]).first.click()
            await page.locator("textarea:visible").first.fill("приедешь в выходные?")
            started = time.perf_counter()
            await page.get_by_role("button", name="Suggest").click()
            await page.wait_for_selector("text=stored", timeout=180_000)
            measured["suggest_draft_s"] = time.perf_counter() - started

        await step("05-drafts", drafts)

        async def training() -> None:
            await page.get_by_role("tab", name="Training").click()
            # the finished run's row
            await page.locator("[role=gridcell]:visible").filter(has_text="succeeded").first.click()
            await page.wait_for_selector("text=Gate:", timeout=20_000)
            await page.wait_for_timeout(2000)

        await step("06-training", training)

        async def activity() -> None:
            await page.get_by_role("tab", name="Activity").click()
            await page.wait_for_timeout(1000)

        await step("07-activity", activity)
        await context.close()
    return measured


async def main(out: Path, model_choice: str, train: bool, train_timeout: float, base_model: str) -> None:
    from admin_ui.app import create_app
    from admin_ui.auth import resolve_admin_token
    from admin_ui.server import serve
    from services import Services
    from settings import load_settings
    from storage import Database
    from storage import training as training_queries
    from telegram_export import import_export

    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tgtwin-e2e-"))
    try:
        settings = load_settings(data_dir=work / "data", base_model=base_model, training_preset="tiny", demo=False,
                                 debounce_seconds=0.5, takeover_minutes=0, generation_timeout_s=180)
        async with Database.open(settings.db_path) as db:
            result = await import_export(db, SAMPLE_EXPORT)
            print(f"imported: {result.messages_added} messages in {result.chats} chats")
            if train:
                try:
                    run_id, seconds = await train_tiny(settings, train_timeout)
                    run = await training_queries.get_run(db, run_id) if run_id else None
                    print(f"training run {run_id} (tiny preset): {run.status if run else '?'} in {seconds:.1f} s")
                except Exception as exc:
                    print(f"training: {type(exc).__name__}: {exc}")
            promoted = await training_queries.promoted_adapter(db)
            async with open_model(settings, model_choice, promoted.path if promoted else None) as model:
                await play_incoming(db, settings, model)
                from training.runs.controller import TrainingController

                services = Services(settings=settings, db=db, model=model, training=TrainingController(settings))
                token, _ = resolve_admin_token(settings)
                port, stop = _free_port(), asyncio.Event()
                server = asyncio.create_task(serve(create_app(services, token), "127.0.0.1", port, stop))
                try:
                    base = f"http://127.0.0.1:{port}"
                    await _wait_healthy(base)
                    measured = await browse(base, token, out, work / "chromium-profile")
                finally:
                    stop.set()
                    await server
        for name, value in measured.items():
            print(f"{name}: {value:.2f}")
        print(f"screenshots: {', '.join(sorted(p.name for p in out.glob('*.png')))} in {out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def _wait_healthy(base: str) -> None:
    import httpx

    async with httpx.AsyncClient() as client:
        for _ in range(200):
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"{base}/health")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("the panel did not come up")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Not docs/screenshots: those show the real demo and come from scripts/screenshots.py.
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "tgtwin-e2e-panel")
    parser.add_argument("--model", choices=["auto", "real", "echo"], default="auto")
    parser.add_argument("--no-train", action="store_true", help="Skip the tiny training run.")
    parser.add_argument("--train-timeout", type=float, default=600.0)
    parser.add_argument("--base-model", default="tiny",
                        help="Base model to serve (the tiny preset trains on it; use --no-train for large ones).")
    args = parser.parse_args()
    asyncio.run(main(args.out, args.model, not args.no_train, args.train_timeout, args.base_model))
