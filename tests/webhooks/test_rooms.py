"""The webhooks app's rooms: no import circles, small modules, one spelling for audit actions and event types."""

from __future__ import annotations

import ast
from pathlib import Path

import reliability.webhooks
from reliability.webhooks.names import Action, Event

APP = Path(reliability.webhooks.__file__).parent
PACKAGE = "reliability.webhooks"


def _modules() -> dict[str, Path]:
    out = {}
    for path in APP.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(APP).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([PACKAGE, *parts])] = path
    return out


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The app's modules this one imports, lazily (inside functions) or not."""
    found = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base, *(f"{base}.{a.name}" for a in node.names)]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module and name != PACKAGE:
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {m: _imports(m, p, known) for m, p in modules.items()}
    # Importing a submodule first runs its package's __init__.
    for module in list(graph):
        parent = module.rpartition(".")[0]
        while parent != PACKAGE and parent:
            graph[module].add(parent) if parent in known else None
            parent = parent.rpartition(".")[0]
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt.startswith(node + "."):
                continue  # a package importing its own submodules (re-exports) is not a circle
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def test_the_app_has_no_import_circles():
    graph = _graph()
    assert graph[f"{PACKAGE}.engine.record"] >= {f"{PACKAGE}.services.dlq_intake", f"{PACKAGE}.services.config"}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_lower_rooms_never_import_higher_ones():
    graph = _graph()
    lower = ("models", "names", "signatures", "selectors", "dispatch", "services", "metrics")
    higher = ("engine", "tasks", "api", "views", "admin", "demo", "panels", "health")
    for module, imported in graph.items():
        room = module.removeprefix(PACKAGE + ".").split(".")[0]
        if room in lower:
            bad = {i for i in imported if i.removeprefix(PACKAGE + ".").split(".")[0] in higher}
            assert not bad, f"{module} imports {bad}"


def test_no_module_is_over_500_lines():
    long = {m: n for m, p in _modules().items() if (n := len(p.read_text().splitlines())) > 500}
    assert not long


def test_audit_actions_and_event_types_are_spelled_only_in_names():
    values = {str(v) for v in (*Action, *Event)}
    found = []
    for module, path in _modules().items():
        if module == f"{PACKAGE}.names":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in values:
                found.append((module, node.lineno, node.value))
    assert not found
    assert Action.DESTINATION_DISABLE == "webhooks.destination.disable"
    assert Event.DESTINATION_DISABLED == "webhook.destination_disabled"
