"""The shared kit every app uses (docs/architecture.md, "The shared kit").

- ``admin``: the "give a reason" action page and its form, the read-only admin mixin;
- ``text``: text sanitising for what PostgreSQL stores (NUL bytes);
- ``timebounds``: ``--since 1h``-style durations and the audit API's since/until bounds;
- ``names``: the registry of every app's audit actions and event types (``<app>/names.py``).

Nothing here imports an app: the kit is the lowest room above Django itself.
"""
