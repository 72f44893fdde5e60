"""Bench-only settings: the production settings plus a URLconf adding the bare-insert view.

run.py sets OPSPORTAL_ENV=production, DEBUG=false, a random SECRET_KEY and the
scratch DATABASE_URL/REDIS_URL before this is imported; nothing else differs
from what production serves.
"""

import os
import secrets

os.environ.setdefault("OPSPORTAL_ENV", "production")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))

from opsportal.settings import *  # noqa: E402,F403

ROOT_URLCONF = "bench.webhooks.urls"
WSGI_APPLICATION = "bench.webhooks.wsgi.application"
