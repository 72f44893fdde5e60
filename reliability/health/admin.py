"""Health admin: each part registers its ModelAdmins in its own package."""

from reliability.health.degradation import admin as _degradation_admin  # noqa: F401
from reliability.health.slowqueries import admin as _slowqueries_admin  # noqa: F401
