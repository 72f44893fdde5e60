"""Test settings: real PostgreSQL and Redis (DESIGN §5), fast hashing.

``make test`` exports DATABASE_URL/REDIS_URL after finding or starting the
servers; running pytest directly falls back to the local standard ports.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/opsportal")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("LOG_FORMAT", "console")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# The outbound address policy as staging runs it, with loopback allow-listed: test receivers
# listen on 127.0.0.1, and tests/security/ override these to show each refusal. Set in the
# environment so servers the tests spawn inherit it (docs/decisions.md).
os.environ.setdefault("OPSPORTAL_OUTBOUND_ALLOW_PRIVATE", "false")
os.environ.setdefault("OPSPORTAL_OUTBOUND_ALLOWED_CIDRS", "127.0.0.0/8,::1/128")

from opsportal.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AXES_ENABLED = True
CELERY_TASK_ALWAYS_EAGER = False
DEBUG = False
