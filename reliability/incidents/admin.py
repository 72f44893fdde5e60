"""Incidents in the admin. Incidents change only through the services (actions below);
configuration (rules, windows, policies, rotations, channels) is edited here, diffed by django-auditlog."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from audit.actors import Actor
from reliability.incidents.matching import MatcherError, validate_matchers
from reliability.incidents.models import (
    Alert,
    EscalationPolicy,
    EscalationStep,
    Incident,
    IncidentEvent,
    MaintenanceWindow,
    Notification,
    NotificationChannel,
    OnCallRotation,
    RotationMember,
    RotationOverride,
    RoutingRule,
    SeverityMapping,
    Silence,
    UserContact,
)
from reliability.incidents.names import Source
from reliability.incidents.services import (
    IncidentActionRefused,
    incident_acknowledge,
    incident_assign,
    incident_resolve,
    user_contact_set,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by services only: visible, never edited here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TimelineInline(ReadOnlyInline):
    model = IncidentEvent
    fields = ("at", "kind", "actor_label", "source", "data")
    readonly_fields = fields
    ordering = ("at", "id")


class AlertInline(ReadOnlyInline):
    model = Alert
    fields = ("fingerprint", "status", "labels", "starts_at", "ends_at", "last_received_at")
    readonly_fields = fields


class SilenceInline(ReadOnlyInline):
    model = Silence
    fields = ("state", "alertmanager_id", "starts_at", "ends_at", "created_by", "attempts", "last_error")
    readonly_fields = fields


def _run(modeladmin, request, queryset, verb: str, call) -> None:
    done, refused = 0, []
    for incident in queryset:
        try:
            call(incident)
            done += 1
        except IncidentActionRefused as exc:
            refused.append(str(exc))
    if done:
        modeladmin.message_user(request, f"{verb} {done} incident(s).", messages.SUCCESS)
    for reason in refused:
        modeladmin.message_user(request, reason, messages.WARNING)


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = ("number", "title", "status", "severity", "service", "source", "assignee", "started_at",
                    "acknowledged_at", "resolved_at")
    list_filter = ("status", "severity", "source", "service")
    search_fields = ("title", "group_key", "dedup_key", "=number")
    ordering = ("status", "severity", "-started_at")
    list_select_related = ("service", "assignee")
    inlines = [AlertInline, SilenceInline, TimelineInline]
    actions = ["acknowledge", "acknowledge_silence_60", "resolve", "assign_to_me"]

    @admin.action(description="Acknowledge", permissions=["view"])
    def acknowledge(self, request, queryset):
        _run(self, request, queryset, "Acknowledged", lambda i: incident_acknowledge(
            incident_id=i.pk, actor=Actor.from_request(request), source=Source.ADMIN))

    @admin.action(description="Acknowledge and silence in Alertmanager for 60 minutes", permissions=["view"])
    def acknowledge_silence_60(self, request, queryset):
        _run(self, request, queryset, "Acknowledged (silenced)", lambda i: incident_acknowledge(
            incident_id=i.pk, actor=Actor.from_request(request), source=Source.ADMIN, silence_minutes=60))

    @admin.action(description="Resolve", permissions=["view"])
    def resolve(self, request, queryset):
        _run(self, request, queryset, "Resolved", lambda i: incident_resolve(
            incident_id=i.pk, actor=Actor.from_request(request), source=Source.ADMIN, note="resolved in the admin"))

    @admin.action(description="Assign to me", permissions=["view"])
    def assign_to_me(self, request, queryset):
        _run(self, request, queryset, "Assigned", lambda i: incident_assign(
            incident_id=i.pk, actor=Actor.from_request(request), source=Source.ADMIN, assignee_id=request.user.pk))

    def get_actions(self, request):
        from opsportal.accounts.roles import OPERATOR, has_role

        actions = super().get_actions(request)
        return actions if has_role(request.user, OPERATOR) else {}


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ("fingerprint", "source", "status", "incident", "last_received_at")
    list_filter = ("status", "source", "suppressed")
    search_fields = ("fingerprint", "group_key")
    raw_id_fields = ("incident",)


@admin.register(IncidentEvent)
class IncidentEventAdmin(ReadOnlyAdmin):
    list_display = ("incident", "kind", "actor_label", "source", "at")
    list_filter = ("kind", "source")


@admin.register(Silence)
class SilenceAdmin(ReadOnlyAdmin):
    list_display = ("incident", "state", "alertmanager_id", "created_by", "starts_at", "ends_at", "attempts")
    list_filter = ("state",)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("idempotency_key", "incident", "channel", "user", "status", "attempts", "created_at")
    list_filter = ("status",)


class MatchersForm(forms.ModelForm):
    def clean_matchers(self):
        try:
            return validate_matchers(self.cleaned_data.get("matchers"))
        except MatcherError as exc:
            raise forms.ValidationError(str(exc)) from exc


class MaintenanceWindowForm(MatchersForm):
    def clean_cron(self):
        from reliability.incidents.matching import parse_cron

        cron = (self.cleaned_data.get("cron") or "").strip()
        if cron:
            try:
                parse_cron(cron)
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return cron


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    form = MatchersForm
    list_display = ("order", "name", "service", "severity", "escalation_policy", "threshold_count", "enabled")
    list_editable = ("enabled",)
    ordering = ("order", "id")


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    form = MaintenanceWindowForm
    list_display = ("name", "starts_at", "ends_at", "cron", "enabled")


@admin.register(SeverityMapping)
class SeverityMappingAdmin(admin.ModelAdmin):
    list_display = ("value", "severity")


class StepInline(admin.TabularInline):
    model = EscalationStep
    extra = 0
    filter_horizontal = ()


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "ack_timeout_minutes", "loops", "severities", "service")
    inlines = [StepInline]


class MemberInline(admin.TabularInline):
    model = RotationMember
    extra = 0


class OverrideInline(admin.TabularInline):
    model = RotationOverride
    extra = 0


@admin.register(OnCallRotation)
class OnCallRotationAdmin(admin.ModelAdmin):
    list_display = ("name", "timezone", "handoff_time", "shift_hours")
    inlines = [MemberInline, OverrideInline]


@admin.register(NotificationChannel)
class NotificationChannelAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "fallback", "enabled")
    list_filter = ("kind", "enabled")


@admin.register(UserContact)
class UserContactAdmin(admin.ModelAdmin):
    """Phone numbers for SMS pages: listed masked; saved through the service (masked audit entry)."""

    list_display = ("user", "masked_phone", "updated_at")
    search_fields = ("user__username",)
    fields = ("user", "phone_number")

    def get_readonly_fields(self, request, obj=None):
        return ("user",) if obj is not None else ()

    def save_model(self, request, obj, form, change):
        contact = user_contact_set(user=obj.user, phone_number=form.cleaned_data["phone_number"],
                                   actor=Actor.from_request(request), source=Source.ADMIN)
        obj.pk = contact.pk

    def delete_model(self, request, obj):
        user_contact_set(user=obj.user, phone_number="", actor=Actor.from_request(request), source=Source.ADMIN)

    def has_delete_permission(self, request, obj=None):
        return False  # clearing the number (an audited change) is the way to remove it
