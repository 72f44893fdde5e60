"""Run in a subprocess against the scratch database (DATABASE_URL): migrate, check, sanitise, smoke.

    DATABASE_URL=postgres://…/<db>_sandbox_xxxx python -m reliability.health.restore.inside GRACE_SECONDS

Prints one JSON line. Never pointed at the source database (``drill`` builds
the URL from the scratch name it created, and this refuses other names).
"""

from __future__ import annotations

import io
import json
import sys


def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from reliability.health.restore import checks
    from reliability.health.restore.sanitise import sanitise

    if "_sandbox_" not in connection.settings_dict["NAME"]:
        raise SystemExit(f"refusing to run on {connection.settings_dict['NAME']!r}: not a sandbox database")
    grace = float(sys.argv[1]) if len(sys.argv) > 1 else 900.0
    report: dict = {}
    out = io.StringIO()
    call_command("migrate", interactive=False, verbosity=1, stdout=out)
    report["migrations"] = [line.strip() for line in out.getvalue().splitlines() if line.strip().startswith("Applying")]
    # before sanitising: the chain's hashes cover the columns the sanitiser overwrites
    report["audit_chain"] = checks.audit_chain()
    report["webhooks"] = checks.webhooks_reconcile(grace=grace)
    report["alerts"] = checks.alerts_reconcile()
    report["counts"] = checks.table_counts()
    with connection.cursor() as cursor:
        report["sanitised"] = sanitise(cursor)
    report["smoke"] = checks.smoke()
    print(json.dumps(report, default=str), flush=True)


if __name__ == "__main__":
    main()
