"""Webhook fixtures: sources and destinations made through the services."""

from __future__ import annotations

import pytest

from audit.actors import Actor
from reliability.webhooks.selectors.config import source_cache_clear
from reliability.webhooks.services.config import RouteSpec, webhook_destination_create, webhook_source_create
from reliability.webhooks.services.ingest import _rejection_memo_clear as rejection_memo_clear
from tests.webhooks.helpers import SECRETS

SYSTEM = Actor.for_system("test")


@pytest.fixture(autouse=True)
def _fresh_webhook_caches():
    source_cache_clear()
    rejection_memo_clear()
    yield
    source_cache_clear()
    rejection_memo_clear()


@pytest.fixture
def make_destination(db):
    counter = iter(range(1, 10_000))

    def make(name: str | None = None, **fields):
        return webhook_destination_create(
            name=name or f"receiver-{next(counter)}",
            url=fields.pop("url", "http://127.0.0.1:9/hook"),
            actor=SYSTEM,
            source="test",
            **fields,
        )

    return make


@pytest.fixture
def make_source(db):
    def make(slug: str = "src", scheme: str = "standard", *, secrets=None, destinations=(), routes=None, **fields):
        route_specs = routes if routes is not None else [RouteSpec(destination_id=d.pk) for d in destinations]
        return webhook_source_create(
            slug=slug,
            scheme=scheme,
            secrets=list(secrets or [SECRETS[scheme]]),
            actor=SYSTEM,
            source="test",
            routes=route_specs,
            **fields,
        )

    return make


