"""The command table and the instant `--help`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = {"run", "serve", "panel-url", "import-export", "status", "login", "harvest", "reply",
            "dataset", "train", "eval", "promote", "rollback", "timing"}
HEAVY = ("torch", "transformers", "peft", "trl", "gradio", "pyrogram", "fastapi", "aiosqlite")


def test_every_command_is_registered_once() -> None:
    from cli.app import app

    names = [command.name for command in app.registered_commands]
    assert sorted(names) == sorted(COMMANDS)


def test_help_imports_nothing_heavy() -> None:
    code = ("import sys, main; from typer.testing import CliRunner; CliRunner().invoke(main.app, ['--help']); "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_main_py_and_the_console_script_are_the_same_app() -> None:
    import main
    from cli.app import app

    assert main.app is app
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0 and all(name in result.output for name in COMMANDS)
