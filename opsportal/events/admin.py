from django.contrib import admin

from opsportal.common.admin import ReadOnlyAdminMixin
from opsportal.events.models import OutboxEvent


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "type", "aggregate_type", "aggregate_id", "created_at", "published_at", "broadcast_at")
    list_filter = ("type", ("published_at", admin.EmptyFieldListFilter))
    search_fields = ("uuid", "aggregate_id", "type")
    date_hierarchy = "created_at"
