"""Bench-only settings: the production settings plus a URLconf adding /bench/ views.

run.py sets OPSPORTAL_ENV=production, DEBUG=false, a random SECRET_KEY and the
scratch DATABASE_URL/REDIS_URL in the environment before this is imported;
nothing else differs from what production serves.
"""

import os
import secrets

os.environ.setdefault("OPSPORTAL_ENV", "production")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))

from opsportal.settings import *  # noqa: E402,F403

ROOT_URLCONF = "bench.api_overhead.urls"
WSGI_APPLICATION = "bench.api_overhead.wsgi.application"
