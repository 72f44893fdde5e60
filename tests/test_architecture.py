"""Architecture rules read from the source tree (AST only: nothing is imported, no database).

1. Who may write: ORM writes happen only in ``services`` modules, the ``engine`` of an app and the
   documented exceptions below (mirrored in docs/decisions.md, "Who may write").
2. No import circles among the project's packages (module-level imports only).
3. No module over 500 lines in reliability/ and opsportal/ (migrations aside).

The lists below are for the tree as it is; each entry names why it is allowed. Paths are globs
relative to the repository root (``fnmatch``: ``*`` also crosses ``/``), so moving a room means
editing one line here.
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("opsportal", "reliability", "audit", "chaos")

# --- 1. who may write -------------------------------------------------------------------------------

WRITE_METHODS = {"save", "create", "get_or_create", "update_or_create", "update", "delete", "bulk_create", "bulk_update"}
# A call is an ORM write when its receiver chain goes through a manager or a queryset method ...
QUERYSET_LINKS = {"objects", "_default_manager", "_base_manager", "filter", "exclude", "all", "select_for_update",
                  "using", "get_queryset", "select_related", "prefetch_related", "only", "defer", "order_by"}
# ... or when it is one of these on anything at all (model instances, forms, querysets held in names).
ALWAYS_WRITES = {"save", "delete", "bulk_create", "bulk_update"}

WRITERS = (  # where writes belong
    "*/services.py",
    "*/services/*.py",
    "*/engine/*.py",
)

# (path glob, receiver-chain glob, why). The chain is the dotted receiver plus the method, e.g.
# "IdempotencyKey.objects.filter.delete". Keep the reasons one line; docs/decisions.md mirrors this.
ORM_WRITE_EXCEPTIONS: tuple[tuple[str, str, str], ...] = (
    ("opsportal/accounts/auth.py", "IntegrationToken.objects.filter.update",
     "token authentication stamps last_used_at: bookkeeping of a request, not an operator action"),
    ("opsportal/accounts/roles.py", "Group.objects.get_or_create",
     "the role groups are synchronised from the code's role registry after migrate"),
    ("opsportal/api/idempotency.py", "IdempotencyKey.objects.*",
     "the Idempotency-Key middleware's own store of replayable answers"),
    ("opsportal/events/relay.py", "OutboxEvent.objects.filter.update",
     "the outbox relay marks rows published: the outbox mechanism itself"),
    ("reliability/breakers/store.py", "self.client.delete",
     "not the ORM: a Redis DEL"),
    ("reliability/faults.py", "pipe.delete",
     "not the ORM: a Redis DEL of the shared fault hash (the kill switch clears every fault)"),
)


def project_files(*packages: str):
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def _chain(node: ast.AST) -> list[str]:
    names: list[str] = []
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            if isinstance(node, ast.Name):
                names.append(node.id)
            break
    return names[::-1]


def orm_writes(source: str) -> list[tuple[int, str]]:
    """(line, "receiver.chain.method") for every call that looks like an ORM write."""
    tree = ast.parse(source)
    # Names bound to a queryset/manager expression (qs = Model.objects.filter(...); qs.update(...)).
    queryset_names = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None
        and QUERYSET_LINKS & set(_chain(node.value))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITE_METHODS):
            continue
        chain = _chain(node.func.value)
        through_orm = bool(QUERYSET_LINKS & set(chain)) or (len(chain) == 1 and chain[0] in queryset_names)
        if node.func.attr in ALWAYS_WRITES or through_orm:
            found.append((node.lineno, ".".join([*chain, node.func.attr])))
    return found


def _allowed(relpath: str, chain: str) -> bool:
    if any(fnmatch.fnmatch(relpath, pattern) for pattern in WRITERS):
        return True
    return any(fnmatch.fnmatch(relpath, path) and fnmatch.fnmatch(chain, what) for path, what, _ in ORM_WRITE_EXCEPTIONS)


def test_orm_writes_only_in_services_engines_and_the_documented_exceptions():
    offenders = []
    for path in project_files(*PACKAGES):
        relpath = path.relative_to(ROOT).as_posix()
        for line, chain in orm_writes(path.read_text()):
            if not _allowed(relpath, chain):
                offenders.append(f"{relpath}:{line}: {chain}(...)")
    assert not offenders, (
        "ORM writes outside services/engine (call a service instead, or add a documented exception to "
        "ORM_WRITE_EXCEPTIONS and docs/decisions.md 'Who may write'):\n  " + "\n  ".join(offenders)
    )


def test_every_orm_write_exception_still_matches_something():
    """A stale exception would silently allow a future write: each one must match a write today."""
    seen = {(path.relative_to(ROOT).as_posix(), chain) for path in project_files(*PACKAGES) for _, chain in orm_writes(path.read_text())}
    stale = [(p, w) for p, w, _ in ORM_WRITE_EXCEPTIONS if not any(fnmatch.fnmatch(sp, p) and fnmatch.fnmatch(sc, w) for sp, sc in seen)]
    assert not stale, f"exceptions that match no write any more (delete them here and in docs/decisions.md): {stale}"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("Service.objects.create(name='x')", ["Service.objects.create"]),
        ("Service.objects.filter(pk=1).update(name='x')", ["Service.objects.filter.update"]),
        ("Service.objects.filter(pk=1).delete()", ["Service.objects.filter.delete"]),
        ("qs = Delivery.objects.filter(status='x')\nqs.update(status='y')", ["qs.update"]),
        ("obj.save(update_fields=['name'])", ["obj.save"]),
        ("form.save()", ["form.save"]),
        ("Model.objects.bulk_create(rows)", ["Model.objects.bulk_create"]),
        ("Group.objects.get_or_create(name='x')", ["Group.objects.get_or_create"]),
        ("self.model._default_manager.update_or_create(a=1)", ["self.model._default_manager.update_or_create"]),
        # not writes: dict/set updates, reads, creates that are not the ORM's
        ("data.update(other)\nseen.update([1])\nheaders.update(x=1)", []),
        ("Service.objects.filter(pk=1).first()\nlist(Service.objects.all())", []),
        ("serializer.create\nsocket.create_connection(addr)\nparser.update", []),
    ],
)
def test_the_write_detector(code, expected):
    assert [chain for _, chain in orm_writes(code)] == expected


# --- 2. no import circles ----------------------------------------------------------------------------


def _modules() -> dict[str, Path]:
    modules = {}
    for path in project_files(*PACKAGES):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def module_imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``module`` imports when it is imported (top-level statements only).

    Function-level imports are the sanctioned way to break a dependency at runtime and are not
    edges; ``if TYPE_CHECKING:`` blocks are not executed. An import names its most specific
    project module (``from a.b import c`` is an edge to a.b.c when that is a module, else to a.b).
    """

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()

    def visit(statements):
        for node in statements:
            if isinstance(node, ast.Import):
                found.update(filter(None, (resolve(alias.name) for alias in node.names)))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package[: len(package) - (node.level - 1)]
                    base = ".".join([*parent, *([base] if base else [])])
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    target = full if full in modules else resolve(base)
                    if target:
                        found.add(target)
            elif isinstance(node, ast.If):
                if not _is_type_checking(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.With):
                visit(node.body)

    visit(ast.parse(path.read_text()).body)
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {module: module_imports(module, path, modules) for module, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_sees_the_project():
    graph = import_graph()
    assert "reliability.webhooks.models" in graph["reliability.webhooks.selectors.config"]  # a known edge
    assert sum(map(len, graph.values())) > 200, "the graph is suspiciously small: is the parser reading imports?"


def test_no_import_circles_among_the_project_packages():
    found = cycles(import_graph())
    assert not found, "import circles (module-level imports):\n  " + "\n  ".join(" <-> ".join(c) for c in found)


# --- 3. module size ----------------------------------------------------------------------------------

MAX_LINES = 500
# Modules allowed over the limit, with the reason (none since the rooms restructure, issue #7).
BEING_SPLIT: tuple[str, ...] = ()


def test_no_module_over_500_lines_in_reliability_and_opsportal():
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in project_files("reliability", "opsportal")}
    too_long = {path: n for path, n in sizes.items() if n > MAX_LINES and path not in BEING_SPLIT}
    assert not too_long, f"modules over {MAX_LINES} lines (split them into rooms): {too_long}"
    done = [path for path in BEING_SPLIT if sizes.get(path, 0) <= MAX_LINES]
    assert not done, f"these fit now (or are gone): remove them from BEING_SPLIT: {done}"
