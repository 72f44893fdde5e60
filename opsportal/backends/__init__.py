"""Database engines (settings: DATABASES ENGINE)."""
