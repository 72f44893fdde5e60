"""Admin for the webhook gateway. Saves go through the services; traffic is read-only.

Secrets are write-only here too: the forms have blank "new secrets" fields
(blank keeps the current ones) and never render a stored secret.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.response import TemplateResponse
from django.utils.html import format_html

from audit.actors import Actor
from opsportal.accounts.roles import OPERATOR, has_role
from reliability.webhooks.dlq import DlqItemNotOpen, dlq_discard, dlq_retry
from reliability.webhooks.models import (
    Delivery,
    DeliveryAttempt,
    WebhookDestination,
    WebhookEvent,
    WebhookFailure,
    WebhookRejection,
    WebhookSource,
)
from reliability.webhooks.services import (
    SOURCE_FIELDS,
    RouteSpec,
    WebhookConfigInUse,
    webhook_destination_create,
    webhook_destination_delete,
    webhook_destination_update,
    webhook_source_create,
    webhook_source_delete,
    webhook_source_update,
)


def _apply_service(form, call) -> object | None:
    """Run a service; a ValidationError lands on the form's fields like a clean() error."""
    try:
        with transaction.atomic():
            return call()
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for field, errors in exc.message_dict.items():
                target = {"event_types": "event_types_text", "secrets": "new_secrets", "signing_secret": "new_signing_secret",
                          "destinations": "route_destinations", "routes": "route_destinations"}.get(field, field)
                form.add_error(target if target in form.fields else None, errors)
        else:
            form.add_error(None, exc.messages)
        return None


def _adopt(obj, saved) -> None:
    """Make the admin's instance the row the service saved (for its log entry and redirect)."""
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))


# --- sources ---------------------------------------------------------------------------------


