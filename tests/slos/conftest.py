"""SLO test helpers: a service, an SLO through the service, synthetic minute buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from audit.actors import Actor

ACTOR = Actor.for_system("tests")
T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)  # a fixed "now" (a Tuesday, mid-month)


@pytest.fixture
def service(db):
    from opsportal.catalog.models import Service

    return Service.objects.create(name="payments-api", team="payments")


@pytest.fixture
def make_slo(service):
    def make(slug: str = "pay-avail", objective="99.9", window: str = "30d", **kw):
        from reliability.slos.services import slo_create

        return slo_create(slug=slug, name=kw.pop("name", slug), service=kw.pop("service", service),
                          objective=objective, window=window, actor=ACTOR, source="test", **kw)

    return make


def fill(slo, start: datetime, end: datetime, *, total: int = 100, error_ratio: float = 0.0) -> None:
    """Buckets every minute of [start, end) with ``total`` events, ``error_ratio`` of them bad."""
    from reliability.slos.services import sli_buckets_upsert

    items, t = [], start
    bad = round(total * error_ratio)
    while t < end:
        items.append((t, total - bad, total))
        t += timedelta(minutes=1)
    for i in range(0, len(items), 5000):
        sli_buckets_upsert(slo_id=slo.pk, items=items[i:i + 5000])


def tier(slo, name: str):
    from reliability.slos.models import BurnTier

    return BurnTier.objects.get(policy__slo=slo, name=name)
