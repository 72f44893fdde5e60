"""import_runbooks / export_runbooks: idempotent, versioned, all-or-nothing, round-trips; the shipped runbooks."""

from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from audit.models import AuditEntry
from opsportal.catalog.models import Service
from runbooks.models import Runbook, RunbookVersion

from .conftest import body

pytestmark = pytest.mark.django_db
SHIPPED = Path(settings.BASE_DIR) / "docs" / "runbooks"

FILE = """---
title: Queue overload
slug: queue-overload
service: orders-worker
owner: olivia
severity: P2
matchers:
- {label: alertname, op: '=', value: QueueOverload}
review_interval_days: 30
---
"""


def _import(directory) -> str:
    out = StringIO()
    call_command("import_runbooks", str(directory), stdout=out, stderr=StringIO())
    return out.getvalue()


def _write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text, encoding="utf-8")


def test_import_is_idempotent_and_a_changed_file_adds_a_version(tmp_path, operator):
    _write(tmp_path, "queue-overload.md", FILE + body())
    assert "1 created, 0 updated, 0 unchanged" in _import(tmp_path)
    rb = Runbook.objects.get(slug="queue-overload")
    assert (rb.service.name, rb.owner, rb.status, rb.review_interval_days) == ("orders-worker", operator, "published", 30)
    assert rb.matchers == [{"label": "alertname", "op": "=", "value": "QueueOverload"}]
    entries = AuditEntry.objects.count()
    assert "0 created, 0 updated, 1 unchanged" in _import(tmp_path)
    assert AuditEntry.objects.count() == entries and RunbookVersion.objects.count() == 1
    _write(tmp_path, "queue-overload.md", FILE + body("\nA new line.\n"))
    assert "0 created, 1 updated, 0 unchanged" in _import(tmp_path)
    assert [v.number for v in RunbookVersion.objects.order_by("number")] == [1, 2]
    assert Runbook.objects.get().current_version.body.endswith("A new line.\n")
    assert AuditEntry.objects.filter(action="runbook.update").count() == 1


def test_a_file_missing_a_section_is_rejected_naming_file_and_section_and_nothing_is_imported(tmp_path):
    _write(tmp_path, "good.md", FILE.replace("queue-overload", "good") + body())
    _write(tmp_path, "broken.md", FILE.replace("queue-overload", "broken") + body().replace("## Communication", "## Notes"))
    with pytest.raises(CommandError) as exc:
        _import(tmp_path)
    assert "broken.md: missing required section(s): Communication" in str(exc.value)
    assert "good.md" not in str(exc.value) and not Runbook.objects.exists()


@pytest.mark.parametrize(("text", "message"), [
    ("no front matter\n" + body(), "no YAML front matter"),
    ("---\ntitle: [unclosed\n---\n" + body(), "invalid YAML"),
    ("---\ntitle: X\ncolour: red\n---\n" + body(), "unknown front matter key(s): colour"),
    ("---\nslug: x\n---\n" + body(), "needs a title"),
    ("---\ntitle: X\nseverity: P9\n---\n" + body(), "severity must be one of"),
    ("---\ntitle: X\nreview_interval_days: soon\n---\n" + body(), "review_interval_days"),
    ("---\ntitle: X\nmatchers: [{label: a, op: '~', value: b}]\n---\n" + body(), "op must be one of"),
    ("---\ntitle: X\n" + body(), "not closed"),
])
def test_bad_files_are_rejected_with_a_reason(tmp_path, text, message):
    _write(tmp_path, "bad.md", text)
    with pytest.raises(CommandError) as exc:
        _import(tmp_path)
    assert "bad.md: " in str(exc.value) and message in str(exc.value)


def test_unknown_owner_is_a_warning_not_a_failure(tmp_path):
    _write(tmp_path, "queue-overload.md", FILE + body())
    err = StringIO()
    call_command("import_runbooks", str(tmp_path), stdout=StringIO(), stderr=err)
    assert "owner 'olivia' is not a user" in err.getvalue() and Runbook.objects.get().owner is None


def test_export_then_import_round_trips_with_no_new_version(tmp_path, operator):
    source = tmp_path / "in"
    shutil.copytree(SHIPPED, source)
    _import(source)
    versions, entries = RunbookVersion.objects.count(), AuditEntry.objects.count()
    out = tmp_path / "out"
    call_command("export_runbooks", str(out), stdout=StringIO())
    assert sorted(p.name for p in out.glob("*.md")) == sorted(p.name for p in SHIPPED.glob("*.md"))
    assert "0 created, 0 updated, 10 unchanged" in _import(out)
    assert RunbookVersion.objects.count() == versions and AuditEntry.objects.count() == entries
    exported = (out / "payment-processing-failure.md").read_text()
    assert exported.startswith("---\ntitle: Payment processing failure\nslug: payment-processing-failure\n")
    assert "webhooks_retry --since 1h" in exported
    assert "matchers:\n- {label: alertname, op: '=', value: PaymentProcessingFailure}\n" in exported


def test_the_shipped_runbooks_import_cleanly_with_their_services():
    _import(SHIPPED)
    assert Runbook.objects.filter(status="published").count() == 10
    assert {"payments-api", "opsportal", "inventory-sync"} <= set(Service.objects.values_list("name", flat=True))
    payment = Runbook.objects.get(slug="payment-processing-failure")
    assert "webhooks_retry --since 1h" in payment.body and "pending" in payment.body
    assert "1,000" in Runbook.objects.get(slug="queue-overload").title


def test_seed_demo_imports_the_runbooks_once():
    from opsportal.demo import SeedContext, seed_steps

    [step] = [s for s in seed_steps() if s.name.startswith("runbooks:")]
    ctx = SeedContext()
    step.run(ctx)
    assert len(ctx.created_items) == 10
    again = SeedContext()
    step.run(again)
    assert again.created_items == [] and RunbookVersion.objects.count() == 10
