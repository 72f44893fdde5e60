"""Sources and destinations in the admin: forms validate, ``save_model``/``delete_model`` call the services.

Secrets are write-only here too: the forms have blank "new secrets" fields
(blank keeps the current ones) and never render a stored secret.
"""

from __future__ import annotations

import copy

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect

from audit.actors import Actor
from opsportal.common.admin import reason_action
from reliability.webhooks.models import WebhookDestination, WebhookSource
from reliability.webhooks.services.config import (
    SOURCE_FIELDS,
    RouteSpec,
    destination_validate,
    routes_validate,
    source_validate,
    webhook_destination_create,
    webhook_destination_delete,
    webhook_destination_disable,
    webhook_destination_update,
    webhook_source_create,
    webhook_source_delete,
    webhook_source_update,
)
from reliability.webhooks.signatures import generate_standard_secret

# A service's field names → the form fields that show them.
_FORM_FIELD = {"event_types": "event_types_text", "secrets": "new_secrets", "signing_secret": "new_signing_secret",
               "destinations": "route_destinations", "routes": "route_destinations"}


def _add_errors(form, exc: ValidationError) -> None:
    """A service validator's ValidationError onto the form's fields, like a clean() error."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, errors in exc.message_dict.items():
        target = _FORM_FIELD.get(field, field)
        form.add_error(target if target in form.fields else None, errors)


def _adopt(obj, saved) -> None:
    """Make the admin's instance the row the service saved (for its log entry and redirect)."""
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))


class _Refused(Exception):
    """The service refused a save the form had accepted (a concurrent change won the race)."""


class _ServiceAdmin(admin.ModelAdmin):
    actions = None  # bulk delete would bypass the services

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _Refused as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(request.get_full_path())

    def save_related(self, request, form, formsets, change):
        pass  # the service wrote everything

    @staticmethod
    def _call(service, **kwargs):
        try:
            return service(**kwargs)
        except ValidationError as exc:
            raise _Refused("; ".join(exc.messages)) from exc


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

    def service_fields(self) -> dict:
        fields = {f: self.cleaned_data[f] for f in SOURCE_FIELDS if f in self.cleaned_data}
        if self.secrets_list():
            fields["secrets"] = self.secrets_list()
        return fields

    def route_specs(self) -> list[RouteSpec]:
        kept = {r.destination_id: tuple(r.event_types) for r in self.instance.routes.all()} if self.instance.pk else {}
        return [RouteSpec(destination_id=d.pk, event_types=kept.get(d.pk, ()))
                for d in self.cleaned_data.get("route_destinations", [])]

    def _post_clean(self):
        super()._post_clean()  # the model's field checks and uniqueness, on the unsaved instance
        if self.errors:
            return
        candidate = copy.copy(self.instance)  # the service's checks, on a copy: nothing is written
        for key, value in self.service_fields().items():
            setattr(candidate, key, value)
        try:
            source_validate(candidate)
            routes_validate(self.route_specs())
        except ValidationError as exc:
            _add_errors(self, exc)


@admin.register(WebhookSource)
class WebhookSourceAdmin(_ServiceAdmin):
    form = WebhookSourceForm
    list_display = ("slug", "scheme", "enabled", "secret_count", "destination_names", "tolerance_seconds", "updated_at")
    list_filter = ("scheme", "enabled")
    search_fields = ("slug", "description")
    readonly_fields = ("secret_count", "ingest_path", "route_summary")

    def get_fieldsets(self, request, obj=None):
        return [
            (None, {"fields": ["slug", "description", "scheme", "enabled", "ingest_path"]}),
            ("Signing", {"fields": ["new_secrets", "secret_count", "tolerance_seconds", "max_body_bytes", "hmac_header", "hmac_event_id_header"]}),
            ("Delivery", {"fields": ["route_destinations", "route_summary", "retry_strategy", "retry_max_attempts", "retry_base_seconds", "retry_max_seconds"]}),
            ("Dead-letter recovery", {"fields": ["dlq_strategies", "dlq_discard_after_days"]}),
        ]

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
        actor, fields, routes = Actor.from_request(request), form.service_fields(), form.route_specs()
        if change:
            saved = self._call(webhook_source_update, source_id=obj.pk, actor=actor, source="admin", routes=routes, **fields)
        else:
            saved = self._call(webhook_source_create, actor=actor, source="admin", routes=routes, **fields)
        _adopt(obj, saved)

    def delete_model(self, request, obj):
        # The delete view refuses sources with events (PROTECT) before it gets here.
        webhook_source_delete(source_id=obj.pk, actor=Actor.from_request(request), source="admin")


