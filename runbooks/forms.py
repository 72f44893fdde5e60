"""The /ops/ runbook editor's form: validation only (the service writes)."""

from __future__ import annotations

import json

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from opsportal.catalog.models import Service
from runbooks.matching import clean_matchers, in_order
from runbooks.models import Runbook
from runbooks.services import validate_body


class RunbookForm(forms.Form):
    title = forms.CharField(max_length=200)
    slug = forms.SlugField(max_length=100, required=False, help_text="Leave empty to derive it from the title.")
    service = forms.ModelChoiceField(queryset=Service.objects.all(), required=False, to_field_name="name")
    owner = forms.ModelChoiceField(queryset=get_user_model().objects.filter(is_active=True), required=False,
                                   to_field_name="username")
    severity = forms.ChoiceField(choices=Runbook.Severity.choices, initial=Runbook.Severity.P2)
    status = forms.ChoiceField(choices=Runbook.Status.choices, initial=Runbook.Status.DRAFT)
    review_interval_days = forms.IntegerField(min_value=1, max_value=3650, initial=90)
    matchers = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4, "class": "rb-code"}),
        help_text='JSON list, e.g. [{"label": "alertname", "op": "=", "value": "QueueOverload"}]. '
                  "Ops: = != =~ !~ (regexes anchored).",
    )
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 30, "class": "rb-code"}),
        help_text="Markdown. Required sections: Symptoms, Diagnosis, Resolution, Rollback, Communication.",
    )
    change_note = forms.CharField(max_length=500, required=False)

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["slug"]  # the slug is the runbook's address: fixed once created

    def clean_matchers(self):
        text = (self.cleaned_data.get("matchers") or "").strip()
        if not text:
            return []
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ValidationError(f"not valid JSON: {exc}") from exc
        return clean_matchers(raw)

    def clean_body(self):
        try:
            return validate_body(self.cleaned_data.get("body"))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict.get("body", exc.messages)) from exc

    @classmethod
    def initial_for(cls, runbook: Runbook) -> dict:
        return {
            "title": runbook.title, "service": runbook.service.name if runbook.service_id else None,
            "owner": runbook.owner.get_username() if runbook.owner_id else None, "severity": runbook.severity,
            "status": runbook.status, "review_interval_days": runbook.review_interval_days,
            "matchers": json.dumps(in_order(runbook.matchers), indent=2) if runbook.matchers else "", "body": runbook.body,
        }
