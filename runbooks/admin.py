"""Runbooks in the admin: operators edit here too; every save goes through the services (a new version)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from audit.actors import Actor
from runbooks import services
from runbooks.matching import clean_matchers
from runbooks.models import Runbook, RunbookVersion
from runbooks.selectors import review_state


class RunbookAdminForm(forms.ModelForm):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 30, "cols": 100}),
                           help_text="Markdown; required sections: Symptoms, Diagnosis, Resolution, Rollback, Communication.")
    change_note = forms.CharField(max_length=500, required=False)

    class Meta:
        model = Runbook
        fields = ["title", "slug", "service", "owner", "severity", "status", "review_interval_days", "matchers"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["body"].initial = self.instance.body

    def clean_matchers(self):
        value = self.cleaned_data.get("matchers")
        if isinstance(value, str):
            value = json.loads(value or "[]")
        return clean_matchers(value)

    def clean_body(self):
        try:
            return services.validate_body(self.cleaned_data.get("body"))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["body"]) from exc


class VersionInline(admin.TabularInline):
    model = RunbookVersion
    fields = ("number", "created_at", "author_label", "change_note")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False
    fk_name = "runbook"


@admin.register(Runbook)
class RunbookAdmin(admin.ModelAdmin):
    form = RunbookAdminForm
    list_display = ("title", "slug", "service", "severity", "status", "owner", "review", "last_reviewed_at")
    list_filter = ("status", "severity", "service")
    search_fields = ("title", "slug", "service__name")
    list_select_related = ("service", "owner")
    readonly_fields = ("last_reviewed_at", "last_reviewed_by", "created_at", "updated_at")
    inlines = [VersionInline]
    actions = ["mark_reviewed", "publish", "archive"]

    @admin.display(description="review")
    def review(self, obj: Runbook) -> str:
        return review_state(obj)

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "slug") if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # archive instead: the history stays

    def save_model(self, request, obj, form, change):
        data = {k: form.cleaned_data[k] for k in ("title", "service", "owner", "severity", "status",
                                                  "review_interval_days", "matchers")}
        actor = Actor.from_request(request)
        if change:
            saved = services.runbook_update(runbook_id=obj.pk, actor=actor, source="admin", body=form.cleaned_data["body"],
                                            change_note=form.cleaned_data["change_note"], **data)
        else:
            saved = services.runbook_create(actor=actor, source="admin", slug=form.cleaned_data["slug"],
                                            body=form.cleaned_data["body"], change_note=form.cleaned_data["change_note"], **data)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def _each(self, request, queryset, service, done: str) -> None:
        actor = Actor.from_request(request)
        for runbook in queryset:
            service(runbook_id=runbook.pk, actor=actor, source="admin")
        messages.success(request, f"{queryset.count()} runbook(s) {done}")

    @admin.action(description="Mark reviewed", permissions=["change"])
    def mark_reviewed(self, request, queryset):
        self._each(request, queryset, services.runbook_mark_reviewed, "marked reviewed")

    @admin.action(description="Publish", permissions=["change"])
    def publish(self, request, queryset):
        self._each(request, queryset, services.runbook_publish, "published")

    @admin.action(description="Archive", permissions=["change"])
    def archive(self, request, queryset):
        self._each(request, queryset, services.runbook_archive, "archived")
