"""The audit trail in the admin: read-only, for auditors and superusers."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.urls import reverse

from audit.models import AuditEntry
from audit.selectors import audit_search, parse_time_bound
from opsportal.accounts.roles import AUDITOR, has_role
from opsportal.common.admin import ReadOnlyAdminMixin

# Changelist query parameters -> the export API's filter names (audit/api.py).
_EXPORT_PARAMS = {
    "q": "q",
    "actor_label__exact": "actor_label",
    "actor_kind__exact": "actor_kind",
    "action__exact": "action",
    "target_type__exact": "target_type",
    "source__exact": "source",
    "created_at__gte": "since",
    "created_at__lt": "until",
}


class CreatedAtRangeFilter(admin.DateFieldListFilter):
    """Quick links (today, past 7 days, …) plus a since/until form.

    Both write ``created_at__gte`` / ``created_at__lt`` (until is exclusive);
    a bare date means midnight in the site's time zone.
    """

    template = "admin/audit/date_range_filter.html"

    def queryset(self, request, queryset):
        bounds = {}
        for param in (self.lookup_kwarg_since, self.lookup_kwarg_until):
            values = self.used_parameters.get(param) or []
            raw = values[-1] if values else ""
            if not raw.strip():
                continue  # the form sends an empty bound when only one is set
            bound = parse_time_bound(raw)
            if bound is None:
                raise IncorrectLookupParameters(f"{param}: not a date or datetime")
            bounds[param] = bound
        return queryset.filter(**bounds)

    def choices(self, changelist):
        yield from super().choices(changelist)
        # For the template's form: the other active filters, kept as hidden fields.
        mine = {self.lookup_kwarg_since, self.lookup_kwarg_until}
        self.hidden_params = [
            (key, value) for key, values in changelist.filter_params.items() if key not in mine for value in values
        ]
        self.since_value = self._date_value(self.lookup_kwarg_since)
        self.until_value = self._date_value(self.lookup_kwarg_until)

    def _date_value(self, param: str) -> str:
        raw = self.date_params.get(param, "")
        bound = parse_time_bound(raw) if raw else None
        return bound.date().isoformat() if bound else ""


def export_query(params) -> str:
    """The changelist's filters as the export endpoint's query string."""
    wanted = {}
    for admin_name, api_name in _EXPORT_PARAMS.items():
        value = params.get(admin_name, "")
        if not value:
            continue
        if api_name in ("since", "until"):
            bound = parse_time_bound(value)
            if bound is None:
                continue
            value = bound.isoformat()
        wanted[api_name] = value
    return urlencode(wanted)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only for everyone, superusers included: the trail is append-only."""

    list_display = ("id", "created_at", "actor_label", "action", "target_type", "target_id", "source", "ip")
    list_filter = (
        "actor_label",
        "actor_kind",
        "action",
        "target_type",
        "source",
        ("created_at", CreatedAtRangeFilter),
    )
    search_fields = ("actor_label",)  # enables the box; get_search_results does the searching
    search_help_text = "Words match actor, action, target, request id or reason."
    readonly_fields = [f.name for f in AuditEntry._meta.fields]
    list_per_page = 100
    show_full_result_count = False  # COUNT(*) on a large trail is slow
    change_list_template = "admin/audit/auditentry/change_list.html"

    def get_search_results(self, request, queryset, search_term):
        return audit_search(queryset, search_term), False

    def changelist_view(self, request, extra_context=None):
        query = export_query(request.GET)
        url = reverse("audit-export") + (f"?{query}" if query else "")
        return super().changelist_view(request, {**(extra_context or {}), "audit_export_url": url})

    def has_module_permission(self, request):
        return has_role(request.user, AUDITOR) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        # The role is the gate; a stray view permission on someone else does not open the trail.
        return has_role(request.user, AUDITOR) and super().has_view_permission(request, obj)
