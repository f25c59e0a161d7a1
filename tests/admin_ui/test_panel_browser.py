"""The panel in a real headless browser (Debian's chromium driven by playwright) against the real app
on loopback, over the seeded database and the fakes: log in through the login page, open every tab,
confirm a suggested relationship, change a chat's reply mode, and suggest replies in the Playground,
asserting on what the page shows.

Skipped, with the reason, only where chromium or playwright cannot be found
(`scripts/setup_browser.sh` installs chromium where it can)."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from settings import Settings
from storage import chats as chat_queries
from tests.admin_ui.conftest import ALICE, TOKEN
from tests.admin_ui.live import LiveServer, live_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
WAIT_MS = 20_000


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the python package playwright is not installed"
    if not CHROMIUM.exists():
        found = shutil.which("chromium")
        return f"no chromium at {CHROMIUM}" + (f" (found {found})" if found else "; run scripts/setup_browser.sh")
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=f"browser test skipped: {_missing()}")


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    with live_server(settings) as server:
        yield server


def test_panel_in_a_browser(live: LiveServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(WAIT_MS)
            expect.set_options(timeout=WAIT_MS)

            # The panel sends a browser without a session to the login page; a wrong token is refused.
            page.goto(f"{live.url}/ui/")
            expect(page).to_have_url(f"{live.url}/login?next=/ui/")
            page.fill("#token", "not-the-token-at-all")
            page.click("button[type=submit]")
            expect(page.get_by_text("That token is not valid.")).to_be_visible()
            page.fill("#token", TOKEN)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{live.url}/ui/")

            # Dashboard: the status table from the seeded database.
            expect(page.get_by_text("your Telegram twin")).to_be_visible()
            expect(page.get_by_text("3 (0 auto, 0 draft)")).to_be_visible()
            expect(page.get_by_text("4 (1 yours)")).to_be_visible()

            # Chats: pick Alice from the table (her pace: the defaults, too little history), confirm the
            # suggested relationship, switch her to draft mode, save.
            live.call(chat_queries.set_relationship_suggestion(live.services.db, ALICE, "family", "title says Mom"))
            page.get_by_role("tab", name="Chats").click()
            page.locator("[role=gridcell]:visible").filter(has_text="Alice").first.click()
            expect(page.get_by_text("Messages: 3 (1 yours)")).to_be_visible()
            expect(page.get_by_text("title says Mom")).to_be_visible()
            expect(page.locator("[role=gridcell]:visible").filter(has_text="defaults (too little history)").first
                   ).to_be_visible()
            page.get_by_role("button", name="Confirm suggested relationship").click()
            expect(page.get_by_role("button", name="Confirm suggested relationship")).to_be_hidden()
            assert live.call(chat_queries.get_chat(live.services.db, ALICE)).relationship == "family"
            page.get_by_label("draft", exact=True).check()
            page.get_by_role("button", name="Save").click()
            expect(page.get_by_label("Chat", exact=True).first).to_have_value(f"Alice · draft · {ALICE}")
            assert live.call(chat_queries.get_chat(live.services.db, ALICE)).reply_mode == "draft"

            # Playground: the example dialogue, three candidates from the (fake) model.
            page.get_by_role("tab", name="Playground").click()
            page.get_by_role("button", name="Generate").click()
            boxes = page.locator(".candidate textarea:visible")
            expect(boxes).to_have_count(3)
            expect(boxes.first).to_have_value("candidate 1\nre: pizza at 8 at Marco's")
            expect(boxes.nth(2)).to_have_value("candidate 3\nre: pizza at 8 at Marco's")

            # Drafts, Training, Activity: each shows its seeded content.
            page.get_by_role("tab", name="Drafts").click()
            expect(page.get_by_text("posts as you")).to_be_visible()
            expect(page.locator("p:visible", has_text="0 preference pairs").first).to_be_visible()
            page.get_by_role("tab", name="Training").click()
            expect(page.locator("p:visible", has_text="Training runs in 1 process").first).to_be_visible()
            expect(page.locator("[role=gridcell]:visible").filter(has_text="adapter-2").first).to_be_visible()
            page.get_by_role("tab", name="Activity").click()
            log_cell = page.locator("[role=gridcell]:visible").filter(has_text="chat not whitelisted")
            expect(log_cell.first).to_be_visible()

            # The dashboard after the change: one chat in draft mode now.
            page.get_by_role("tab", name="Dashboard").click()
            page.reload()
            expect(page.get_by_text("3 (0 auto, 1 draft)")).to_be_visible()

            # Log out (a POST from the page): back at the login page, and the panel asks for a login again.
            page.get_by_role("button", name="Log out").click()
            expect(page).to_have_url(f"{live.url}/login")
            page.goto(f"{live.url}/ui/")
            expect(page).to_have_url(f"{live.url}/login?next=/ui/")
        finally:
            browser.close()
