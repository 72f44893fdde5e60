"""seed_demo's SLOs land in their three states; simulate --slis pushes over real HTTP and burns an SLO."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from opsportal.demo import SeedContext
from reliability.slos.models import SLIBucket, SLOStatus
from reliability.slos.services import slos_evaluate


@pytest.mark.django_db
def test_seed_creates_healthy_burning_and_exhausted_slos():
    from opsportal.catalog.demo import seed_services
    from reliability.slos.demo import seed_slos

    ctx = SeedContext()
    seed_services(ctx)
    seed_slos(ctx)
    states = dict(SLOStatus.objects.values_list("slo__slug", "state"))
    assert states == {"checkout-availability": "ok", "payments-availability": "burning",
                      "payments-latency": "exhausted"}
    again = SeedContext()
    seed_slos(again)
    assert again.created_items == []  # idempotent


@pytest.mark.django_db(transaction=True)
def test_simulate_slis_pushes_over_http_and_the_slo_burns(live_server, make_slo, issue_token):
    slo = make_slo(slug="sim", min_events=100)
    token = issue_token("slo:write")
    out = StringIO()
    call_command("simulate", "--slis", "sim", "--error-rate", "5", "--minutes", "90", "--url", live_server.url,
                 "--token", token, "--seed", "7", stdout=out)
    assert "200: " in out.getvalue()
    assert SLIBucket.objects.filter(slo=slo).count() == 90
    slos_evaluate()
    status = SLOStatus.objects.get(slo=slo)
    assert status.state in ("burning", "exhausted")
    assert status.burn_rates["1h"] == pytest.approx(50, rel=0.2)
