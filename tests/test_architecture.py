"""The one-way import order of docs/architecture.md, checked on the source (imports inside
functions and under TYPE_CHECKING count too): faces → application → domain → storage, a lower
layer never imports a higher one, and the benchmarks never import the tests."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOT_PRODUCT = {"tests", "bench", "scripts", "docs", "data", "build", "dist"}

FACES = {"cli", "admin_ui", "main"}
"""What the owner talks to: the command line, the panel and REST API, the entry script."""
APPLICATION = {"application"}
"""The actions both faces call, the status snapshot and the composition root."""
DOMAIN = {"bot", "training", "model", "telegram_export", "memory"}
"""Telegram, training, the model, the export reader and memory (recall from a chat's own history)."""
CONTRACTS = {"services"}
"""The protocols the domain codes against and the container the composition root fills: below the
domain, so `bot` and `training` can import it without importing the application."""
FOUNDATION = {"settings", "storage", "logging_setup", "samples"}
TEST_SUPPORT = {"testdata"}
"""The tests' and benchmarks' data builders and fakes: may use the product, never used by it."""

# What each top-level package/module may import of ours (besides itself), lowest layer first.
MAY_IMPORT: dict[str, set[str]] = {
    "settings": set(),
    "storage": set(),
    "samples": set(),
    "logging_setup": {"storage"},
    "model": {"settings"},
    "services": {"model", "settings", "storage"},
    "telegram_export": {"settings", "storage"},
    "testdata": {"model", "samples", "storage"},  # the tests' and benchmarks' data and fakes; no product import
    "memory": {"model", "settings", "storage"},
    "training": {"memory", "model", "services", "settings", "storage"},
    "bot": {"memory", "model", "services", "settings", "storage", "telegram_export"},
    "application": {"bot", "logging_setup", "memory", "model", "samples", "services", "settings", "storage",
                    "telegram_export", "training"},
    "admin_ui": {"application", "bot", "memory", "model", "services", "settings", "storage", "telegram_export",
                 "training"},
    "cli": {"admin_ui", "application", "bot", "logging_setup", "memory", "model", "services", "settings", "storage",
            "telegram_export", "training"},
    "main": {"cli"},
}

# The domain calls behind the actions the CLI and the panel share (import, start a run, promote,
# roll back): a face reaches them only through `application`, so each has one path.
SHARED_ACTIONS = {
    "telegram_export": {"import_export"},
    "telegram_export.transaction": {"import_export"},
    "training.runs.run": {"run_training"},
    "training.runs.promotion": {"promote_adapter", "rollback_adapter"},
}


def _python_files(top: Path) -> list[Path]:
    return [p for p in top.rglob("*.py") if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)]


def _product_files() -> dict[str, list[Path]]:
    units: dict[str, list[Path]] = {}
    for path in _python_files(ROOT):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in NOT_PRODUCT:
            continue
        unit = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        units.setdefault(unit, []).append(path)
    return units


def _imports(path: Path) -> list[ast.Import | ast.ImportFrom]:
    return [node for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module)]


def _imported_tops(path: Path) -> set[str]:
    tops: set[str] = set()
    for node in _imports(path):
        if isinstance(node, ast.Import):
            tops.update(alias.name.split(".")[0] for alias in node.names)
        else:
            assert node.module is not None
            tops.add(node.module.split(".")[0])
    return tops


def _importers(units: set[str], of: set[str]) -> list[str]:
    """'<file> imports <top>' for every file of `units` that imports one of `of`."""
    return [f"{path.relative_to(ROOT)} imports {top}"
            for unit, files in sorted(_product_files().items()) if unit in units
            for path in files for top in sorted(_imported_tops(path) & of)]


def test_every_package_has_a_place_in_the_order() -> None:
    placed = FACES | APPLICATION | DOMAIN | CONTRACTS | FOUNDATION | TEST_SUPPORT
    assert set(MAY_IMPORT) == placed, "a unit is in MAY_IMPORT or in a layer but not both"
    assert set(_product_files()) <= placed, "add the new package to a layer, MAY_IMPORT and docs/architecture.md"


def test_imports_only_go_down() -> None:
    units = _product_files()
    wrong = []
    for unit, files in sorted(units.items()):
        for path in files:
            for top in sorted(_imported_tops(path) & set(units) - {unit} - MAY_IMPORT[unit]):
                wrong.append(f"{path.relative_to(ROOT)} imports {top}")
    assert wrong == []


def test_the_domain_never_imports_the_application_or_a_face() -> None:
    assert _importers(DOMAIN | CONTRACTS | FOUNDATION, APPLICATION | FACES) == []


def test_the_application_never_imports_a_face() -> None:
    """The composition root is handed the panel it serves (`application.runtime.Face`)."""
    assert _importers(APPLICATION, FACES) == []


def test_nothing_imports_the_cli_but_main() -> None:
    importers = {unit for unit, files in _product_files().items() for p in files if "cli" in _imported_tops(p)}
    assert importers - {"cli"} == {"main"}


def test_the_faces_share_the_actions_through_the_application() -> None:
    wrong = []
    for unit, files in sorted(_product_files().items()):
        if unit not in FACES:
            continue
        for path in files:
            for node in _imports(path):
                if isinstance(node, ast.ImportFrom):
                    names = {alias.name for alias in node.names} & SHARED_ACTIONS.get(node.module or "", set())
                    wrong += [f"{path.relative_to(ROOT)} imports {node.module}.{name}" for name in sorted(names)]
    assert wrong == []


def test_the_benchmarks_never_import_the_tests() -> None:
    """Test and benchmark data builders live where both may import them; bench/ never reaches into tests/."""
    wrong = [f"{path.relative_to(ROOT)} imports tests" for path in _python_files(ROOT / "bench")
             if "tests" in _imported_tops(path)]
    assert wrong == []
