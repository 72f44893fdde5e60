"""/ops/runbooks/: list and search, the readable page, history and diffs; the editor for operators."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from audit.actors import Actor
from opsportal.accounts.roles import OPERATOR, has_role
from opsportal.catalog.models import Service
from opsportal.dashboard.views import ops_page, portal_login_required
from runbooks import diffing, selectors, services
from runbooks.forms import RunbookForm
from runbooks.matching import format_matchers
from runbooks.models import Runbook
from runbooks.rendering import render_markdown


def _context(request, **extra) -> dict:
    return {
        **admin.site.each_context(request),
        "is_nav_sidebar_enabled": False,
        "can_edit": has_role(request.user, OPERATOR),
        **extra,
    }


def _require_editor(request) -> None:
    if not has_role(request.user, OPERATOR):
        raise PermissionDenied("editing runbooks needs the operator role")


def _runbook_or_404(slug: str) -> Runbook:
    runbook = selectors.runbook_get(slug=slug)
    if runbook is None:
        raise Http404("no such runbook")
    return runbook


def _param(request, name: str, limit: int) -> str:
    # PostgreSQL refuses NUL in text: a search for it is a search for nothing.
    return request.GET.get(name, "")[:limit].replace("\x00", "")


def _int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@ops_page
def runbook_list_page(request):
    q = _param(request, "q", 200)
    service = _param(request, "service", 100)
    status = request.GET.get("status", "")
    if status not in Runbook.Status.values:
        status = ""
    overdue = {"1": True, "0": False}.get(request.GET.get("overdue", ""))
    rows = selectors.runbook_list(search=q, service=service, status=status, overdue=overdue)
    return render(request, "runbooks/list.html", _context(
        request, title="Runbooks", rows=rows, q=q, service=service, status=status,
        overdue=request.GET.get("overdue", ""), services=list(Service.objects.values_list("name", flat=True)),
        statuses=Runbook.Status.choices,
    ))


@ops_page
def runbook_detail_page(request, slug: str):
    runbook = _runbook_or_404(slug)
    shown = runbook.current_version
    wanted = _int(request.GET.get("version"))
    if wanted is not None and (shown is None or wanted != shown.number):
        shown = selectors.runbook_version(runbook, wanted)
        if shown is None:
            raise Http404("no such version")
    rendered = render_markdown(shown.body if shown else "")
    versions = list(selectors.runbook_versions(runbook))
    return render(request, "runbooks/detail.html", _context(
        request, title=runbook.title, runbook=runbook, shown=shown, html=rendered.html, toc=rendered.toc,
        versions=versions, review=selectors.review_state(runbook), matchers_text=format_matchers(runbook.matchers),
        is_current=shown is not None and shown.pk == runbook.current_version_id,
    ))


@ops_page
def runbook_diff_page(request, slug: str):
    runbook = _runbook_or_404(slug)
    current = runbook.current_version.number if runbook.current_version_id else 1
    new_no = _int(request.GET.get("to"), current)
    old_no = _int(request.GET.get("from"), max(1, new_no - 1))
    old, new = selectors.runbook_version(runbook, old_no), selectors.runbook_version(runbook, new_no)
    if old is None or new is None:
        raise Http404("no such version")
    mode = "split" if request.GET.get("mode") == "split" else "unified"
    return render(request, "runbooks/diff.html", _context(
        request, title=f"{runbook.title}: v{old.number} → v{new.number}", runbook=runbook, old=old, new=new,
        mode=mode, versions=list(selectors.runbook_versions(runbook)),
        unified=diffing.unified(old.body, new.body, old_name=f"v{old.number}", new_name=f"v{new.number}")
        if mode == "unified" else None,
        rows=diffing.side_by_side(old.body, new.body) if mode == "split" else None,
    ))


@portal_login_required
@require_POST
def runbook_review(request, slug: str):
    _require_editor(request)
    runbook = _runbook_or_404(slug)
    services.runbook_mark_reviewed(runbook_id=runbook.pk, actor=Actor.from_request(request), source="dashboard",
                                   note=request.POST.get("note", "")[:2000])
    messages.success(request, f"{runbook.title}: marked reviewed")
    return redirect(runbook.get_absolute_url())


def _apply_errors(form: RunbookForm, exc: ValidationError) -> None:
    for field, errors in (exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}).items():
        form.add_error(field if field in form.fields else None, errors)


@portal_login_required
@require_http_methods(["GET", "POST"])
def runbook_create_page(request):
    _require_editor(request)
    form = RunbookForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            runbook = services.runbook_create(
                actor=Actor.from_request(request), source="dashboard", title=data["title"], slug=data["slug"],
                service=data["service"], owner=data["owner"], severity=data["severity"], status=data["status"],
                review_interval_days=data["review_interval_days"], matchers=data["matchers"], body=data["body"],
                change_note=data["change_note"],
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"{runbook.title}: created (version 1)")
            return redirect(runbook.get_absolute_url())
    return render(request, "runbooks/edit.html", _context(request, title="New runbook", form=form, runbook=None),
                  status=400 if form.errors else 200)


@portal_login_required
@require_http_methods(["GET", "POST"])
def runbook_edit_page(request, slug: str):
    _require_editor(request)
    runbook = _runbook_or_404(slug)
    if request.method == "POST":
        form = RunbookForm(request.POST, editing=True)
        if form.is_valid():
            data = dict(form.cleaned_data)
            body, note = data.pop("body"), data.pop("change_note")
            try:
                runbook = services.runbook_update(
                    runbook_id=runbook.pk, actor=Actor.from_request(request), source="dashboard",
                    body=body, change_note=note, **data,
                )
            except ValidationError as exc:
                _apply_errors(form, exc)
            else:
                messages.success(request, f"{runbook.title}: saved (version {runbook.current_version.number})")
                return redirect(runbook.get_absolute_url())
    else:
        form = RunbookForm(initial=RunbookForm.initial_for(runbook), editing=True)
    return render(request, "runbooks/edit.html", _context(request, title=f"Edit {runbook.title}", form=form, runbook=runbook),
                  status=400 if form.errors else 200)
