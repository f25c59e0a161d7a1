"""Retake the README's screenshots (`docs/screenshots/*.png`) from the real offline demo.

    nice -n 10 python scripts/screenshots.py [--out docs/screenshots] [--data-dir DIR] [--keep-gate-decision]

Starts `main.py run` as `make run` does on a machine where nothing is configured: a fresh temporary data
dir, a working directory without `.env`, no `TGTWIN_*` variables but the data dir, a free loopback port
and a panel token. So the product imports the bundled sample, loads the bundled SmolLM2-135M-Instruct
and trains the demo adapter in the background (`smollm2-cpu` preset). The script waits for that run to
end. If the promotion gate kept the base model, it promotes the demo adapter as an owner can (the
Training tab's *Promote*, here `POST /api/adapters/{id}/promote`), so that the pictures show the demo
adapter's replies; `--keep-gate-decision` shows what the gate chose instead. It sets one English chat to
`draft` through the REST API (as an owner would), then logs in to the panel in headless chromium and
saves a PNG of the login page and of each tab, with replies generated in the Playground and a draft
suggested in Drafts. Prints only what it measured. What it shows and how long it takes:
`docs/screenshots.md`.

Needs chromium (`scripts/setup_browser.sh`) and playwright (requirements-dev.txt); pillow, when present,
shrinks the PNGs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.e2e_panel import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from testdata.sample import MIA  # noqa: E402

VIEWPORT = {"width": 1280, "height": 800}
DRAFT_CHAT = MIA
"""The chat set to `draft` and drafted for: English, as the default model is (Мама and Костя write Russian)."""
DRAFT_INCOMING = "are you free on saturday? thinking of the lake trail"
PLAYGROUND_PARTNER = "Mia"
TERMINAL_RUN_STATES = {"succeeded", "failed", "skipped"}
WAIT_MS = 60_000
GENERATE_WAIT_MS = 240_000
GENERATE_ATTEMPTS = 3
"""Sampling can leave no usable candidate ("the model produced an empty reply; try again"): the owner
would click again, and so does the script, saying so."""
PLAYGROUND_DONE_JS = "[...document.querySelectorAll('.candidate textarea')].some(t => t.value.trim().length > 0)"
DRAFT_DONE_JS = "/Draft #\\d+ stored/.test(document.body.innerText)"
TOAST = ".toast-body"


class ScreenshotError(RuntimeError):
    """The demo did not reach the state the screenshots must show; nothing in the output dir changed."""


@dataclass(frozen=True)
class Demo:
    """The running product: where its panel answers and the token that opens it."""

    url: str
    token: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def alive(self) -> bool:
        return self.process.poll() is None

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True)
class DemoRun:
    """How the demo's training run ended."""

    run_id: int
    status: str
    error: str | None
    adapter_id: str | None
    """The adapter the run wrote, promoted or not."""
    gate: str
    """The promotion decision and its reason, as the run's report states it."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _product_environment(data_dir: Path, port: int, token: str) -> dict[str, str]:
    """The caller's environment without its tgtwin configuration (no credentials, no other model):
    the demo as a newcomer's first `make run` sees it, on a port and data dir of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGTWIN_")}
    env.update(TGTWIN_DATA_DIR=str(data_dir), TGTWIN_HOST="127.0.0.1", TGTWIN_PORT=str(port),
               TGTWIN_ADMIN_TOKEN=token)
    return env


@contextlib.contextmanager
def running_demo(work: Path, data_dir: Path) -> Iterator[Demo]:
    """`main.py run` in `work` (no `.env` there), stopped with Ctrl-C's signal on the way out."""
    port, token = _free_port(), secrets.token_urlsafe(32)
    log_path = work / "product.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "main.py"), "run"], cwd=work, env=_product_environment(data_dir, port, token),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        yield Demo(f"http://127.0.0.1:{port}", token, log_path, process)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _get(client: httpx.Client, path: str) -> Any:
    response = client.get(path)
    response.raise_for_status()
    return response.json()


def _model(client: httpx.Client) -> dict[str, Any]:
    model: dict[str, Any] = _get(client, "/health")["model"]
    if model["state"] == "error":
        raise ScreenshotError(f"the model failed to load: {model['error']}")
    return model


