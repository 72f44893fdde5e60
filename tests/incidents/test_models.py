"""The model guarantees the intake relies on."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from reliability.incidents.models import Incident, SeverityMapping

pytestmark = pytest.mark.django_db


def _incident(group_key: str, status: str = Incident.Status.TRIGGERED) -> Incident:
    return Incident.objects.create(title="t", group_key=group_key, status=status, started_at=timezone.now())


def test_one_open_incident_per_group_key():
    _incident("g1")
    with pytest.raises(IntegrityError), transaction.atomic():
        _incident("g1")


def test_resolved_incidents_do_not_block_a_new_one():
    _incident("g1", Incident.Status.RESOLVED)
    _incident("g1", Incident.Status.RESOLVED)
    _incident("g1")
    assert Incident.objects.filter(group_key="g1").count() == 3


def test_default_severity_mapping_is_installed():
    mapping = dict(SeverityMapping.objects.values_list("value", "severity"))
    assert mapping["page"] == "P0" and mapping["p0"] == "P0"
    assert mapping["critical"] == "P1"
    assert mapping["error"] == mapping["warning"] == "P2"
    assert mapping["info"] == "P3"
