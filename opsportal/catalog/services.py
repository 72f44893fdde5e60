from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from audit.actors import Actor
from audit.services import audit_record, diff
from opsportal.catalog.models import Service
from opsportal.catalog.names import Action, Event
from opsportal.events.services import emit

EDITABLE_FIELDS = ("name", "team", "tier", "description")


def _snapshot(service: Service) -> dict:
    return {f: getattr(service, f) for f in EDITABLE_FIELDS}


@transaction.atomic
def service_create(*, name: str, actor: Actor, source: str, team: str = "", tier: int = 2, description: str = "") -> Service:
    service = Service(name=name, team=team, tier=tier, description=description)
    service.full_clean()
    try:
        with transaction.atomic():
            service.save(force_insert=True)
    except IntegrityError as exc:
        raise ValidationError({"name": [f"a service named {name!r} already exists"]}) from exc
    audit_record(actor=actor, action=Action.SERVICE_CREATE, target=service, changes=diff({}, _snapshot(service)), source=source)
    emit(Event.SERVICE_CREATED, service, _snapshot(service))
    return service


@transaction.atomic
def service_get_or_create(*, name: str, actor: Actor, source: str) -> Service:
    existing = Service.objects.filter(name=name).first()
    return existing or service_create(name=name, actor=actor, source=source)


@transaction.atomic
def service_update(*, service_id: int, actor: Actor, source: str, **fields) -> Service:
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({f: ["not editable"] for f in unknown})
    service = Service.objects.select_for_update().get(pk=service_id)
    before = _snapshot(service)
    for key, value in fields.items():
        setattr(service, key, value)
    service.full_clean()
    changes = diff(before, _snapshot(service))
    if not changes:
        return service
    service.save()
    audit_record(actor=actor, action=Action.SERVICE_UPDATE, target=service, changes=changes, source=source)
    emit(Event.SERVICE_UPDATED, service, {"changes": changes})
    return service


@transaction.atomic
def service_delete(*, service_id: int, actor: Actor, source: str, reason: str = "") -> None:
    from django.db.models import ProtectedError

    service = Service.objects.select_for_update().get(pk=service_id)
    snapshot = _snapshot(service)
    pk = service.pk
    try:
        with transaction.atomic():
            service.delete()
    except ProtectedError as exc:
        raise ValidationError(f"service {service.name} is still referenced ({len(exc.protected_objects)} objects)") from exc
    audit_record(actor=actor, action=Action.SERVICE_DELETE, target=("catalog.service", pk), changes=diff(snapshot, {}), reason=reason, source=source)
    emit(Event.SERVICE_DELETED, ("catalog.service", pk), snapshot)
