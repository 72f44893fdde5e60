"""Integration tokens in the admin: issue (token shown once), list, revoke with a reason.

Every change goes through accounts.services; hashes are never editable.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from audit.actors import Actor
from opsportal.accounts.models import KNOWN_SCOPES, IntegrationToken
from opsportal.accounts.services import TokenError, token_issue, token_revoke
from opsportal.common.admin import reason_action


class IntegrationTokenIssueForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in KNOWN_SCOPES],
        widget=forms.CheckboxSelectMultiple,
        help_text="`admin` implies every scope; `read` reads everything but the audit trail.",
    )

    class Meta:
        model = IntegrationToken
        fields = ["service", "name", "scopes", "expires_at"]

    def clean_expires_at(self):
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("must be in the future")
        return expires_at


@admin.register(IntegrationToken)
class IntegrationTokenAdmin(admin.ModelAdmin):
    list_display = ("service", "name", "prefix", "scope_list", "expires_at", "revoked_at", "last_used_at", "created_at")
    list_filter = ("service", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("service__name", "name", "prefix")
    list_select_related = ("service",)
    actions = ["revoke_tokens"]
    readonly_fields = (
        "service", "name", "prefix", "scopes", "created_at", "created_by", "expires_at",
        "revoked_at", "revoked_reason", "last_used_at",
    )
    form = IntegrationTokenIssueForm

    @admin.display(description="scopes")
    def scope_list(self, obj: IntegrationToken) -> str:
        return ", ".join(obj.scopes)

    # --- issue ----------------------------------------------------------------------
    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_fields(self, request, obj=None):
        return IntegrationTokenIssueForm.Meta.fields if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        # Existing tokens are read-only (revoke is the only change); the action
        # still needs the change permission, which is checked with obj=None.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False  # audit entries point at tokens: revoke instead

    def save_model(self, request, obj, form, change):
        if change:  # unreachable: no change permission on existing rows
            return
        token, raw = token_issue(
            service_name=form.cleaned_data["service"].name,
            scopes=form.cleaned_data["scopes"],
            name=form.cleaned_data.get("name", ""),
            expires_at=form.cleaned_data.get("expires_at"),
            actor=Actor.from_request(request),
            source="admin",
        )
        for field in ("pk", "prefix", "token_hash", "scopes", "created_at", "created_by_id"):
            setattr(obj, field, getattr(token, field))
        messages.warning(
            request,
            f"Token for {token.service.name} ({token.prefix}): {raw} — copy it now, it will not be shown again.",
        )

    # --- revoke ---------------------------------------------------------------------
    @admin.action(description="Revoke selected tokens (asks for a reason)", permissions=["change"])
    def revoke_tokens(self, request, queryset):
        active = queryset.filter(revoked_at__isnull=True).select_related("service")

        def perform(reason: str) -> None:
            actor = Actor.from_request(request)
            revoked = 0
            for token in active:
                try:
                    token_revoke(token_id=token.pk, actor=actor, reason=reason, source="admin")
                    revoked += 1
                except TokenError as exc:  # revoked meanwhile
                    messages.warning(request, f"{token}: {exc}")
            messages.success(request, f"Revoked {revoked} token(s).")

        return reason_action(
            self, request, active, action="revoke_tokens", label="Revoke", perform=perform,
            title="Revoke integration tokens",
            intro="These tokens stop working immediately; integrations using them get 401 until they receive a new token.",
            describe=lambda t: f"{t.service.name} — {t.prefix}{f' ({t.name})' if t.name else ''}: {', '.join(t.scopes)}",
            empty_message="None of the selected tokens is active.",
        )
