"""The one-way import order of docs/architecture.md, checked on the source (imports inside
functions and under TYPE_CHECKING count too): a lower layer never imports a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOT_PRODUCT = {"tests", "bench", "scripts", "docs", "data", "build", "dist"}

# What each top-level package/module may import of ours (besides itself), lowest layer first.
MAY_IMPORT: dict[str, set[str]] = {
    "settings": set(),
    "storage": set(),
    "logging_setup": {"storage"},
    "model": {"settings"},
    "services": {"model", "settings", "storage"},
    "telegram_export": {"settings", "storage"},
    "samples": set(),
    "testdata": {"model", "samples", "storage"},  # the tests' and benchmarks' data and fakes; no product import
    "training": {"model", "services", "settings", "storage"},
    "bot": {"model", "services", "settings", "storage", "telegram_export"},
    "product_status": {"model", "services", "settings", "storage", "training"},
    "admin_ui": {"bot", "model", "product_status", "services", "settings", "storage", "telegram_export", "training"},
    "app_runtime": {"admin_ui", "bot", "model", "services", "settings", "storage", "telegram_export", "training"},
    "cli": {"admin_ui", "app_runtime", "bot", "logging_setup", "model", "product_status", "services", "settings",
            "storage", "telegram_export", "training"},
    "main": {"cli"},
}


def _product_files() -> dict[str, list[Path]]:
    units: dict[str, list[Path]] = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0].startswith(".") or rel.parts[0] in NOT_PRODUCT:
            continue
        unit = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        units.setdefault(unit, []).append(path)
    return units


def _imported_tops(path: Path) -> set[str]:
    tops: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            tops.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            tops.add(node.module.split(".")[0])
    return tops


def test_every_package_has_a_place_in_the_order() -> None:
    assert set(_product_files()) <= set(MAY_IMPORT), "add the new package to MAY_IMPORT and docs/architecture.md"


def test_imports_only_go_down() -> None:
    units = _product_files()
    wrong = []
    for unit, files in sorted(units.items()):
        for path in files:
            for top in sorted(_imported_tops(path) & set(units) - {unit} - MAY_IMPORT[unit]):
                wrong.append(f"{path.relative_to(ROOT)} imports {top}")
    assert wrong == []


def test_nothing_imports_the_cli_but_main() -> None:
    importers = {unit for unit, files in _product_files().items() for p in files if "cli" in _imported_tops(p)}
    assert importers - {"cli"} == {"main"}


def test_bench_never_imports_tests() -> None:
    """Benchmarks take their data and fakes from `testdata/`, never from the test suite."""
    importers = [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "bench").rglob("*.py"))
                 if "tests" in _imported_tops(p)]
    assert importers == []