class WebhookSourceForm(forms.ModelForm):
    new_secrets = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text="One secret per line; replaces the active list (rotation: new first, then the old one). "
        "Leave blank to keep the current secrets. Stored secrets are never shown.",
    )
    route_destinations = forms.ModelMultipleChoiceField(
        queryset=WebhookDestination.objects.all(), required=False, label="Destinations",
        help_text="Every accepted event is delivered to these. Event-type filters are kept for destinations that stay "
        "(set them through the API's 'routes').",
    )

    class Meta:
        model = WebhookSource
        fields = [f for f in SOURCE_FIELDS if f != "secrets"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["route_destinations"].initial = list(self.instance.routes.values_list("destination_id", flat=True))
        else:
            self.fields["new_secrets"].required = True

    def secrets_list(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data.get("new_secrets", "").splitlines() if line.strip()]

    def _post_clean(self):
        # Replaces ModelForm's model validation: the service validates and saves,
        # and its ValidationErrors land on the form's fields.
        if self.errors:
            return
        cleaned = self.cleaned_data
        fields = {f: cleaned[f] for f in SOURCE_FIELDS if f in cleaned}
        if self.secrets_list():
            fields["secrets"] = self.secrets_list()
        kept = {r.destination_id: tuple(r.event_types) for r in self.instance.routes.all()} if self.instance.pk else {}
        routes = [RouteSpec(destination_id=d.pk, event_types=kept.get(d.pk, ())) for d in cleaned.get("route_destinations", [])]
        actor = self.actor
        if self.instance.pk:
            def call():
                return webhook_source_update(source_id=self.instance.pk, actor=actor, source="admin", routes=routes, **fields)
        else:
            def call():
                return webhook_source_create(actor=actor, source="admin", routes=routes, **fields)
        self.saved = _apply_service(self, call)


@admin.register(WebhookSource)
class WebhookSourceAdmin(admin.ModelAdmin):
    form = WebhookSourceForm
    list_display = ("slug", "scheme", "enabled", "secret_count", "destination_names", "tolerance_seconds", "updated_at")
    list_filter = ("scheme", "enabled")
    search_fields = ("slug", "description")
    readonly_fields = ("secret_count", "ingest_path", "route_summary")
    actions = None  # bulk delete would bypass the service

    def get_fieldsets(self, request, obj=None):
        return [
            (None, {"fields": ["slug", "description", "scheme", "enabled", "ingest_path"]}),
            ("Signing", {"fields": ["new_secrets", "secret_count", "tolerance_seconds", "max_body_bytes", "hmac_header", "hmac_event_id_header"]}),
            ("Delivery", {"fields": ["route_destinations", "route_summary", "retry_strategy", "retry_max_attempts", "retry_base_seconds", "retry_max_seconds"]}),
        ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        form_class.actor = Actor.from_request(request)
        return form_class

    @admin.display(description="secrets")
    def secret_count(self, obj: WebhookSource) -> str:
        return f"{len(obj.secrets or [])} active" if obj.pk else "-"

    @admin.display(description="destinations")
    def destination_names(self, obj: WebhookSource) -> str:
        return ", ".join(d.name for d in obj.destinations.all()) or "-"

    @admin.display(description="routes")
    def route_summary(self, obj: WebhookSource) -> str:
        if not obj.pk:
            return "-"
        lines = [f"{r.destination.name}: {', '.join(r.event_types) or 'all event types'}" for r in obj.routes.select_related("destination")]
        return "; ".join(lines) or "-"

    def save_model(self, request, obj, form, change):
        _adopt(obj, form.saved)  # the service saved it during validation

    def save_related(self, request, form, formsets, change):
        pass  # routes were written by the service

    def delete_model(self, request, obj):
        try:
            webhook_source_delete(source_id=obj.pk, actor=Actor.from_request(request), source="admin")
        except WebhookConfigInUse as exc:
            messages.error(request, str(exc))


# --- destinations -------------------------------------------------------------------------------


class WebhookDestinationForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    new_signing_secret = forms.CharField(
        required=False, widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="whsec_<base64>. Blank: generate one (new destination) or keep the current one. Never shown again.",
    )
    event_types_text = forms.CharField(
        required=False, label="Subscribed portal event types",
        help_text="Comma-separated, '*' wildcards (e.g. incident.*, dlq.added).",
    )

    class Meta:
        model = WebhookDestination
        fields = ["name", "url", "timeout_seconds", "enabled", "disabled_reason"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["event_types_text"].initial = ", ".join(self.instance.event_types or [])

    def _post_clean(self):
        if self.errors:
            return
        cleaned = self.cleaned_data
        fields = {f: cleaned[f] for f in ("name", "url", "timeout_seconds", "enabled", "disabled_reason") if f in cleaned}
        fields["event_types"] = [t.strip() for t in cleaned.get("event_types_text", "").split(",") if t.strip()]
        secret = cleaned.get("new_signing_secret", "").strip()
        actor = self.actor
        if self.instance.pk:
            if secret:
                fields["signing_secret"] = secret

            def call():
                return webhook_destination_update(destination_id=self.instance.pk, actor=actor, source="admin", **fields)
        else:
            def call():
                return webhook_destination_create(actor=actor, source="admin", signing_secret=secret or None, **fields)
        self.saved = _apply_service(self, call)


@admin.register(WebhookDestination)
class WebhookDestinationAdmin(admin.ModelAdmin):
    form = WebhookDestinationForm
    list_display = ("name", "url", "enabled", "disabled_reason", "timeout_seconds", "breaker_name", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("name", "url")
    readonly_fields = ("breaker_name", "disabled_at")
    fields = ["name", "url", "timeout_seconds", "new_signing_secret", "enabled", "disabled_reason", "disabled_at", "event_types_text", "breaker_name"]
    actions = None

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        form_class.actor = Actor.from_request(request)
        return form_class

    def save_model(self, request, obj, form, change):
        saved = form.saved
        _adopt(obj, saved)
        if not change:
            # Like the API's create response: the one time the secret is shown.
            messages.warning(request, f"Signing secret for {saved.name} (shown once, store it now): {saved.signing_secret}")

    def delete_model(self, request, obj):
        try:
            webhook_destination_delete(destination_id=obj.pk, actor=Actor.from_request(request), source="admin")
        except WebhookConfigInUse as exc:
            messages.error(request, str(exc))


# --- traffic (read-only) ---------------------------------------------------------------------------


class _ReadOnlyAdmin(admin.ModelAdmin):
    actions = None

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _body_preview(body: bytes | memoryview | None, limit: int = 4000) -> str:
    raw = bytes(body or b"")
    text = raw[:limit].decode("utf-8", errors="replace")
    return text + (f"… ({len(raw)} bytes)" if len(raw) > limit else "")


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ("destination", "status", "attempts", "next_attempt_at", "last_status_code", "delivered_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(_ReadOnlyAdmin):
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
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", _body_preview(obj.body))


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ("at", "result", "status_code", "latency_ms", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(_ReadOnlyAdmin):
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
class WebhookRejectionAdmin(_ReadOnlyAdmin):
    list_display = ("window_start", "source", "reason", "detail", "remote_ip")
    list_filter = ("reason", "source")
    list_select_related = ("source",)
    readonly_fields = ("source", "reason", "window_start", "detail", "remote_ip", "user_agent", "header_names", "body_bytes", "created_at")
    fields = readonly_fields


# --- the dead-letter queue: retry / discard through the DLQ services -----------------------------


class DlqDiscardForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000, strip=True)


@admin.register(WebhookFailure)
class WebhookFailureAdmin(admin.ModelAdmin):
    """The DLQ. Rows change only through the actions (dlq_retry / dlq_discard, source "admin")."""

    list_display = ("id", "provider", "destination", "event_type", "error_excerpt", "retry_count", "last_retry_at", "created_at", "resolution")
    list_filter = (
        ("source", admin.RelatedOnlyFieldListFilter),
        ("destination", admin.RelatedOnlyFieldListFilter),
        ("event_type", admin.AllValuesFieldListFilter),
        "resolution",
        ("created_at", admin.DateFieldListFilter),
    )
    list_select_related = ("source", "destination")
    search_fields = ("error_message", "event_type", "delivery__event__provider_event_id")
    date_hierarchy = "created_at"
    fields = (
        "provider", "source", "destination", "delivery", "event_id_public", "event_type", "error_message", "payload_text",
        "retry_count", "last_retry_at", "created_at", "resolution", "resolved_by_label", "resolution_reason", "resolved_at",
    )
    readonly_fields = fields
    actions = ["retry_selected", "discard_selected"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("payload")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_dlq_operate_permission(self, request) -> bool:
        return has_role(request.user, OPERATOR)

    @admin.display(description="error")
    def error_excerpt(self, obj: WebhookFailure) -> str:
        text = obj.error_message or ""
        return text if len(text) <= 80 else text[:79] + "…"

    @admin.display(description="event id")
    def event_id_public(self, obj: WebhookFailure) -> str:
        return obj.delivery.event.provider_event_id

    @admin.display(description="payload")
    def payload_text(self, obj: WebhookFailure) -> str:
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", _body_preview(obj.payload))

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
        form = DlqDiscardForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            ids = list(queryset.values_list("pk", flat=True))
            try:
                result = dlq_discard(failure_ids=ids, reason=form.cleaned_data["reason"], actor=Actor.from_request(request), source="admin")
            except DlqItemNotOpen as exc:
                self.message_user(request, f"Nothing discarded: {exc}", messages.WARNING)
                return None
            self.message_user(request, f"Discarded {result.count} DLQ item(s): {_id_list(result.ids)}.", messages.SUCCESS)
            if result.skipped:
                self.message_user(request, f"Skipped {len(result.skipped)} not open: {_id_list(result.skipped)}.", messages.WARNING)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Discard DLQ items: give a reason",
            "opts": self.model._meta,
            "queryset": queryset.select_related("destination"),
            "form": form,
            "action": "discard_selected",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/webhooks/webhookfailure/discard_reason.html", context)


def _id_list(ids, limit: int = 20) -> str:
    shown = ", ".join(f"#{pk}" for pk in list(ids)[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")
