"""Audit actions and event types of the service catalog (opsportal/common/names.py)."""

from enum import StrEnum


class Action(StrEnum):
    SERVICE_CREATE = "catalog.service.create"
    SERVICE_UPDATE = "catalog.service.update"
    SERVICE_DELETE = "catalog.service.delete"


class Event(StrEnum):
    SERVICE_CREATED = "catalog.service_created"
    SERVICE_UPDATED = "catalog.service_updated"
    SERVICE_DELETED = "catalog.service_deleted"