def wait_for_demo_run(demo: Demo, client: httpx.Client, timeout_s: float) -> DemoRun:
    """Until the demo's training run has ended (the product starts it once the model has loaded)."""
    began, last_note = time.monotonic(), 0.0
    while time.monotonic() - began < timeout_s:
        if not demo.alive():
            raise ScreenshotError(f"the product stopped; its log ends:\n{demo.log_tail()}")
        time.sleep(5)
        with contextlib.suppress(httpx.TransportError):
            model = _model(client)
            runs = _get(client, "/api/training/runs")
            run = runs[-1] if runs else None  # newest first: the demo run is the oldest
            if time.monotonic() - last_note > 60:
                last_note = time.monotonic()
                where = f"run {run['id']} {run['status']} {run['progress']:.0%}" if run else "no run yet"
                print(f"[{time.monotonic() - began:5.0f} s] model {model['state']}; {where}", flush=True)
            if run and run["status"] in TERMINAL_RUN_STATES:
                report = _get(client, f"/api/training/runs/{run['id']}")["report"] or {}
                promotion = report.get("promotion") or {}
                verdict = "promoted" if promotion.get("promote") else "kept the " + promotion.get("reference", "?")
                return DemoRun(run["id"], run["status"], run["error"], run["adapter_id"],
                               f"{verdict}: {promotion.get('reason', 'no decision recorded')}")
    raise ScreenshotError(f"the demo run had not ended after {timeout_s:.0f} s; the log ends:\n{demo.log_tail()}")


