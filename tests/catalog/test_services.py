import pytest
from django.core.exceptions import ValidationError

from audit.actors import Actor
from audit.models import AuditEntry
from opsportal.catalog.models import Service
from opsportal.catalog.services import service_create, service_delete, service_update
from opsportal.events.models import OutboxEvent

pytestmark = pytest.mark.django_db


def test_service_create_writes_row_one_audit_entry_and_one_event(operator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        service = service_create(name="payments", team="pay", tier=1, actor=Actor(user=operator), source="api")

    assert Service.objects.get().name == "payments"
    entry = AuditEntry.objects.get()
    assert (entry.actor_label, entry.actor_user_id, entry.action) == ("olivia", operator.pk, "catalog.service.create")
    assert entry.target_type == "catalog.service" and entry.target_id == str(service.pk)
    assert entry.changes["name"] == [None, "payments"] and entry.changes["tier"] == [None, 1]
    event = OutboxEvent.objects.get()
    assert event.type == "catalog.service_created" and event.aggregate_id == str(service.pk)
    assert event.published_at is None
    assert len(callbacks) == 1  # the relay, only after commit


def test_service_update_audits_only_the_diff(operator):
    service = service_create(name="payments", actor=Actor(user=operator), source="api")
    service_update(service_id=service.pk, team="core", actor=Actor(user=operator), source="admin")

    entry = AuditEntry.objects.order_by("-id").first()
    assert entry.action == "catalog.service.update"
    assert entry.changes == {"team": ["", "core"]}
    assert entry.source == "admin"
    assert OutboxEvent.objects.filter(type="catalog.service_updated").count() == 1


def test_noop_update_writes_nothing(operator):
    service = service_create(name="payments", actor=Actor(user=operator), source="api")
    service_update(service_id=service.pk, team="", actor=Actor(user=operator), source="api")
    assert AuditEntry.objects.count() == 1
    assert OutboxEvent.objects.count() == 1


def test_duplicate_name_is_a_validation_error_and_rolls_back(operator):
    service_create(name="payments", actor=Actor(user=operator), source="api")
    with pytest.raises(ValidationError) as info:
        service_create(name="payments", actor=Actor(user=operator), source="api")
    assert "name" in info.value.message_dict
    assert AuditEntry.objects.count() == 1 and OutboxEvent.objects.count() == 1


def test_delete_of_referenced_service_is_refused(operator, issue_token):
    issue_token("read", service="payments")
    service = Service.objects.get(name="payments")
    with pytest.raises(ValidationError):
        service_delete(service_id=service.pk, actor=Actor(user=operator), source="api")
    assert Service.objects.filter(pk=service.pk).exists()
    assert not AuditEntry.objects.filter(action="catalog.service.delete").exists()
