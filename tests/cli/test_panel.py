"""`python main.py panel-url` through the real CLI."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from admin_ui.auth import token_file
from settings import Settings


def test_panel_url_prints_the_login_link_with_the_stored_token(settings: Settings,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.app import app

    monkeypatch.setenv("TGTWIN_DATA_DIR", str(settings.data_dir))
    first = CliRunner().invoke(app, ["panel-url"])
    assert first.exit_code == 0, first.output
    token = token_file(settings).read_text().strip()
    assert first.output.strip().splitlines()[-1] == f"http://127.0.0.1:8000/login?token={token}"
    again = CliRunner().invoke(app, ["panel-url"])
    assert again.output.strip().splitlines()[-1] == first.output.strip().splitlines()[-1]


def test_panel_url_with_a_configured_token_does_not_print_it(settings: Settings,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.app import app

    monkeypatch.setenv("TGTWIN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TGTWIN_ADMIN_TOKEN", "configured-token-0123456789")
    monkeypatch.setenv("TGTWIN_PORT", "9001")
    result = CliRunner().invoke(app, ["panel-url"])
    assert result.output.strip() == "http://127.0.0.1:9001/ui/" and "configured-token" not in result.output
