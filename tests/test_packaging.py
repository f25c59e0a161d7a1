"""`pip install .` ships every package, the data files the product reads, and the `tgtwin` script.

Builds the wheel (no dependencies, no network) from a copy of the tree, so the checkout gets no
build/ or egg-info. The full check — a fresh venv, `pip install --no-deps` of this wheel, then
`tgtwin --help` run outside the checkout — is described in docs/architecture.md."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["cli", "application", "bot", "memory", "model", "training", "training/data", "training/fitting",
            "training/evaluation", "training/runs", "storage", "admin_ui", "admin_ui/routes", "samples"]
MODULES = ["main.py", "services.py", "settings.py", "logging_setup.py"]

_CACHES = shutil.ignore_patterns(".venv", ".git", "__pycache__", "build", "dist", "*.egg-info", ".ruff_cache")


def _not_in_the_build(directory: str, names: list[str]) -> set[str]:
    """Caches anywhere; the local state (`data/`), tests and benches at the root only (`training/data/`
    is code)."""
    at_root = {"data", "tests", "bench"} & set(names) if Path(directory) == ROOT else set()
    return set(_CACHES(directory, names)) | at_root


def test_the_wheel_holds_the_code_the_data_and_the_console_script(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=_not_in_the_build)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"),
         str(source)], capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("tgtwin-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in PACKAGES:
        assert f"{package}/__init__.py" in names, package
    for module in MODULES:
        assert module in names, module
    shipped_py = {n for n in names if n.endswith(".py")}
    in_tree = {p.relative_to(source).as_posix() for pkg in PACKAGES for p in (source / pkg).glob("*.py")}
    assert in_tree <= shipped_py, sorted(in_tree - shipped_py)
    presets = {p.name for p in (source / "training" / "presets").iterdir()}
    assert presets and {f"training/presets/{n}" for n in presets} <= names
    assert "samples/sample_export.json" in names
    accelerate = source / "training" / "fitting" / "accelerate"
    assert {f"training/fitting/accelerate/{p.name}" for p in accelerate.iterdir()} <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "tgtwin = cli.app:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
