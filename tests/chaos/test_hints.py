"""Root-cause hints: a drill names its fault on the incidents it caused, and the verdict requires it (issue #14)."""

from __future__ import annotations

import time

import pytest

from audit.actors import Actor
from chaos import services
from chaos.engine.hints import incidents_hint
from chaos.engine.invariants import common_invariants
from chaos.engine.runner import _build_context, execute_run
from chaos.engine.slots import start_due_slot
from chaos.models import ChaosJournalEntry, ChaosRun
from reliability.incidents.models import IncidentEvent
from reliability.incidents.services import incident_open, incident_resolve
from tests.chaos.helpers import open_p1

TARGET = "webhook-destination-1"
ENGINE = Actor.for_system("chaos:engine")
STEADY = {"expect_incident": "Breaker open"}


def _started_run(scheduled_drill, **fields):
    drill = scheduled_drill(targets=[TARGET], parameters={"error": 503, "settle_seconds": 0}, duration_seconds=30,
                            steady_state=STEADY, name="orders down", **fields)
    return start_due_slot(drill.pk, execute=False).run


def _record_fault(run):
    services.fault_record(run_id=run.pk, kind="outbound", target=TARGET, spec={"error": 503}, ttl_seconds=60,
                          actor=ENGINE, source="test")


def _breaker_incident():
    return incident_open(title=f"Breaker open: {TARGET}", severity="P2", group_key=f"portal:breaker:{TARGET}",
                         actor=Actor.for_system("test"), source="test")


def _expected_invariant(ctx):
    (found,) = [i for i in common_invariants(ctx) if i.name.startswith("expected incident")]
    return found


@pytest.mark.django_db
def test_an_incident_the_drill_caused_gets_a_hint_naming_the_fault_once(scheduled_drill):
    run = _started_run(scheduled_drill)
    _record_fault(run)
    ctx = _build_context(ChaosRun.objects.select_related("drill").get(pk=run.pk), {})
    incident = _breaker_incident()
    unrelated = open_p1("payments down")  # names no target of this drill: left alone

    hinted = incidents_hint(ctx, actor=ENGINE, source="chaos")

    expected = (f"root-cause hint: chaos drill 'orders down' (#{run.drill_id}) run #{run.pk} injected "
                f"dependency-failure/503 on {TARGET}")
    assert hinted == [(incident.number, expected)]
    (entry,) = IncidentEvent.objects.filter(kind="root_cause_hint")
    assert entry.incident_id == incident.pk and entry.data["hint"] == expected
    assert entry.data["key"] == f"chaos-run:{run.pk}" and entry.data["target"] == TARGET
    assert not IncidentEvent.objects.filter(incident=unrelated, kind="root_cause_hint").exists()
    assert incidents_hint(ctx, actor=ENGINE, source="chaos") == []  # every pass may call it: once each
    assert IncidentEvent.objects.filter(kind="root_cause_hint").count() == 1


@pytest.mark.django_db
def test_the_expected_incident_invariant_requires_the_hint(scheduled_drill):
    run = _started_run(scheduled_drill)
    _record_fault(run)
    ctx = _build_context(ChaosRun.objects.select_related("drill").get(pk=run.pk), {})
    incident = _breaker_incident()
    incident_resolve(incident_id=incident.pk, actor=Actor.for_system("test"), source="test")

    unhinted = _expected_invariant(ctx)
    assert not unhinted.passed and unhinted.detail == "1 opened, 0 with the hint, 1 resolved"

    incidents_hint(ctx, actor=ENGINE, source="chaos")
    hinted = _expected_invariant(ctx)
    assert hinted.passed and hinted.detail == "1 opened, 1 with the hint, 1 resolved"
    assert "root-cause hint" in hinted.name


@pytest.mark.django_db
def test_a_dry_run_hints_nothing(scheduled_drill):
    run = _started_run(scheduled_drill, dry_run=True)
    ctx = _build_context(ChaosRun.objects.select_related("drill").get(pk=run.pk), {})
    _breaker_incident()
    assert incidents_hint(ctx, actor=ENGINE, source="chaos") == []
    assert not IncidentEvent.objects.filter(kind="root_cause_hint").exists()


@pytest.mark.django_db(transaction=True)
def test_a_drill_hints_the_incident_it_caused_and_passes_only_with_it(scheduled_drill, client, operator):
    """The runner itself: the incident opens while the fault is on, the engine hints it, the verdict passes."""
    drill = scheduled_drill(targets=[TARGET], parameters={"error": 503, "settle_seconds": 30}, duration_seconds=1,
                            steady_state=STEADY, name="orders down")
    run = start_due_slot(drill.pk, execute=False).run
    box = {}

    def sleep(seconds):  # the runner's tick: the drill's fault is applied by the first one
        if "incident" not in box:
            box["incident"] = _breaker_incident()
            incident_resolve(incident_id=box["incident"].pk, actor=Actor.for_system("test"), source="test")
        time.sleep(min(seconds, 0.1))

    run = execute_run(run.pk, sleep=sleep)

    assert run.verdict == "passed", run.invariants
    incident = box["incident"]
    (entry,) = IncidentEvent.objects.filter(incident=incident, kind="root_cause_hint")
    assert f"run #{run.pk} injected dependency-failure/503 on {TARGET}" in entry.data["hint"]
    assert ChaosJournalEntry.objects.filter(run=run, kind="observation", message__contains=f"#{incident.number}").exists()
    client.force_login(operator)
    report = client.get(f"/ops/chaos/runs/{run.pk}/report/").content.decode()
    assert f'data-incident="{incident.number}"' in report and entry.data["hint"].replace("'", "&#x27;") in report