# --- destinations -------------------------------------------------------------------------------


_DESTINATION_FORM_FIELDS = ("name", "url", "timeout_seconds", "enabled", "disabled_reason",
                            "rate_limit_per_second", "concurrency_limit", "dlq_strategies", "dlq_discard_after_days")


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
        fields = list(_DESTINATION_FORM_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["event_types_text"].initial = ", ".join(self.instance.event_types or [])

    def secret(self) -> str:
        return self.cleaned_data.get("new_signing_secret", "").strip()

    def service_fields(self) -> dict:
        fields = {f: self.cleaned_data[f] for f in _DESTINATION_FORM_FIELDS if f in self.cleaned_data}
        fields["event_types"] = [t.strip() for t in self.cleaned_data.get("event_types_text", "").split(",") if t.strip()]
        return fields

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        candidate = copy.copy(self.instance)
        for key, value in self.service_fields().items():
            setattr(candidate, key, value)
        # A blank secret is generated by the create service (or kept): check a stand-in, never stored.
        candidate.signing_secret = self.secret() or self.instance.signing_secret or generate_standard_secret()
        try:
            destination_validate(candidate)
        except ValidationError as exc:
            _add_errors(self, exc)


@admin.register(WebhookDestination)
class WebhookDestinationAdmin(_ServiceAdmin):
    form = WebhookDestinationForm
    list_display = ("name", "url", "enabled", "disabled_reason", "timeout_seconds", "breaker_name", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("name", "url")
    readonly_fields = ("breaker_name", "disabled_at")
    fields = ["name", "url", "timeout_seconds", "new_signing_secret", "enabled", "disabled_reason", "disabled_at", "event_types_text", "breaker_name",
              "rate_limit_per_second", "concurrency_limit", "dlq_strategies", "dlq_discard_after_days"]
    actions = ["disable_selected"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # bulk delete would bypass the services
        return actions

    def save_model(self, request, obj, form, change):
        actor, fields, secret = Actor.from_request(request), form.service_fields(), form.secret()
        if change:
            if secret:
                fields["signing_secret"] = secret
            saved = self._call(webhook_destination_update, destination_id=obj.pk, actor=actor, source="admin", **fields)
        else:
            saved = self._call(webhook_destination_create, actor=actor, source="admin", signing_secret=secret or None, **fields)
            # Like the API's create response: the one time the secret is shown.
            messages.warning(request, f"Signing secret for {saved.name} (shown once, store it now): {saved.signing_secret}")
        _adopt(obj, saved)

    def delete_model(self, request, obj):
        # The delete view refuses routed or delivered-to destinations (PROTECT) before it gets here.
        webhook_destination_delete(destination_id=obj.pk, actor=Actor.from_request(request), source="admin")

    @admin.action(description="Disable selected destinations (asks for a reason)", permissions=["change"])
    def disable_selected(self, request, queryset):
        return reason_action(
            self, request, queryset,
            action="disable_selected", label="Disable", title="Disable destinations: give a reason",
            intro="Disable these destinations? Nothing more is sent to them; what waits for them goes to the "
                  "dead-letter queue.",
            describe=lambda d: f"{d.name} {d.url} ({'enabled' if d.enabled else 'already disabled'})",
            perform=lambda reason: self._disable(request, queryset, reason),
        )

    def _disable(self, request, queryset, reason: str) -> None:
        actor = Actor.from_request(request)
        done = [d.name for d in queryset if webhook_destination_disable(
            destination_id=d.pk, reason=reason, actor=actor, source="admin")]
        self.message_user(request, f"Disabled {len(done)} destination(s): {', '.join(done) or '-'}.", messages.SUCCESS)
