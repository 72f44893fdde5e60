"""Panels on /ops/: each feature registers one from its AppConfig.ready().

A panel is a server-rendered fragment. The page re-fetches a panel's fragment
(``GET /ops/panels/<key>/``) whenever an event of the panel's domain arrives on
the socket, so panels stay live without their own JS.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opsportal.events.groups import DOMAINS, domains_for_user

_KEY = re.compile(r"[a-z0-9-]{1,50}")


@dataclass(frozen=True)
class Panel:
    key: str  # [a-z0-9-]+, used in the URL and the DOM id
    title: str
    template: str  # renders the fragment; gets ``panel`` and the context below
    domain: str  # event domain (see events.groups.DOMAINS); who may see it, what refreshes it
    context: Callable[[Any], dict] = field(default=lambda request: {})
    order: int = 100


_panels: dict[str, Panel] = {}


def register_panel(panel: Panel) -> None:
    """Add (or replace, by key) a panel. Call from your AppConfig.ready()."""
    if not _KEY.fullmatch(panel.key):
        raise ValueError(f"panel key {panel.key!r} must match [a-z0-9-]{{1,50}}")
    if panel.domain not in DOMAINS:
        raise ValueError(f"panel domain {panel.domain!r} is not one of events.groups.DOMAINS")
    _panels[panel.key] = panel


def unregister_panel(key: str) -> None:
    _panels.pop(key, None)


def panel_get(key: str) -> Panel | None:
    return _panels.get(key)


def panels_for(user: Any) -> list[Panel]:
    domains = domains_for_user(user)
    return sorted((p for p in _panels.values() if p.domain in domains), key=lambda p: (p.order, p.key))
