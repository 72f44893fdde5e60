"""Admin for degradation: overrides (set with a reason and expiry, clear with a reason), transitions."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.actors import Actor
from opsportal.common.admin import ReadOnlyAdminMixin, reason_action
from reliability.health.degradation.levels import LEVEL_CHOICES, Level
from reliability.health.degradation.models import DegradationOverride, DegradationState, DegradationTransition
from reliability.health.degradation.services import (
    NoActiveOverride,
    degradation_override_clear,
    degradation_override_set,
)


class OverrideForm(forms.ModelForm):
    """Validates only; save_model calls the service (STYLE: no logic in forms)."""

    level = forms.TypedChoiceField(choices=LEVEL_CHOICES, coerce=int)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000, strip=True,
                             help_text="Recorded in the audit trail.")

    class Meta:
        model = DegradationOverride
        fields = ["level", "reason", "expires_at"]

    def clean_expires_at(self):
        value = self.cleaned_data["expires_at"]
        if value <= timezone.now():
            raise ValidationError("must be in the future")
        return value


@admin.register(DegradationOverride)
class DegradationOverrideAdmin(admin.ModelAdmin):
    form = OverrideForm
    list_display = ("id", "level_name", "active", "expires_at", "set_by", "set_at", "cleared_by", "cleared_at", "reason")
    list_filter = ("level",)
    ordering = ("-set_at",)
    actions = ["clear_overrides"]

    @admin.display(description="level")
    def level_name(self, obj) -> str:
        return Level(obj.level).name

    @admin.display(boolean=True)
    def active(self, obj) -> bool:
        return obj.is_active()

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)  # the list's actions, never an edit

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return ("level", "reason", "expires_at", "set_by", "set_at", "cleared_by", "cleared_at", "clear_reason") if obj else ()

    def save_model(self, request, obj, form, change):
        try:
            created = degradation_override_set(level=form.cleaned_data["level"], reason=form.cleaned_data["reason"],
                                               expires_at=form.cleaned_data["expires_at"],
                                               actor=Actor.from_request(request), source="admin")
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            return
        obj.pk = created.pk  # the admin redirects to the row the service wrote

    @admin.action(description="Clear the active override (asks for a reason)", permissions=["change"])
    def clear_overrides(self, request, queryset):
        active = [o for o in queryset if o.is_active()]

        def perform(reason: str) -> None:
            try:
                degradation_override_clear(actor=Actor.from_request(request), source="admin", reason=reason)
            except NoActiveOverride as exc:
                self.message_user(request, str(exc), messages.WARNING)
                return
            self.message_user(request, "Override cleared; the level is the computed one again.", messages.SUCCESS)

        return reason_action(self, request, active, action="clear_overrides", label="Clear override",
                             intro="The degradation level returns to what the probes and breakers say.",
                             perform=perform)


@admin.register(DegradationTransition)
class DegradationTransitionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("at", "from_name", "to_name", "computed_name", "cause", "actor")
    list_filter = ("cause", "to_level")
    ordering = ("-at",)

    @admin.display(description="from")
    def from_name(self, obj) -> str:
        return Level(obj.from_level).name

    @admin.display(description="to")
    def to_name(self, obj) -> str:
        return Level(obj.to_level).name

    @admin.display(description="computed")
    def computed_name(self, obj) -> str:
        return Level(obj.computed_level).name


@admin.register(DegradationState)
class DegradationStateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "evaluated_at", "changed_at")
