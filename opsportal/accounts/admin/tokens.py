"""Integration tokens in the admin: issue (token shown once), list, revoke with a reason.

Every change goes through accounts.services; hashes are never editable. The issue form
offers only the scopes the signed-in person could use itself (``grants.grantable_scopes``);
a request that asks for more anyway is refused and the attempt audited. The new token is
shown on a one-time response page (``no-store``), never in a message: messages may travel
in a cookie, which is signed but not encrypted.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils import timezone

from audit.actors import Actor
from opsportal.accounts.grants import grantable_scopes, refused_scopes
from opsportal.accounts.models import KNOWN_SCOPES, IntegrationToken
from opsportal.accounts.services import TokenError, token_issue, token_issue_refused, token_revoke
from opsportal.catalog.models import Service
from opsportal.common.admin import reason_action

SCOPE_HELP = {
    "read": "read everything but the audit trail",
    "admin": "every scope (superusers only)",
    "audit:read": "read and export the audit trail (auditors)",
}


class IntegrationTokenIssueForm(forms.ModelForm):
    grantable: frozenset[str] = frozenset(KNOWN_SCOPES)  # narrowed per request by get_form

    scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in KNOWN_SCOPES],
        widget=forms.CheckboxSelectMultiple,
        help_text="Only the scopes you could use yourself are offered.",
        error_messages={
            "invalid_choice": "you may not grant the scope %(value)s: a token carries only scopes its issuer could use itself",
        },
    )

    class Meta:
        model = IntegrationToken
        fields = ["service", "name", "scopes", "expires_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "scopes" in self.fields:  # absent on the read-only change page
            self.fields["scopes"].choices = [
                (s, f"{s} — {SCOPE_HELP[s]}" if s in SCOPE_HELP else s) for s in KNOWN_SCOPES if s in self.grantable
            ]

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
    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.grantable = grantable_scopes(Actor.from_request(request))  # a fresh class per call
        return form

    def add_view(self, request, form_url="", extra_context=None):
        # Outside the add view's transaction, so the record of a refused grant is kept while
        # the form shows the error (the form itself never offered those scopes).
        if request.method == "POST" and self.has_add_permission(request):
            actor = Actor.from_request(request)
            asked = [s for s in request.POST.getlist("scopes") if isinstance(s, str)][:50]
            refused = refused_scopes(actor, asked)
            if refused:
                service_id = request.POST.get("service", "")
                service = (Service.objects.filter(pk=int(service_id)).first()
                           if service_id.isascii() and service_id.isdigit() and len(service_id) < 18 else None)
                token_issue_refused(service_name=service.name if service else "(none)", scopes=asked,
                                    refused=refused, actor=actor, source="admin")
        return super().add_view(request, form_url, extra_context)

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
        obj._state.adding = False
        request._issued_token = raw  # for response_add only: never stored, never in a message

    def response_add(self, request, obj, post_url_continue=None):
        raw = getattr(request, "_issued_token", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": "Integration token issued",
            "opts": self.model._meta,
            "token": obj,
            "raw_token": raw,
        }
        response = TemplateResponse(request, "admin/accounts/integrationtoken/issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

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
