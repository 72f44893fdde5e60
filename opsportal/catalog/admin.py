from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from audit.actors import Actor
from opsportal.catalog.models import Service
from opsportal.catalog.services import EDITABLE_FIELDS, service_create, service_delete, service_update


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ("name", "team", "tier", "updated_at")
    list_filter = ("tier", "team")
    search_fields = ("name", "team", "description")
    fields = EDITABLE_FIELDS
    actions = None  # bulk delete would bypass the service

    def save_model(self, request, obj, form, change):
        actor = Actor.from_request(request)
        data = {f: form.cleaned_data[f] for f in EDITABLE_FIELDS if f in form.cleaned_data}
        if change:
            saved = service_update(service_id=obj.pk, actor=actor, source="admin", **data)
        else:
            saved = service_create(actor=actor, source="admin", **data)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        try:
            service_delete(service_id=obj.pk, actor=Actor.from_request(request), source="admin")
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
