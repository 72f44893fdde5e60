"""Every audit action and event type the project writes is declared in an app's names.py.

The source walk is static (it sees calls that no test runs) and resolves the names the
calls use: a string literal must be a registered name, ``Action.X`` / ``Event.X`` must be a
member of the calling module's imported enum.
"""

from __future__ import annotations

import ast
import enum
import importlib
from pathlib import Path

import pytest
from django.conf import settings

from opsportal.common.names import NAME_RE, app_names, registry

ROOT = Path(settings.BASE_DIR)
PACKAGES = ("opsportal", "audit", "reliability", "chaos", "runbooks")
# Apps being restructured on other branches adopt names.py there; the integrator empties this
# tuple when they land (docs/architecture.md, "Names"). Nothing else may be listed.
NOT_YET_ADOPTED: tuple[str, ...] = ()
# The apps this branch moved onto names.py: their calls must be names, never raw strings.
ADOPTED_APPS = ("opsportal.accounts", "opsportal.catalog", "opsportal.events", "audit")


def _source_files():
    for package in PACKAGES:
        base = ROOT / package
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "/migrations/" in rel or rel.startswith(NOT_YET_ADOPTED):
                continue
            yield rel, path


def _module_of(rel: str) -> str:
    return rel.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def _name_argument(call: ast.Call, func: str) -> ast.expr | None:
    keyword = "action" if func == "audit_record" else "type"
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    if func == "emit" and call.args:
        return call.args[0]
    return None


def _calls(files):
    """(file, line, function, argument node, module) for every audit_record()/emit() call."""
    for rel, path, *module in files:
        tree = ast.parse(path.read_text(), filename=rel)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if func not in ("audit_record", "emit"):
                continue
            arg = _name_argument(node, func)
            if arg is not None:
                yield rel, node.lineno, func, arg, module[0] if module else _module_of(rel)


def _resolve(arg: ast.expr, module: str) -> tuple[str | None, str]:
    """The string the argument names (or None when it is computed at run time) and how."""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value, "literal"
    if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name):
        mod = importlib.import_module(module)
        owner = getattr(mod, arg.value.id, None)  # names are imported at module level
        member = getattr(owner, arg.attr, None)
        if isinstance(member, enum.StrEnum):
            return member.value, "member"
        return None, f"{arg.value.id}.{arg.attr} is not a names enum member"
    return None, "computed"


def test_the_registry_has_no_duplicates_or_bad_spellings():
    reg = registry()
    assert reg.problems == ()
    for app in ADOPTED_APPS:
        assert app_names(app) is not None, f"{app} has no names.py"


def _problems(files) -> tuple[int, list[str]]:
    reg = registry()
    problems = []
    seen = 0
    for rel, line, func, arg, module in _calls(files):
        if rel.startswith("opsportal/common/") or rel == "opsportal/events/services.py":
            continue  # the kit's and emit()'s own definitions/docstrings
        value, how = _resolve(arg, module)
        seen += 1
        if value is None:
            if how != "computed":
                problems.append(f"{rel}:{line}: {how}")
            continue
        known = reg.has_action(value) if func == "audit_record" else reg.has_event(value)
        if not known:
            problems.append(f"{rel}:{line}: {func}({value!r}) is not declared in any app's names.py")
        elif how == "literal" and module.startswith(ADOPTED_APPS):
            problems.append(f"{rel}:{line}: use the names enum member, not the string {value!r}")
    return seen, problems


def test_every_audit_action_and_event_type_is_registered():
    seen, problems = _problems(_source_files())
    assert seen > 10  # the walk found the calls
    assert problems == []


def test_the_walk_fails_on_an_unregistered_or_raw_name(tmp_path):
    fake = tmp_path / "x.py"
    fake.write_text(
        "from opsportal.catalog.names import Action\n"
        "def f(actor, service):\n"
        "    audit_record(actor=actor, action='catalog.service.explode', target=service)\n"
        "    emit('catalog.service_created', service)\n"
        "    audit_record(actor=actor, action=Action.SERVICE_CREATE)\n"
        "    emit(kind, service)\n"
    )
    # Resolved as if it were catalog's services module (which imports the same Action).
    seen, problems = _problems([("opsportal/catalog/x.py", fake, "opsportal.catalog.services")])
    assert seen == 4
    assert problems == [
        "opsportal/catalog/x.py:3: audit_record('catalog.service.explode') is not declared in any app's names.py",
        "opsportal/catalog/x.py:4: use the names enum member, not the string 'catalog.service_created'",
    ]


def test_the_check_catches_an_unregistered_name():
    reg = registry()
    assert not reg.has_action("catalog.service.explode")
    assert not reg.has_event("catalog.service_exploded")
    assert reg.has_action("catalog.service.create") and reg.has_event("token.issued")


def test_duplicates_across_apps_and_bad_spellings_are_problems(tmp_path, monkeypatch):
    pkg = tmp_path / "names_fixture_a"
    (pkg).mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "names.py").write_text(
        "from enum import StrEnum\nclass Action(StrEnum):\n    X = 'catalog.service.create'\n    BAD = 'Not-Dotted'\n"
        "class Event(StrEnum):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = registry(["opsportal.catalog", "names_fixture_a"])
    assert any("declared by both opsportal.catalog and names_fixture_a" in p for p in reg.problems)
    assert any("'Not-Dotted'" in p for p in reg.problems)


def test_a_names_module_must_use_strenum(tmp_path, monkeypatch):
    pkg = tmp_path / "names_fixture_b"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "names.py").write_text("class Action:\n    X = 'a.b'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TypeError, match="StrEnum"):
        app_names("names_fixture_b")


@pytest.mark.parametrize("name", ["token.issued", "catalog.service.create", "auth.login_failed"])
def test_spelling(name):
    assert NAME_RE.match(name)
