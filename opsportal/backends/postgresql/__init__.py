"""``opsportal.backends.postgresql``: the PostgreSQL engine the settings select (see base.py)."""
