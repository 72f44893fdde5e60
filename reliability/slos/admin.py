"""Admin for every SLO model. Forms validate; save_model/delete_model call the services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from audit.actors import Actor
from opsportal.common.admin import ReadOnlyAdminMixin
from reliability.slos import services
from reliability.slos.models import (
    SLO,
    BudgetCorrection,
    BurnAlertPolicy,
    BurnTier,
    SLIBucket,
    SLIHour,
    SLOStatus,
)
from reliability.slos.names import Source
from reliability.slos.services.config import EDITABLE, TIER_FIELDS


def _report(request, exc: ValidationError) -> None:
    for field, errors in (exc.message_dict.items() if hasattr(exc, "error_dict") else [("", exc.messages)]):
        messages.error(request, f"{field}: {' '.join(errors)}" if field else " ".join(errors))


class StatusInline(ReadOnlyAdminMixin, admin.StackedInline):
    model = SLOStatus
    can_delete = False
    readonly_fields = ("state", "budget_remaining", "sli", "good", "total", "burn_rates", "window_start",
                       "exhaustion_at", "last_bucket_at", "absent", "evaluated_at")


class CorrectionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = BudgetCorrection
    fields = ("starts_at", "ends_at", "reason", "created_by")
    readonly_fields = fields
    extra = 0


@admin.register(SLO)
class SLOAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "service", "objective", "window", "sli_source", "state", "budget")
    list_filter = ("window", "sli_source", "sli", "status__state")
    search_fields = ("slug", "name", "service__name")
    inlines = [StatusInline, CorrectionInline]
    list_select_related = ("service", "status")

    @admin.display(description="state", ordering="status__state")
    def state(self, obj):
        return getattr(getattr(obj, "status", None), "state", "—")

    @admin.display(description="budget left", ordering="status__budget_remaining")
    def budget(self, obj):
        value = getattr(getattr(obj, "status", None), "budget_remaining", None)
        return "—" if value is None else f"{value:.1%}"

    def get_readonly_fields(self, request, obj=None):
        return ("slug",) if obj else ()

    def save_model(self, request, obj, form, change):
        actor = Actor.from_request(request)
        fields = {f: form.cleaned_data[f] for f in EDITABLE if f in form.cleaned_data}
        try:
            if change:
                services.slo_update(slo_id=obj.pk, actor=actor, source=Source.ADMIN, **fields)
            else:
                objective = fields.pop("objective")
                name, service = fields.pop("name"), fields.pop("service")
                created = services.slo_create(slug=form.cleaned_data["slug"], name=name, service=service,
                                              objective=objective, actor=actor, source=Source.ADMIN, **fields)
                obj.pk = created.pk
        except ValidationError as exc:
            _report(request, exc)

    def save_related(self, request, form, formsets, change):
        """Inlines are read-only: nothing to save (the services wrote the rows)."""

    def delete_model(self, request, obj):
        services.slo_delete(slo_id=obj.pk, actor=Actor.from_request(request), source=Source.ADMIN)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class TierInline(admin.TabularInline):
    model = BurnTier
    fields = ("name", "severity", "long_window_minutes", "short_window_minutes", "factor", "for_seconds", "state",
              "burn_long", "burn_short")
    readonly_fields = ("name", "state", "burn_long", "burn_short")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BurnAlertPolicy)
class BurnAlertPolicyAdmin(admin.ModelAdmin):
    list_display = ("slo", "min_events", "absent_minutes")
    readonly_fields = ("slo",)
    inlines = [TierInline]

    def has_add_permission(self, request) -> bool:
        return False  # created with its SLO

    def save_model(self, request, obj, form, change):
        try:
            services.slo_update(slo_id=obj.slo_id, actor=Actor.from_request(request), source=Source.ADMIN,
                                min_events=obj.min_events, absent_minutes=obj.absent_minutes)
        except ValidationError as exc:
            _report(request, exc)

    def save_formset(self, request, form, formset, change):
        actor = Actor.from_request(request)
        for f in formset.forms:
            if not f.has_changed() or f.instance.pk is None:
                continue
            try:
                services.tier_update(tier_id=f.instance.pk, actor=actor, source=Source.ADMIN,
                                     **{k: f.cleaned_data[k] for k in TIER_FIELDS if k in f.changed_data})
            except ValidationError as exc:
                _report(request, exc)


@admin.register(BurnTier)
class BurnTierAdmin(admin.ModelAdmin):
    list_display = ("policy", "name", "severity", "long_window_minutes", "short_window_minutes", "factor", "state")
    list_filter = ("severity", "state")
    readonly_fields = ("policy", "name", "state", "pending_since", "firing_since", "burn_long", "burn_short")

    def has_add_permission(self, request) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        try:
            services.tier_update(tier_id=obj.pk, actor=Actor.from_request(request), source=Source.ADMIN,
                                 **{k: form.cleaned_data[k] for k in TIER_FIELDS if k in form.changed_data})
        except ValidationError as exc:
            _report(request, exc)


@admin.register(BudgetCorrection)
class BudgetCorrectionAdmin(admin.ModelAdmin):
    list_display = ("slo", "starts_at", "ends_at", "reason", "created_by")
    fields = ("slo", "starts_at", "ends_at", "reason")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # audited history: shorten a correction instead

    def save_model(self, request, obj, form, change):
        actor = Actor.from_request(request)
        data = form.cleaned_data
        try:
            if change:
                services.correction_update(correction_id=obj.pk, starts_at=data["starts_at"], ends_at=data["ends_at"],
                                           reason=data["reason"], actor=actor, source=Source.ADMIN)
            else:
                created = services.correction_create(slo=data["slo"], starts_at=data["starts_at"], ends_at=data["ends_at"],
                                                     reason=data["reason"], actor=actor, source=Source.ADMIN)
                obj.pk = created.pk
        except ValidationError as exc:
            _report(request, exc)


@admin.register(SLOStatus)
class SLOStatusAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("slo", "state", "budget_remaining", "exhaustion_at", "absent", "evaluated_at")
    list_filter = ("state", "absent")


@admin.register(SLIBucket)
class SLIBucketAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("slo", "minute", "good", "total")
    list_filter = ("slo",)
    show_full_result_count = False


@admin.register(SLIHour)
class SLIHourAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("slo", "hour", "good", "total")
    list_filter = ("slo",)
    show_full_result_count = False
