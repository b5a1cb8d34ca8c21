"""No import circle between healthnn's modules (issue 17), counting the imports inside
functions too: a lazy import that closes a circle is still a circle a reader has to untangle."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def _modules() -> dict[str, Path]:
    mods = {}
    for f in (SRC / "healthnn").rglob("*.py"):
        parts = f.relative_to(SRC).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return mods


def _graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    graph = {}
    for name, f in mods.items():
        out = set()
        for n in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("healthnn"):
                subs = {f"{n.module}.{a.name}" for a in n.names} & set(mods)
                # `from pkg import submodule` needs the submodule; other names need pkg itself
                out |= subs if len(subs) == len(n.names) else subs | {n.module}
            elif isinstance(n, ast.Import):
                out |= {a.name for a in n.names}
        graph[name] = {d for d in out if d in mods and d != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while comp[-1:] != [v]:
                comp.append(stack.pop())
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circle():
    graph = _graph(_modules())
    assert len(graph) > 100
    assert _cycles(graph) == []


def test_the_check_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
