"""One registry of audit actions and event types (like Zulip's ``AuditLogEventType``).

Each app declares its names once, in ``<app>/names.py``, as two ``enum.StrEnum`` classes::

    class Action(StrEnum):            # audit_record(action=...)
        SERVICE_CREATE = "catalog.service.create"

    class Event(StrEnum):             # emit(type, ...)
        SERVICE_CREATED = "catalog.service_created"

Services pass the members (``Action.SERVICE_CREATE``); a member *is* its string, so the
stored values, the audit filters and the channel groups are unchanged. The test
``tests/common/test_names.py`` walks the project's source and fails when an
``audit_record``/``emit`` call uses a string that no app registered, and when two apps
claim the same name.

Spelling: lower-case dotted words, the first word naming the domain (which also picks the
live-dashboard group, ``opsportal/events/groups.py``). Audit actions say what was done
(``token.issue``); events say what happened (``token.issued``).
"""

from __future__ import annotations

import enum
import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
NAMES_MODULE = "names"


@dataclass(frozen=True)
class AppNames:
    app: str  # the app's module path: "opsportal.catalog"
    actions: frozenset[str]
    events: frozenset[str]


def app_names(module_path: str) -> AppNames | None:
    """The names ``<module_path>.names`` declares, or None if the app has no names module."""
    try:
        module = importlib.import_module(f"{module_path}.{NAMES_MODULE}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{module_path}.{NAMES_MODULE}":
            raise  # the names module exists but imports something missing
        return None
    actions = getattr(module, "Action", None)
    events = getattr(module, "Event", None)
    for kind, cls in (("Action", actions), ("Event", events)):
        if cls is not None and not (isinstance(cls, type) and issubclass(cls, enum.StrEnum)):
            raise TypeError(f"{module.__name__}.{kind} must be an enum.StrEnum")
    return AppNames(
        app=module_path,
        actions=frozenset(m.value for m in actions) if actions else frozenset(),
        events=frozenset(m.value for m in events) if events else frozenset(),
    )


def installed_app_names(app_modules: Iterable[str] | None = None) -> list[AppNames]:
    """The names of every installed app (or of ``app_modules``) that has a ``names.py``."""
    if app_modules is None:
        from django.apps import apps

        app_modules = [config.name for config in apps.get_app_configs()]
    found = (app_names(path) for path in app_modules)
    return [names for names in found if names is not None]


@dataclass(frozen=True)
class Registry:
    actions: dict[str, str]  # name -> app
    events: dict[str, str]
    problems: tuple[str, ...]  # badly spelled names, names claimed twice

    def has_action(self, name: str) -> bool:
        return name in self.actions

    def has_event(self, name: str) -> bool:
        return name in self.events


def registry(app_modules: Iterable[str] | None = None) -> Registry:
    """Every registered action and event type, with the app that owns it."""
    actions: dict[str, str] = {}
    events: dict[str, str] = {}
    problems: list[str] = []
    for names in installed_app_names(app_modules):
        for kind, declared, seen in (("action", names.actions, actions), ("event", names.events, events)):
            for name in sorted(declared):
                if not NAME_RE.match(name):
                    problems.append(f"{names.app}: {kind} {name!r} is not lower-case dotted words")
                if name in seen and seen[name] != names.app:
                    problems.append(f"{kind} {name!r} is declared by both {seen[name]} and {names.app}")
                seen.setdefault(name, names.app)
    return Registry(actions=actions, events=events, problems=tuple(problems))
