"""Breakers in the admin: live list, manual actions behind a reason page, config edits via services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from audit.actors import Actor
from opsportal.common.admin import ReadOnlyAdminMixin, reason_action
from reliability.breakers.models import BreakerTransition, CircuitBreaker
from reliability.breakers.selectors import breaker_list, breaker_live_stats
from reliability.breakers.services import (
    MANUAL_SERVICES,
    BreakerActionRefused,
    breaker_create,
    breaker_update_config,
)

STATE_COLOURS = {
    "closed": "#2e7d32",
    "open": "#c62828",
    "half_open": "#ef6c00",
    "forced_open": "#6a1b9a",
    "disabled": "#546e7a",
}
ACTION_LABELS = {
    "force_open": "Force open",
    "force_close": "Force close",
    "reset": "Reset",
    "disable": "Disable",
}


class BreakerChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        stats = breaker_live_stats([b.name for b in self.result_list])
        for b in self.result_list:
            b.live = stats.get(b.name, {})


class TransitionInline(admin.TabularInline):
    model = BreakerTransition
    fields = ("at", "from_state", "to_state", "cause", "failure_rate", "actor_label", "reason", "source", "last_error")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-at", "-id")
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-at", "-id")


@admin.register(CircuitBreaker)
class CircuitBreakerAdmin(admin.ModelAdmin):
    list_display = ("name", "service", "coloured_state", "failure_rate", "calls_in_window", "last_transition", "state_changed_at")
    list_filter = ("state", "window_type")
    search_fields = ("name", "service__name")
    readonly_fields = ("state", "state_changed_at", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "service", "state", "state_changed_at")}),
        ("Tripping", {"fields": ("failure_rate_threshold", "slow_call_duration", "slow_call_rate_threshold",
                                 "minimum_calls", "window_type", "window_size")}),
        ("Recovery", {"fields": ("open_duration", "half_open_permitted_calls", "success_threshold", "call_timeout")}),
        ("Timestamps", {"fields": ("created_at", "updated_at")}),
    )
    inlines = [TransitionInline]
    actions = ["force_open", "force_close", "reset", "disable"]

    def get_queryset(self, request):
        return breaker_list()

    def get_changelist(self, request, **kwargs):
        return BreakerChangeList

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "name") if obj is not None else self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # breakers are declared by code; disable one instead

    @admin.display(description="state", ordering="state")
    def coloured_state(self, obj):
        return format_html(
            '<span class="breaker-state" data-state="{}" style="color:#fff;background:{};padding:1px 8px;'
            'border-radius:10px;font-weight:600">{}</span>',
            obj.state, STATE_COLOURS.get(obj.state, "#6c757d"), obj.get_state_display(),
        )

    @admin.display(description="failure rate")
    def failure_rate(self, obj):
        rate = getattr(obj, "live", {}).get("failure_rate")
        return "—" if rate is None else f"{rate:.1f} %"

    @admin.display(description="calls in window")
    def calls_in_window(self, obj):
        return getattr(obj, "live", {}).get("calls", 0)

    @admin.display(description="last transition", ordering="last_at")
    def last_transition(self, obj):
        if not getattr(obj, "last_at", None):
            return "—"
        return f"{obj.last_to} ({obj.last_cause}) {obj.last_at:%Y-%m-%d %H:%M:%S}"

    def save_model(self, request, obj, form, change):
        actor = Actor.from_request(request)
        if change:
            fields = {f: form.cleaned_data[f] for f in form.changed_data if f in (*CircuitBreaker.CONFIG_FIELDS, "service")}
            if fields:
                breaker_update_config(breaker_id=obj.pk, actor=actor, source="admin", **fields)
            return
        # one service call: the row with its service, one audit entry, one event
        created = breaker_create(name=obj.name, config=obj.to_config(), service=obj.service, actor=actor,
                                 source="admin")
        obj.pk, obj.created_at, obj.updated_at = created.pk, created.created_at, created.updated_at

    # --- manual actions: each asks for a reason on an intermediate page ----------------
    def _manual(self, request, queryset, action: str):
        def perform(reason: str) -> None:
            service = MANUAL_SERVICES[action]
            done = 0
            for cb in queryset:
                try:
                    service(name=cb.name, actor=Actor.from_request(request), reason=reason, source="admin")
                    done += 1
                except (BreakerActionRefused, ValidationError, CircuitBreaker.DoesNotExist) as exc:
                    text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                    self.message_user(request, f"{cb.name}: {text}", messages.WARNING)
            if done:
                self.message_user(request, f"{ACTION_LABELS[action]}: {done} breaker(s) changed.", messages.SUCCESS)

        return reason_action(
            self, request, queryset, action=action, label=ACTION_LABELS[action], perform=perform,
            intro=f"{ACTION_LABELS[action]} these breakers? The reason is recorded in the audit trail "
                  "and on each breaker's transitions.",
            describe=lambda cb: f"{cb.name} ({cb.get_state_display()})",
        )

    @admin.action(description="Force open (asks for a reason)", permissions=["change"])
    def force_open(self, request, queryset):
        return self._manual(request, queryset, "force_open")

    @admin.action(description="Force close (asks for a reason)", permissions=["change"])
    def force_close(self, request, queryset):
        return self._manual(request, queryset, "force_close")

    @admin.action(description="Reset (asks for a reason)", permissions=["change"])
    def reset(self, request, queryset):
        return self._manual(request, queryset, "reset")

    @admin.action(description="Disable (asks for a reason)", permissions=["change"])
    def disable(self, request, queryset):
        return self._manual(request, queryset, "disable")


@admin.register(BreakerTransition)
class BreakerTransitionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("at", "breaker", "from_state", "to_state", "cause", "failure_rate", "actor_label", "source", "scope")
    list_filter = ("to_state", "cause", "source")
    search_fields = ("breaker__name", "reason", "last_error")
    list_select_related = ("breaker",)
