"""Traffic in the admin: received events, deliveries and their attempts, rejection samples. Read-only."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from opsportal.common.admin import ReadOnlyAdminMixin
from reliability.webhooks.models import Delivery, DeliveryAttempt, WebhookEvent, WebhookRejection


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    actions = None


def body_preview(body: bytes | memoryview | None, limit: int = 4000) -> str:
    raw = bytes(body or b"")
    text = raw[:limit].decode("utf-8", errors="replace")
    return text + (f"… ({len(raw)} bytes)" if len(raw) > limit else "")


class DeliveryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Delivery
    fields = ("destination", "status", "attempts", "next_attempt_at", "last_status_code", "delivered_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "source", "event_type", "provider_event_id", "received_at")
    list_filter = ("source", "direction")
    search_fields = ("provider_event_id", "event_type")
    date_hierarchy = "received_at"
    list_select_related = ("source",)
    fields = ("source", "direction", "provider_event_id", "event_type", "received_at", "headers", "body_text", "body_purged_at")
    readonly_fields = fields
    inlines = [DeliveryInline]

    @admin.display(description="body")
    def body_text(self, obj: WebhookEvent) -> str:
        return format_html('<pre class="ops-preformatted">{}</pre>', body_preview(obj.body))


class DeliveryAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DeliveryAttempt
    fields = ("at", "result", "status_code", "latency_ms", "chaos", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    """Every attempt, filterable by drill flag: "chaos: yes" are a drill's injected failures, not real ones."""

    list_display = ("id", "delivery", "destination", "at", "result", "status_code", "latency_ms", "chaos")
    list_filter = ("chaos", "result", "delivery__destination")
    list_select_related = ("delivery__destination",)
    date_hierarchy = "at"
    fields = ("delivery", "at", "result", "status_code", "latency_ms", "chaos", "error")
    readonly_fields = fields

    @admin.display(description="destination", ordering="delivery__destination__name")
    def destination(self, obj: DeliveryAttempt) -> str:
        return obj.delivery.destination.name


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "event", "destination", "status", "attempts", "next_attempt_at", "last_status_code", "delivered_at")
    list_filter = ("status", "destination")
    list_select_related = ("event", "destination")
    search_fields = ("event__provider_event_id",)
    readonly_fields = (
        "event", "destination", "status", "attempts", "next_attempt_at", "lease_expires_at", "last_status_code",
        "last_error", "created_at", "delivered_at",
    )
    fields = readonly_fields
    inlines = [DeliveryAttemptInline]


@admin.register(WebhookRejection)
class WebhookRejectionAdmin(ReadOnlyAdmin):
    list_display = ("window_start", "source", "reason", "detail", "remote_ip")
    list_filter = ("reason", "source")
    list_select_related = ("source",)
    readonly_fields = ("source", "reason", "window_start", "detail", "remote_ip", "user_agent", "header_names", "body_bytes", "created_at")
    fields = readonly_fields
