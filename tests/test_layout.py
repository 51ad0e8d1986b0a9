"""The layout's rules, read from the code: imports run down the flow (plan -> run ->
results -> report), families see only the method API, the harness names no method."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
METHOD_API = {"bench", "bench.registry", "bench.config", "bench.spec", "bench.errors", "bench.context",
              "bench.train", "bench.losses", "bench.metrics"}
FORBIDDEN = {  # layer -> layers it may not import (lazily inside a function included)
    "method_api": {"families", "plan", "run", "report", "api"},
    "families": {"plan", "run", "results", "report", "api"},
    "plan": {"families", "run", "results", "report", "api"},
    "results": {"families", "plan", "run", "report", "api"},
    "run": {"report", "api"},
    "report": {"run", "api"},
}


def layer(module: str) -> str:
    parts = module.split(".")
    if module in METHOD_API or parts[:2] in (["bench", "data"], ["bench", "nets"]):
        return "method_api"
    if parts[0] in ("methods", "baselines", "tools"):
        return parts[0]
    return parts[1] if len(parts) > 1 else "method_api"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return found


def bench_modules() -> list[Path]:
    return sorted(BENCH.rglob("*.py"))


def known(module: str) -> bool:
    """Whether ``module`` is one of the project's modules (not a name imported from one)."""
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


@pytest.mark.parametrize("path", bench_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_down_the_flow(path):
    here = layer(module_name(path))
    wrong = sorted(m for m in imports(path) if m.split(".")[0] in ("bench", "methods", "baselines", "tools")
                   and known(m) and (layer(m) in FORBIDDEN.get(here, set())
                                     or layer(m) in ("methods", "baselines", "tools")))
    assert not wrong, f"{path.relative_to(ROOT)} ({here}) imports {', '.join(wrong)}"


def test_tools_are_not_imported_by_the_harness():
    users = [p for p in bench_modules() + [ROOT / "run_all.py"] if any(m.startswith("tools") for m in imports(p))]
    assert not users


def test_the_top_of_bench_holds_the_method_api_only():
    top = sorted(p.stem for p in BENCH.glob("*.py"))
    assert len(top) <= 15, top
    assert set(top) <= {m.split(".")[-1] for m in METHOD_API} | {"__init__", "api"}, top


def test_the_harness_names_no_method():
    """A method's role (needs a teacher, starts from a pretrained generator) is declared when it
    registers; bench/ never asks for one by name."""
    from bench.registry import METHODS, load_plugins

    load_plugins()
    own = {e.name for e in METHODS.entries()} - {"teacher", "pretrain"}
    for path in bench_modules():
        if "suites" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        papers = {id(k.value) for k in ast.walk(tree) if isinstance(k, ast.keyword) and k.arg == "paper"}
        strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                   and id(n) not in papers}
        named = sorted(own & strings)
        assert not named, f"{path.relative_to(ROOT)} names method(s) {', '.join(named)}"


def test_no_function_in_bench_is_longer_than_80_lines():
    long = [f"{p.relative_to(ROOT)}:{n.lineno} {n.name} ({n.end_lineno - n.lineno + 1} lines)"
            for p in bench_modules() for n in ast.walk(ast.parse(p.read_text()))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 80]
    assert not long, "\n".join(long)
