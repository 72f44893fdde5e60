"""Every transition goes through a service: row, BreakerTransition, one audit entry, one outbox event."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from audit.actors import Actor
from audit.models import AuditEntry
from opsportal.events.models import OutboxEvent
from reliability.breakers import BreakerConfig, CircuitOpenError
from reliability.breakers.hooks import DjangoHooks
from reliability.breakers.models import BreakerTransition, CircuitBreaker
from reliability.breakers.runtime import TransitionEvent
from reliability.breakers.services import (
    BreakerActionRefused,
    breaker_create,
    breaker_disable,
    breaker_force_close,
    breaker_force_open,
    breaker_register,
    breaker_reset,
    breaker_transition_record,
    breaker_update_config,
)

pytestmark = pytest.mark.django_db


def _opened(name="stripe-api", rate=80.0):
    return TransitionEvent(name, "closed", "open", "failure_rate", rate, 0.0, 10, "ConnectionError: refused",
                           scope="shared")


def test_automatic_transition_is_recorded_with_the_system_actor(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        transition = breaker_transition_record(event=_opened())
    cb = CircuitBreaker.objects.get(name="stripe-api")  # unknown names get a row with defaults
    assert cb.state == "open"
    assert (transition.from_state, transition.to_state, transition.cause) == ("closed", "open", "failure_rate")
    assert transition.failure_rate == 80.0
    assert transition.last_error == "ConnectionError: refused"
    assert transition.scope == "shared"
    entry = AuditEntry.objects.get()
    assert (entry.actor_kind, entry.actor_label, entry.action) == ("system", "breaker", "breaker.opened")
    assert entry.changes["state"] == ["closed", "open"]
    assert (entry.target_type, entry.target_id) == ("breakers.circuitbreaker", str(cb.pk))
    event = OutboxEvent.objects.get()
    assert event.type == "breaker.opened"
    assert event.data["cause"] == "failure_rate"
    assert len(callbacks) == 1  # the relay, after commit


@pytest.mark.parametrize(("to", "event_type"), [("half_open", "breaker.half_opened"), ("closed", "breaker.closed")])
def test_each_automatic_transition_has_its_event(to, event_type):
    breaker_transition_record(event=TransitionEvent("x", "open", to, "probe_success"))
    assert list(OutboxEvent.objects.values_list("type", flat=True)) == [event_type]
    assert AuditEntry.objects.get().action == event_type


def test_an_automatic_transition_does_not_override_an_operator(process_registry):
    breaker_register(name="held", config=BreakerConfig())
    breaker_force_open(name="held", actor=Actor.for_system("test"), reason="maintenance", source="test")
    assert breaker_transition_record(event=_opened("held")) is None
    assert CircuitBreaker.objects.get(name="held").state == "forced_open"
    assert BreakerTransition.objects.filter(breaker__name="held").count() == 1


@pytest.mark.parametrize(
    ("service", "start", "end", "action", "event_type"),
    [
        (breaker_force_open, "closed", "forced_open", "breaker.force_open", "breaker.forced_open"),
        (breaker_force_close, "open", "closed", "breaker.force_close", "breaker.closed"),
        (breaker_reset, "half_open", "closed", "breaker.reset", "breaker.reset"),
        (breaker_disable, "closed", "disabled", "breaker.disable", "breaker.disabled"),
    ],
)
def test_manual_actions(service, start, end, action, event_type, operator, process_registry,
                        django_capture_on_commit_callbacks):
    CircuitBreaker.objects.create(name="pay", state=start)
    with django_capture_on_commit_callbacks(execute=True):
        transition = service(name="pay", actor=Actor(user=operator), reason="  provider incident  ", source="admin")
    cb = CircuitBreaker.objects.get(name="pay")
    assert cb.state == end
    assert (transition.cause, transition.actor_label, transition.reason, transition.source) == (
        "manual", "olivia", "provider incident", "admin")
    entry = AuditEntry.objects.get()
    assert (entry.actor_kind, entry.action, entry.reason, entry.source) == ("user", action, "provider incident", "admin")
    assert entry.changes == {"state": [start, end]}
    assert list(OutboxEvent.objects.values_list("type", flat=True)) == [event_type]
    assert process_registry.core("pay").state == end  # the runtime follows on commit


def test_force_open_reaches_running_code(operator, process_registry, django_capture_on_commit_callbacks):
    from reliability.breakers import breaker

    b = breaker("live-one")
    CircuitBreaker.objects.create(name="live-one")
    with django_capture_on_commit_callbacks(execute=True):
        breaker_force_open(name="live-one", actor=Actor(user=operator), reason="stop the bleeding", source="api")
    with pytest.raises(CircuitOpenError):
        b.call(lambda: "never")


def test_a_reason_is_required_and_nothing_is_written(operator):
    CircuitBreaker.objects.create(name="pay")
    with pytest.raises(ValidationError):
        breaker_force_open(name="pay", actor=Actor(user=operator), reason="   ", source="api")
    assert CircuitBreaker.objects.get(name="pay").state == "closed"
    assert not AuditEntry.objects.exists()
    assert not BreakerTransition.objects.exists()


def test_an_action_that_does_not_apply_is_refused(operator):
    CircuitBreaker.objects.create(name="pay", state="closed")
    with pytest.raises(BreakerActionRefused):
        breaker_force_close(name="pay", actor=Actor(user=operator), reason="why not", source="api")
    assert not AuditEntry.objects.exists()


def test_unknown_breaker(operator):
    with pytest.raises(CircuitBreaker.DoesNotExist):
        breaker_reset(name="nope", actor=Actor(user=operator), reason="r", source="api")


def test_register_creates_once_with_the_declared_config():
    cfg = BreakerConfig(minimum_calls=3, window_type="time", window_size=60)
    breaker_register(name="declared", config=cfg)
    breaker_register(name="declared", config=cfg)
    cb = CircuitBreaker.objects.get(name="declared")
    assert cb.to_config() == cfg
    assert AuditEntry.objects.filter(action="breaker.register").count() == 1
    assert OutboxEvent.objects.filter(type="breaker.registered").count() == 1


def test_create_by_an_operator_is_one_row_one_audit_entry_one_event(operator, django_capture_on_commit_callbacks):
    from opsportal.catalog.models import Service

    payments = Service.objects.create(name="payments")
    cfg = BreakerConfig(minimum_calls=4, window_type="time", window_size=30)
    with django_capture_on_commit_callbacks() as callbacks:
        cb = breaker_create(name="ledger", config=cfg, service=payments, actor=Actor(user=operator), source="admin")
    assert (cb.to_config(), cb.service_id) == (cfg, payments.pk)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor_label, entry.source) == ("breaker.register", operator.username, "admin")
    assert entry.changes["service"] == [None, payments.pk]
    assert entry.changes["minimum_calls"] == [None, 4]
    event = OutboxEvent.objects.get()
    assert (event.type, event.data["service"], event.data["window_type"]) == ("breaker.registered", payments.pk, "time")
    assert len(callbacks) == 1


def test_create_refuses_a_taken_name_and_an_invalid_config(operator):
    breaker_register(name="taken", config=BreakerConfig())
    with pytest.raises(ValidationError, match="exists"):
        breaker_create(name="taken", config=BreakerConfig(), actor=Actor(user=operator), source="admin")
    with pytest.raises(ValidationError):
        breaker_create(name="x" * 101, config=BreakerConfig(), actor=Actor(user=operator), source="admin")
    assert list(CircuitBreaker.objects.values_list("name", flat=True)) == ["taken"]
    assert AuditEntry.objects.count() == OutboxEvent.objects.count() == 1


def test_config_update_is_audited_and_applied(operator, process_registry, django_capture_on_commit_callbacks):
    from reliability.breakers import breaker

    b = breaker("tuned")
    cb = breaker_register(name="tuned", config=BreakerConfig())
    with django_capture_on_commit_callbacks(execute=True):
        breaker_update_config(breaker_id=cb.pk, actor=Actor(user=operator), source="admin", minimum_calls=2,
                              failure_rate_threshold=20)
    entry = AuditEntry.objects.get(action="breaker.configure")
    assert entry.changes["minimum_calls"] == [10, 2]
    assert b.config.minimum_calls == 2
    with pytest.raises(ValidationError):
        breaker_update_config(breaker_id=cb.pk, actor=Actor(user=operator), source="admin", success_threshold=9)
    with pytest.raises(ValidationError):
        breaker_update_config(breaker_id=cb.pk, actor=Actor(user=operator), source="admin", state="open")


def test_runtime_hooks_record_a_trip_through_the_service(process_registry):
    from reliability.breakers import breaker

    b = breaker("hooked", config=BreakerConfig(minimum_calls=2, window_size=10))
    for _ in range(2):
        with pytest.raises(ZeroDivisionError):
            b.call(lambda: 1 / 0)
    assert b.state == "open"
    process_registry.drain()  # registration + the open transition, in this thread/transaction
    cb = CircuitBreaker.objects.get(name="hooked")
    assert cb.state == "open"
    assert cb.minimum_calls == 2
    transition = BreakerTransition.objects.get(breaker=cb)
    assert "ZeroDivisionError" in transition.last_error
    assert AuditEntry.objects.filter(action="breaker.opened").count() == 1


def test_db_configs_and_manual_states_load_into_a_local_runtime(registry):
    CircuitBreaker.objects.create(name="from-db", minimum_calls=7, state="forced_open")
    b = registry.get("from-db")
    registry.apply_configs(DjangoHooks().load_configs())
    assert b.config.minimum_calls == 7
    assert b.state == "forced_open"
    CircuitBreaker.objects.filter(name="from-db").update(state="closed")
    registry.apply_configs(DjangoHooks().load_configs())
    assert b.state == "closed"


def test_auditlog_tracks_config_changes(operator):
    from auditlog.models import LogEntry

    cb = breaker_register(name="logged", config=BreakerConfig())
    breaker_update_config(breaker_id=cb.pk, actor=Actor(user=operator), source="admin", open_duration=60)
    assert LogEntry.objects.get_for_object(cb).exists()
