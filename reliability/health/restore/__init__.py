"""Restore drills: ``manage.py sandbox_restore`` (issue 11, item 10; docs/operations.md "Restore drills").

A backup is only real once it has been restored. The drill dumps the
database (or takes a given custom-format dump), restores it into a scratch
database ``<db>_sandbox_<random>``, applies the migrations, checks it and
sanitises it, prints a report and always drops the scratch database.

Rooms:
- ``pg``: the PostgreSQL tools (pg_dump, pg_restore) and the scratch database's life.
- ``sanitise``: which personal data is overwritten, column by column.
- ``checks``: what runs inside the scratch database (audit chain, reconciliation, counts, smoke).
- ``inside``: the subprocess entry point that runs ``checks`` against the scratch database.
- ``drill``: the orchestration and the ``RestoreResult``.
- ``services``: ``restore_drill_record`` (the outbox event ``health.restore_drill``).
- ``tasks``: the beat task ``health.restore_drill``.
"""
