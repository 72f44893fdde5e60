"""The dead-letter queue in the admin: read-only rows, retry/discard actions through the DLQ services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from audit.actors import Actor
from opsportal.accounts.roles import OPERATOR, has_role
from opsportal.common.admin import ReadOnlyAdminMixin, reason_action
from reliability.webhooks.admin.traffic import body_preview
from reliability.webhooks.models import WebhookFailure
from reliability.webhooks.services.dlq import DlqItemNotOpen, dlq_discard, dlq_retry


@admin.register(WebhookFailure)
class WebhookFailureAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The DLQ. Rows change only through the actions (dlq_retry / dlq_discard, source "admin")."""

    list_display = ("id", "provider", "destination", "event_type", "failure_class", "error_excerpt", "retry_count", "last_retry_at", "created_at", "resolution")
    list_filter = (
        "failure_class",
        ("source", admin.RelatedOnlyFieldListFilter),
        ("destination", admin.RelatedOnlyFieldListFilter),
        ("event_type", admin.AllValuesFieldListFilter),
        "resolution",
        ("created_at", admin.DateFieldListFilter),
    )
    list_select_related = ("source", "destination")
    search_fields = ("error_message", "event_type", "delivery__event__provider_event_id", "=group_signature")
    change_list_template = "admin/webhooks/webhookfailure/change_list.html"
    date_hierarchy = "created_at"
    fields = (
        "provider", "source", "destination", "delivery", "event_id_public", "event_type", "failure_class", "hint", "status_code",
        "group_link", "error_message", "payload_text",
        "retry_count", "last_retry_at", "created_at", "resolution", "resolved_by_label", "resolution_reason", "resolved_at",
    )
    readonly_fields = fields
    actions = ["retry_selected", "discard_selected"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("payload")

    def has_dlq_operate_permission(self, request) -> bool:
        return has_role(request.user, OPERATOR)

    @admin.display(description="error")
    def error_excerpt(self, obj: WebhookFailure) -> str:
        text = obj.error_message or ""
        return text if len(text) <= 80 else text[:79] + "…"

    @admin.display(description="group")
    def group_link(self, obj: WebhookFailure) -> str:
        if not obj.group_signature:
            return "-"
        url = reverse("admin:webhooks_webhookfailure_changelist") + f"?group_signature={obj.group_signature}"
        return format_html('<a href="{}">{}</a> <span class="help">{}</span>', url, obj.group_signature, obj.signature_text)

    def get_urls(self):
        from reliability.webhooks.admin.dlq_groups import group_urls

        return group_urls(self) + super().get_urls()

    def lookup_allowed(self, lookup, value, request=None):
        return lookup == "group_signature" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="event id")
    def event_id_public(self, obj: WebhookFailure) -> str:
        return obj.delivery.event.provider_event_id

    @admin.display(description="payload")
    def payload_text(self, obj: WebhookFailure) -> str:
        return format_html('<pre class="ops-preformatted">{}</pre>', body_preview(obj.payload))

    @admin.action(description="Retry selected DLQ items", permissions=["dlq_operate"])
    def retry_selected(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        try:
            result = dlq_retry(failure_ids=ids, actor=Actor.from_request(request), source="admin")
        except DlqItemNotOpen as exc:
            self.message_user(request, f"Nothing retried: {exc}", messages.WARNING)
            return None
        self.message_user(request, f"Retried {result.count} DLQ item(s): {_id_list(result.ids)}.", messages.SUCCESS)
        if result.skipped:
            self.message_user(request, f"Skipped {len(result.skipped)} not open (or taken by another retry): {_id_list(result.skipped)}.", messages.WARNING)
        return None

    @admin.action(description="Discard selected DLQ items (asks for a reason)", permissions=["dlq_operate"])
    def discard_selected(self, request, queryset):
        return reason_action(
            self, request, queryset.select_related("destination"),
            action="discard_selected", label="Discard", title="Discard DLQ items: give a reason",
            intro="Discard these dead-letter items? Their deliveries stay dead and will not be retried.",
            describe=_describe_item,
            perform=lambda reason: self._discard(request, queryset, reason),
        )

    def _discard(self, request, queryset, reason: str) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        try:
            result = dlq_discard(failure_ids=ids, reason=reason, actor=Actor.from_request(request), source="admin")
        except DlqItemNotOpen as exc:
            self.message_user(request, f"Nothing discarded: {exc}", messages.WARNING)
            return
        self.message_user(request, f"Discarded {result.count} DLQ item(s): {_id_list(result.ids)}.", messages.SUCCESS)
        if result.skipped:
            self.message_user(request, f"Skipped {len(result.skipped)} not open: {_id_list(result.skipped)}.", messages.WARNING)


def _describe_item(item: WebhookFailure) -> str:
    return (f"#{item.pk} {item.provider} → {item.destination or '(deleted destination)'} {item.event_type or '-'} "
            f"({item.get_resolution_display()})")


def _id_list(ids, limit: int = 20) -> str:
    shown = ", ".join(f"#{pk}" for pk in list(ids)[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")