def wait_until_serving(client: httpx.Client, adapter_id: str | None, timeout_s: float = 600) -> None:
    """Until the model is ready with `adapter_id` (None: the base model)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            model = _model(client)
            if model["state"] == "ready" and model["adapter_id"] == adapter_id:
                return
        time.sleep(3)
    raise ScreenshotError(f"the model was not serving {adapter_id or 'the base model'} after {timeout_s:.0f} s")


def serve_demo_adapter(client: httpx.Client, run: DemoRun, keep_gate_decision: bool) -> str | None:
    """The adapter the pictures show: the demo adapter (promoting it when the gate kept the base
    model, unless `keep_gate_decision`), or what the gate chose."""
    promoted = [a["id"] for a in _get(client, "/api/adapters") if a["promoted"]]
    served = promoted[0] if promoted else None
    if served != run.adapter_id and run.adapter_id and not keep_gate_decision:
        # The call returns once the model serves it: merging and exporting it for CTranslate2 takes a while.
        client.post(f"/api/adapters/{run.adapter_id}/promote", json={"reason": "promoted by scripts/screenshots.py"},
                    timeout=600).raise_for_status()
        print(f"promoted the demo adapter {run.adapter_id} (the gate had kept {served or 'the base model'})")
        served = run.adapter_id
    wait_until_serving(client, served)
    return served


def take_screenshots(demo: Demo, out: Path, profile: Path) -> dict[str, float]:
    """Log in and visit each tab; a PNG per page in `out`. Returns the seconds it measured."""
    from playwright.sync_api import Page, expect, sync_playwright

    measured: dict[str, float] = {}
    expect.set_options(timeout=WAIT_MS)

    def generate(page: Page, button: str, done_js: str, what: str) -> None:
        """Click `button` until `done_js` holds; an error toast is printed and the click repeated."""
        for attempt in range(1, GENERATE_ATTEMPTS + 1):
            started = time.perf_counter()
            page.get_by_role("button", name=button).click()
            page.wait_for_function(f"() => ({done_js}) || document.querySelector('{TOAST}') !== null",
                                   timeout=GENERATE_WAIT_MS)
            toast = page.locator(TOAST)
            if not toast.count():
                measured[f"{what}_s"] = time.perf_counter() - started
                return
            print(f"{what}, attempt {attempt}: the panel said {' '.join(toast.first.inner_text().split())!r}")
            page.locator(".toast-close").first.click()
            expect(toast).to_have_count(0)
        raise ScreenshotError(f"{what}: no reply after {GENERATE_ATTEMPTS} attempts")

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT,
        )
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(WAIT_MS)

        def shot(name: str) -> None:
            page.wait_for_timeout(1500)  # let Gradio finish its transitions and plots
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)

        try:
            page.goto(f"{demo.url}/ui/")
            page.wait_for_selector("#token")
            shot("01-login")
            page.fill("#token", demo.token)
            page.click("button[type=submit]")
            expect(page.get_by_text("Auto-replies", exact=True)).to_be_visible()
            expect(page.get_by_text("ready").first).to_be_visible()
            shot("02-dashboard")

            page.get_by_role("tab", name="Chats").click()
            page.locator("[role=gridcell]:visible").filter(has_text=DRAFT_CHAT[0]).first.click()
            expect(page.get_by_text("Messages:")).to_be_visible()
            shot("03-chats")

            page.get_by_role("tab", name="Playground").click()
            page.locator("input[aria-label='Relationship']:visible").click()
            page.get_by_role("option", name="friend", exact=True).click()
            page.get_by_label("Partner name").fill(PLAYGROUND_PARTNER)
            generate(page, "Generate", PLAYGROUND_DONE_JS, "playground_candidates")
            shot("04-playground")

            page.get_by_role("tab", name="Drafts").click()
            page.locator("input[aria-label='Chat']:visible").click()
            page.get_by_role("option").filter(has_text=DRAFT_CHAT[0]).first.click()
            page.get_by_label("New incoming message (optional)").fill(DRAFT_INCOMING)
            generate(page, "Suggest", DRAFT_DONE_JS, "suggest_draft")
            shot("05-drafts")

            page.get_by_role("tab", name="Training").click()
            page.locator("[role=gridcell]:visible").filter(has_text="demo").first.click()
            expect(page.get_by_text("Gate:")).to_be_visible()
            shot("06-training")
        except Exception:
            page.screenshot(path=str(out.parent / "failed.png"), full_page=True)
            raise
        finally:
            context.close()
    return measured


def optimise_pngs(paths: list[Path]) -> None:
    """Palette PNGs (256 colours, no dithering: flat UI colours and text stay crisp) at zlib's best;
    left as chromium wrote them where pillow is missing."""
    try:
        from PIL import Image
    except ImportError:
        print("pillow is not installed: PNGs not optimised")
        return
    for path in paths:
        with Image.open(path) as image:
            small = image.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
        small.save(path, optimize=True)


def take(out: Path, work: Path, data_dir: Path, timeout_s: float, keep_gate_decision: bool) -> None:
    """Run the demo, take the pictures into `work`, and only then replace those in `out`."""
    shots = work / "shots"
    shots.mkdir()
    with running_demo(work, data_dir) as demo, demo.client() as client:
        began = time.monotonic()
        run = wait_for_demo_run(demo, client, timeout_s)
        print(f"demo run {run.run_id} {run.status} after {time.monotonic() - began:.0f} s"
              f"{f' ({run.error})' if run.error else ''}; gate {run.gate}")
        if run.status != "succeeded":
            raise ScreenshotError(f"the demo run {run.status}; screenshots not retaken")
        served = serve_demo_adapter(client, run, keep_gate_decision)
        print(f"serving {served or 'the base model'}")
        client.put(f"/api/chats/{DRAFT_CHAT[1]}", json={"mode": "draft"}).raise_for_status()
        measured = take_screenshots(demo, shots, work / "chromium-profile")
    pictures = sorted(shots.glob("*.png"))
    optimise_pngs(pictures)
    out.mkdir(parents=True, exist_ok=True)
    for picture in pictures:
        shutil.copyfile(picture, out / picture.name)
    for name, seconds in measured.items():
        print(f"{name}: {seconds:.1f}")
    print(f"wrote {', '.join(p.name for p in pictures)} to {out}")


def _has_emoji_font() -> bool:
    """The sample's owner writes emoji; chromium draws boxes for them without a colour emoji font."""
    if shutil.which("fc-list") is None:
        return False
    fonts = subprocess.run(["fc-list"], capture_output=True, text=True, check=False).stdout
    return "emoji" in fonts.lower()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="Use (and keep) this data dir; a second run reuses its model and demo adapter. "
                             "Default: a fresh temporary one, deleted at the end.")
    parser.add_argument("--timeout-minutes", type=float, default=60.0, help="How long to wait for the demo run.")
    parser.add_argument("--keep-gate-decision", action="store_true",
                        help="Show what the gate chose to serve, even the base model.")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"no chromium at {CHROMIUM}: run scripts/setup_browser.sh", file=sys.stderr)
        return 2
    if not _has_emoji_font():
        print("warning: no emoji font found (apt-get install fonts-noto-color-emoji): emoji will show as boxes")
    work = Path(tempfile.mkdtemp(prefix="tgtwin-screenshots-"))
    data_dir = args.data_dir.resolve() if args.data_dir else work / "data"
    began = time.monotonic()
    try:
        take(args.out, work, data_dir, args.timeout_minutes * 60, args.keep_gate_decision)
    except Exception as exc:
        kept = shutil.copytree(work, Path(tempfile.mkdtemp(prefix="tgtwin-screenshots-failed-")), dirs_exist_ok=True,
                               ignore=shutil.ignore_patterns("data", "chromium-profile"))
        print(f"screenshots: {type(exc).__name__}: {exc}\n(the product's log and the page: {kept})", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"total: {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
