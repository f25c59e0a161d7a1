"""No product module reads a stored run report or a chat view by string keys outside its
(de)serialiser (issue 21): values are typed where they are produced and where they are read.

The rule, checked on the source of every product module (not tests/, bench/, scripts/, docs/ or
the test data in testdata/):

1. A stored run report reaches product code as JSON in two storage rows, `TrainingRun.report`
   (`runs.report`) and `Adapter.metrics` (`adapters.metrics`): storage keeps JSON, it knows nothing
   of training. Such a value (`<x>.report`, `<x>.metrics`, `(<x>.report or {})`), and a name bound
   to one in the same function, is never read by key — no `v["key"]`, `v.get("key")`, `"key" in v`,
   `v.items()`/`.keys()`/`.values()`. It goes to `training.runs.report.stored_report` or
   `AdapterMetrics.from_json`, or passes through untouched (the REST API, the panel's JSON viewer).
2. Nothing named `report` or `<something>_report` is read by string key either: a report is read
   by attribute, so a string key on one means a dict has come back.
3. The deserialisers are exempt: `training/runs/report.py` and `training/evaluation/report.py`. (The sections
   that other modules produce read their own keys in their `from_json`; they are handed a section,
   never a stored report, so the rule does not reach them.)
4. The chat views and the records the faces read are typed: every public function of
   `application.chats` and `application.records` returns dataclasses (a list of them, or None).

What it does not see: a stored report handed to a function under another parameter name. Rule 1
keeps that rare (the value has to leave through a call), and rule 4 keeps the seam the faces use typed.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

import application.chats
import application.records

ROOT = Path(__file__).resolve().parents[1]
NOT_PRODUCT = {"tests", "bench", "scripts", "docs", "data", "build", "dist", "testdata"}
DESERIALISERS = {"training/runs/report.py", "training/evaluation/report.py"}
STORED_JSON = {"report", "metrics"}
"""Attributes that hold stored report JSON: `TrainingRun.report`, `Adapter.metrics`."""
REPORT_NAME = re.compile(r"^(report|\w+_report)$")
KEY_METHODS = {"get", "items", "keys", "values", "pop", "setdefault"}
Scope = ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda


def _own_nodes(scope: Scope) -> Iterator[ast.AST]:
    """The nodes of `scope`, without those of the functions nested in it (each is its own scope)."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


def _is_report(node: ast.AST, bound: set[str]) -> bool:
    """Whether `node` holds a stored report, or something read out of one (rules 1 and 2)."""
    if isinstance(node, ast.BoolOp):  # `run.report or {}`
        return any(_is_report(value, bound) for value in node.values)
    if isinstance(node, ast.Name):
        return node.id in bound or bool(REPORT_NAME.match(node.id))
    if isinstance(node, ast.Attribute):
        return node.attr in STORED_JSON or bool(REPORT_NAME.match(node.attr)) or _is_report(node.value, bound)
    if isinstance(node, ast.Subscript):
        return _is_report(node.value, bound)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in KEY_METHODS:
        return _is_report(node.func.value, bound)
    return False


def _string(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _key_read(node: ast.AST, bound: set[str]) -> bool:
    if isinstance(node, ast.Subscript):
        return _string(node.slice) and _is_report(node.value, bound)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in KEY_METHODS:
        by_key = node.func.attr not in {"get", "pop", "setdefault"} or (node.args and _string(node.args[0]))
        return bool(by_key) and _is_report(node.func.value, bound)
    if isinstance(node, ast.Compare) and _string(node.left):
        return any(isinstance(op, (ast.In, ast.NotIn)) and _is_report(right, bound)
                   for op, right in zip(node.ops, node.comparators, strict=True))
    return False


def _bound_names(scope: Scope) -> set[str]:
    """Names the scope binds to a stored report or to something read out of one."""
    bound: set[str] = set()
    while True:
        grown = set(bound)
        for node in _own_nodes(scope):
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if _is_report(node.value, bound):
                    grown.update(t.id for target in targets for t in ast.walk(target) if isinstance(t, ast.Name))
        if grown == bound:
            return bound
        bound = grown


def key_reads(source: str) -> list[str]:
    """`line: code` for every read of a stored report by string key in `source`."""
    tree = ast.parse(source)
    scopes = [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))]
    found = set()
    for scope in scopes:
        bound = _bound_names(scope)
        found.update((node.lineno, ast.unparse(node)) for node in _own_nodes(scope) if _key_read(node, bound))
    return [f"{line}: {code}" for line, code in sorted(found)]


def _product_sources() -> list[Path]:
    paths = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if parts[0] in NOT_PRODUCT or any(p.startswith(".") for p in parts):
            continue
        if path.relative_to(ROOT).as_posix() not in DESERIALISERS:
            paths.append(path)
    return paths


def test_no_product_module_reads_a_stored_report_by_key() -> None:
    paths = _product_sources()
    assert len(paths) > 100 and ROOT / "admin_ui/panel/training_report.py" in paths  # the walk found the product
    wrong = [f"{path.relative_to(ROOT)}:{read}" for path in paths for read in key_reads(path.read_text("utf-8"))]
    assert wrong == [], "read the typed value (training.runs.report.stored_report / AdapterMetrics.from_json)"


@pytest.mark.parametrize("code", [
    "def f(run):\n    return run.report['evaluation']",
    "def f(run):\n    return (run.report or {}).get('promotion')",
    "def f(run):\n    data = run.report or {}\n    fit = data.get('fit')",
    "def f(run):\n    return 'world_size' in run.report",
    "def f(adapter):\n    return adapter.metrics.get('perplexity')",
    "def f(report):\n    return report['fit']['seconds']",
    "def f(found):\n    return found.last_report.get('preference')",
    "def f(result):\n    return result.report.fit['seconds']",
    "def f(report):\n    return [k for k, v in report.items()]",
])
def test_the_rule_flags_key_reads_of_a_report(code: str) -> None:
    assert key_reads(code) != []


@pytest.mark.parametrize("code", [
    "def f(run):\n    return stored_report(run.report).fit.seconds",
    "def f(run):\n    report = stored_report(run.report)\n    return report.fit.seconds if report else None",
    "def f(request):\n    return request.headers['authorization']",
    "def f(style, name):\n    return style.generated[name]",
    "def f(run):\n    data = run.report\n\ndef g(data):\n    return data['x']",  # another function's `data`
    "def f(run):\n    return {'report': run.report or {}}",
])
def test_the_rule_leaves_typed_reads_and_other_dicts_alone(code: str) -> None:
    assert key_reads(code) == []


def _typed(annotation: object) -> bool:
    """A dataclass, None, or a list / tuple / union of them: never a dict or Any."""
    if annotation is type(None) or (isinstance(annotation, type) and dataclasses.is_dataclass(annotation)):
        return True
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, typing.Union, types.UnionType):
        return all(_typed(arg) for arg in typing.get_args(annotation) if arg is not Ellipsis)
    return False


@pytest.mark.parametrize("module", [application.chats, application.records])
def test_the_chat_views_and_records_are_typed(module: types.ModuleType) -> None:
    functions = [fn for name, fn in inspect.getmembers(module, inspect.isfunction)
                 if fn.__module__ == module.__name__ and not name.startswith("_")]
    assert functions
    untyped = [fn.__name__ for fn in functions if not _typed(typing.get_type_hints(fn)["return"])]
    assert untyped == []
