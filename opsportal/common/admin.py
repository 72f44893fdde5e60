"""Admin building blocks: the "give a reason" action page and the read-only mixin.

A reason-asking action (revoke tokens, force a breaker open, discard DLQ items, …) is an
admin action that first renders ``admin/common/reason_action.html`` — the selected rows and
a reason box — and, once the form is posted back valid, calls ``perform(reason)``, which
calls the app's service (one audit entry per change, the reason in it)::

    @admin.action(description="Revoke selected tokens (asks for a reason)", permissions=["change"])
    def revoke_tokens(self, request, queryset):
        return reason_action(
            self, request, queryset.filter(revoked_at__isnull=True),
            action="revoke_tokens", label="Revoke",
            intro="These tokens stop working immediately.",
            perform=lambda reason: self._revoke(request, queryset, reason),
        )
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.template.response import TemplateResponse

REASON_MAX_LENGTH = 2000
REASON_TEMPLATE = "admin/common/reason_action.html"


class ReasonForm(forms.Form):
    """One required reason, plain text, at most ``REASON_MAX_LENGTH`` characters, no NUL."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=REASON_MAX_LENGTH,
        strip=True,
        help_text="Recorded in the audit trail.",
    )
    # forms.CharField already refuses NUL (ProhibitNullCharactersValidator).


def reason_action(
    modeladmin: Any,
    request: Any,
    queryset: QuerySet | Iterable,
    *,
    action: str,
    label: str,
    perform: Callable[[str], Any],
    intro: str = "",
    describe: Callable[[Any], str] = str,
    empty_message: str = "None of the selected items can be changed this way.",
    title: str | None = None,
) -> TemplateResponse | None:
    """The intermediate page of a reason-asking admin action, then ``perform(reason)``.

    ``action`` is the admin action's name (posted back), ``label`` the verb on the button
    ("Revoke", "Force open"), ``describe(obj)`` one line per selected row. Returns the page
    (first visit, or the form was invalid) or None once ``perform`` ran, so the admin goes
    back to the change list with the messages ``perform`` left.
    """
    applying = "apply" in request.POST
    form = ReasonForm(request.POST if applying else None)
    if applying and form.is_valid():
        perform(form.cleaned_data["reason"])
        return None
    items = list(queryset)
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title or f"{label}: give a reason",
        "opts": opts,
        "items": [(obj.pk, describe(obj)) for obj in items],
        "form": form,
        "action": action,
        "action_label": label,
        "intro": intro,
        "empty_message": empty_message,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, REASON_TEMPLATE, context)


class ReadOnlyAdminMixin:
    """Rows are written by services only: nobody adds, changes or deletes them in the admin.

    Viewing is still governed by the view permission (and whatever the admin adds to it).
    Works on ``ModelAdmin`` and on inlines (whose permission methods take ``obj``).
    """

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
