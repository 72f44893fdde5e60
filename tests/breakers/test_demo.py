"""seed_demo shows breakers in every state, with transitions the runtime decided and the services recorded."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from audit.models import AuditEntry
from opsportal.catalog.demo import seed_services
from opsportal.demo import SeedContext, seed_steps
from opsportal.events.models import OutboxEvent
from reliability.breakers.demo import DEMO_BREAKERS, seed_breakers
from reliability.breakers.models import BreakerTransition, CircuitBreaker

pytestmark = pytest.mark.django_db


def _seed() -> SeedContext:
    ctx = SeedContext()
    seed_services(ctx)
    seed_breakers(ctx)
    return ctx


def _path(name: str) -> list[tuple[str, str, str]]:
    return list(
        BreakerTransition.objects.filter(breaker__name=name).order_by("at", "id").values_list("from_state", "to_state", "cause")
    )


def test_every_state_is_shown_with_the_transitions_that_led_there(process_registry):
    _seed()
    states = dict(CircuitBreaker.objects.values_list("name", "state"))
    assert states == {d.name: d.state for d in DEMO_BREAKERS}
    assert set(states.values()) == {"closed", "open", "half_open", "forced_open", "disabled"}
    assert _path("stripe-api") == [("closed", "open", "failure_rate"), ("open", "half_open", "open_duration_elapsed"),
                                   ("half_open", "closed", "probe_success")]
    assert _path("fraud-scoring") == [("closed", "open", "failure_rate")]
    assert _path("search-index") == [("closed", "open", "slow_call_rate")]
    assert _path("sms-gateway") == [("closed", "open", "failure_rate"), ("open", "half_open", "open_duration_elapsed")]
    assert _path("legacy-inventory") == [("closed", "open", "failure_rate"), ("open", "forced_open", "manual")]
    assert _path("email-relay") == [("closed", "disabled", "manual")]
    opened = BreakerTransition.objects.get(breaker__name="fraud-scoring")
    assert opened.failure_rate == 100.0 and opened.calls_in_window == 10
    assert "read timeout" in opened.last_error
    assert CircuitBreaker.objects.get(name="stripe-api").service.name == "payments-api"


def test_transitions_are_recorded_through_the_services_with_audit_and_events(process_registry):
    _seed()
    breaker_actions = AuditEntry.objects.filter(action__startswith="breaker.")
    # the runtime's decisions are the system actor's; the demo's own changes are the seed's
    assert set(breaker_actions.filter(actor_label="breaker").values_list("action", flat=True)) == {
        "breaker.opened", "breaker.half_opened", "breaker.closed"}
    seed_actions = sorted(breaker_actions.filter(actor_label="cli:seed_demo").values_list("action", flat=True))
    assert seed_actions == sorted(["breaker.register"] * len(DEMO_BREAKERS) + ["breaker.force_open", "breaker.disable"])
    # one audit entry and one outbox event per transition and per registration
    transitions = BreakerTransition.objects.count()
    assert breaker_actions.count() == transitions + len(DEMO_BREAKERS)
    assert OutboxEvent.objects.filter(type__startswith="breaker.").count() == transitions + len(DEMO_BREAKERS)
    manual = BreakerTransition.objects.get(to_state="forced_open")
    assert (manual.actor_label, manual.source) == ("cli:seed_demo", "seed") and "maintenance" in manual.reason


def test_running_it_again_creates_nothing(process_registry):
    _seed()
    counts = (CircuitBreaker.objects.count(), BreakerTransition.objects.count(), AuditEntry.objects.count(),
              OutboxEvent.objects.count())
    ctx = _seed()
    assert ctx.created_items == []
    assert (CircuitBreaker.objects.count(), BreakerTransition.objects.count(), AuditEntry.objects.count(),
            OutboxEvent.objects.count()) == counts


def test_the_demo_never_touches_the_process_wide_breakers(process_registry):
    _seed()
    # the synthetic calls ran on a private registry; only the manual services' after-commit
    # hand-off (not run inside a test transaction) would reach the process-wide one
    assert process_registry.names() == []


def test_seed_demo_runs_the_step_after_the_catalog(process_registry):
    names = [s.name for s in seed_steps()]
    assert names.index("catalog: demo services") < names.index("breakers: demo breakers in every state")
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "breaker sms-gateway (half open)" in out.getvalue()
    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert "seed_demo: breakers: demo breakers in every state: already there" in again.getvalue()
