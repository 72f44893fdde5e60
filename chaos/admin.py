"""Admin for every chaos model. Forms validate; save_model and actions call the services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.html import format_html

from audit.actors import Actor
from chaos import services
from chaos.models import ChaosDrill, ChaosFault, ChaosJournalEntry, ChaosKillSwitch, ChaosRun, ChaosScenario
from opsportal.common.admin import ReadOnlyAdminMixin, reason_action

SOURCE = "admin"


def _report(request, fn, label: str, **kwargs) -> None:
    try:
        fn(actor=Actor.from_request(request), source=SOURCE, **kwargs)
        messages.success(request, f"{label}: done")
    except services.ChaosPermissionDenied as exc:
        messages.error(request, f"{label}: {exc}")
    except (services.ChaosError, ValidationError) as exc:
        messages.error(request, f"{label}: {'; '.join(getattr(exc, 'messages', [str(exc)]))}")


@admin.register(ChaosScenario)
class ChaosScenarioAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("slug", "name", "enabled")
    readonly_fields = ("slug", "name", "description", "parameters_schema", "enabled")


class DrillForm(forms.ModelForm):
    class Meta:
        model = ChaosDrill
        fields = ["name", "scenario", "parameters", "targets", "service", "duration_seconds", "blast_radius", "schedule",
                  "starting_deadline_seconds", "stop_conditions", "steady_state", "dry_run"]


@admin.register(ChaosDrill)
class ChaosDrillAdmin(admin.ModelAdmin):
    form = DrillForm
    list_display = ("id", "name", "scenario", "state", "dry_run", "created_by", "approved_by", "updated_at")
    list_filter = ("state", "scenario", "dry_run")
    search_fields = ("name",)
    readonly_fields = ("state", "created_by", "approved_by", "approved_at", "periodic_task", "created_at", "updated_at", "ops_link")
    actions = ["submit", "approve", "schedule", "cancel", "halt"]

    @admin.display(description="live")
    def ops_link(self, obj):
        return format_html('<a href="/ops/chaos/">/ops/chaos/</a>')

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # drills are cancelled, never deleted (their runs are the record)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "scenario"] if obj is not None else fields

    def save_model(self, request, obj, form, change):
        actor = Actor.from_request(request)
        data = {k: form.cleaned_data[k] for k in form.changed_data if k in services.drills.EDITABLE} if change else None
        try:
            if change:
                saved = services.drill_update(drill_id=obj.pk, actor=actor, source=SOURCE, **data)
            else:
                fields = {k: form.cleaned_data[k] for k in DrillForm.Meta.fields if k not in ("scenario", "name")}
                saved = services.drill_create(scenario=form.cleaned_data["scenario"].slug, name=form.cleaned_data["name"],
                                              actor=actor, source=SOURCE, **fields)
        except services.ChaosPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        except services.ChaosError as exc:
            raise ValidationError(str(exc)) from exc
        obj.pk = saved.pk
        obj.refresh_from_db()

    def _each(self, request, queryset, fn, label, **kwargs):
        for drill in queryset:
            _report(request, fn, f"{label} drill #{drill.pk}", drill_id=drill.pk, **kwargs)

    @admin.action(description="Submit for approval")
    def submit(self, request, queryset):
        self._each(request, queryset, services.drill_submit, "submit")

    @admin.action(description="Approve (a different chaos operator)")
    def approve(self, request, queryset):
        self._each(request, queryset, services.drill_approve, "approve")

    @admin.action(description="Schedule on beat")
    def schedule(self, request, queryset):
        self._each(request, queryset, services.drill_schedule, "schedule")

    @admin.action(description="Cancel")
    def cancel(self, request, queryset):
        return reason_action(self, request, queryset, action="cancel", label="Cancel drills",
                             perform=lambda reason: self._each(request, queryset, services.drill_cancel, "cancel", reason=reason))

    @admin.action(description="Halt the running run")
    def halt(self, request, queryset):
        runs = ChaosRun.objects.filter(drill__in=queryset, state__in=ChaosRun.ACTIVE_STATES)

        def perform(reason):
            for run in runs:
                _report(request, services.run_halt, f"halt run #{run.pk}", run_id=run.pk, reason=reason)

        return reason_action(self, request, runs, action="halt", label="Halt", perform=perform)


class JournalInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ChaosJournalEntry
    fields = ("at", "kind", "message", "data")
    readonly_fields = fields
    extra = 0


class FaultInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ChaosFault
    fields = ("kind", "target", "spec", "applied_at", "expires_at", "removed_at", "removed_reason")
    readonly_fields = fields
    extra = 0


@admin.register(ChaosRun)
class ChaosRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "drill", "slot", "state", "verdict", "score", "started_at", "ended_at", "report")
    list_filter = ("state", "verdict")
    inlines = [FaultInline, JournalInline]
    actions = ["halt"]

    @admin.display(description="report")
    def report(self, obj):
        return format_html('<a href="/ops/chaos/runs/{}/report/">report</a>', obj.pk)

    @admin.action(description="Halt")
    def halt(self, request, queryset):
        runs = queryset.filter(state__in=ChaosRun.ACTIVE_STATES)

        def perform(reason):
            for run in runs:
                _report(request, services.run_halt, f"halt run #{run.pk}", run_id=run.pk, reason=reason)

        return reason_action(self, request, runs, action="halt", label="Halt", perform=perform)


@admin.register(ChaosJournalEntry)
class ChaosJournalEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "run", "at", "kind", "message")
    list_filter = ("kind",)


@admin.register(ChaosFault)
class ChaosFaultAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "run", "kind", "target", "applied_at", "expires_at", "removed_at", "removed_reason")


@admin.register(ChaosKillSwitch)
class ChaosKillSwitchAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "active", "engaged_by", "reason", "engaged_at", "released_by", "released_at")
    actions = ["release"]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "title": "Chaos kill switch (engage with manage.py chaos_halt or /ops/chaos/)"}
        return super().changelist_view(request, extra_context)

    @admin.action(description="Release the kill switch")
    def release(self, request, queryset):
        _report(request, services.kill_switch_release, "release kill switch")
