"""One env-driven settings module (DESIGN §5).

With no environment at all this is the embedded default: SQLite, the in-memory
Celery transport and channel layer, a local-memory cache. Setting DATABASE_URL
and REDIS_URL turns it into the production layout.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from opsportal.envvars import env_bool, env_list

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("OPSPORTAL_VAR_DIR", BASE_DIR / "var"))

OPSPORTAL_ENV = os.environ.get("OPSPORTAL_ENV", "development")
if OPSPORTAL_ENV not in {"development", "staging", "production"}:
    raise ImproperlyConfigured("OPSPORTAL_ENV must be development, staging or production")

DEFAULT_SECRET_KEY = "opsportal-insecure-development-key-change-me"  # noqa: S105
SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY)
DEBUG = env_bool("DEBUG", default=OPSPORTAL_ENV == "development")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
CSRF_FAILURE_VIEW = "opsportal.api.errors.csrf_failure"  # problem+json under /api/

if OPSPORTAL_ENV == "production":
    # Refuse to start rather than run production with guessable secrets.
    if SECRET_KEY == DEFAULT_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("OPSPORTAL_ENV=production needs a SECRET_KEY of 50+ characters (not the default)")
    if DEBUG:
        raise ImproperlyConfigured("OPSPORTAL_ENV=production refuses DEBUG=true")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "django_prometheus",
    "axes",
    "auditlog",
    "opsportal.accounts",
    "opsportal.catalog",
    "opsportal.events",
    "opsportal.api",
    "opsportal.dashboard",
    "audit",
    "reliability.health",
    "reliability.breakers",
    "reliability.webhooks",
    "reliability.incidents",
    "reliability.reports",  # reports: the reliability report and its weekly snapshots
    "runbooks",
    "reliability.slos",  # slos (#12)
    "chaos",  # chaos drills (issue 14)
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "opsportal.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "audit.middleware.RequestContextMiddleware",
    "opsportal.observability.AccessLogMiddleware",
    "opsportal.api.middleware.ApiInputGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "audit.middleware.RequestActorMiddleware",
    # health-degrade: slow-query context, then shedding/rate limits before an Idempotency-Key is claimed.
    "reliability.health.slowqueries.middleware.SlowQueryMiddleware",
    "reliability.health.shedding.middleware.LoadSheddingMiddleware",
    "opsportal.api.idempotency.IdempotencyMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "opsportal.urls"
WSGI_APPLICATION = "opsportal.wsgi.application"
ASGI_APPLICATION = "opsportal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "opsportal.sqlite3",
            "OPTIONS": {
                # One process, many threads (uvicorn, worker, beat): WAL plus
                # IMMEDIATE transactions keep writers queueing instead of failing.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # django-prometheus' engine (query metrics) with a cheaper pool check (opsportal/backends)
    DATABASES["default"]["ENGINE"] = "opsportal.backends.postgresql"
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
# Database connections. Under gunicorn gthread each thread keeps one persistent connection
# (CONN_MAX_AGE=60: workers x threads per host). Under ASGI, Django runs each request's sync
# code in a thread of its own, so a persistent connection is never reused and one uvicorn
# process opened 65-100 of them; there the portal uses Django's connection pool instead:
# at most DATABASE_POOL_MAX_SIZE connections per process, a request waits up to
# DATABASE_POOL_TIMEOUT seconds for one. docs/operations.md "Database connections" has the
# sizing formula; docs/decisions.md "Database connections under ASGI" why.
# ASGI is known here because the server imports opsportal/asgi.py, which loads these
# settings (uvicorn, daphne, gunicorn's uvicorn worker), or runs `manage.py serve`.
SERVED_BY_ASGI = "opsportal.asgi" in sys.modules or sys.argv[1:2] == ["serve"]
DATABASE_POOL = os.environ.get("DATABASE_POOL", "auto").strip().lower()  # auto (under ASGI) | on | off
if DATABASE_POOL not in {"auto", "on", "off"}:
    raise ImproperlyConfigured(f"DATABASE_POOL must be auto, on or off, not {DATABASE_POOL!r}")
DATABASE_POOL_MIN_SIZE = int(os.environ.get("DATABASE_POOL_MIN_SIZE", "2"))
DATABASE_POOL_MAX_SIZE = int(os.environ.get("DATABASE_POOL_MAX_SIZE", "10"))
DATABASE_POOL_TIMEOUT = float(os.environ.get("DATABASE_POOL_TIMEOUT", "10"))
# The pool pings a connection before handing it out when it has been idle in the pool for
# DATABASE_POOL_CHECK_IDLE_SECONDS or longer (opsportal/backends/postgresql): a ping for every
# request would be one more round trip each, which webhook ingestion avoids on purpose.
DATABASE_POOL_CHECK = env_bool("DATABASE_POOL_CHECK", True)
DATABASE_POOL_CHECK_IDLE_SECONDS = float(os.environ.get("DATABASE_POOL_CHECK_IDLE_SECONDS", "1"))
if DATABASE_POOL_CHECK_IDLE_SECONDS < 0:
    raise ImproperlyConfigured("DATABASE_POOL_CHECK_IDLE_SECONDS must be >= 0 (0 pings every checkout)")
if not 0 <= DATABASE_POOL_MIN_SIZE <= DATABASE_POOL_MAX_SIZE or DATABASE_POOL_MAX_SIZE < 1 or DATABASE_POOL_TIMEOUT <= 0:
    raise ImproperlyConfigured("need 0 <= DATABASE_POOL_MIN_SIZE <= DATABASE_POOL_MAX_SIZE, a max >= 1 and a timeout > 0")
DATABASE_POOLED = DATABASES["default"]["ENGINE"].endswith("postgresql") and (
    DATABASE_POOL == "on" or (DATABASE_POOL == "auto" and SERVED_BY_ASGI)
)
if DATABASE_POOLED:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django: a pool replaces persistent connections
    # Django's CONN_HEALTH_CHECKS would ping every checkout; the engine pings idle ones only.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": DATABASE_POOL_MIN_SIZE,
        "max_size": DATABASE_POOL_MAX_SIZE,
        "timeout": DATABASE_POOL_TIMEOUT,
    }
    if DATABASE_POOL_CHECK:
        from opsportal.backends.postgresql.base import stamp_returned

        DATABASES["default"]["OPTIONS"]["pool"]["reset"] = stamp_returned
# The webhook ingest statement runs as a protocol-level prepared statement (Django
# leaves them off for everything else). Behind PgBouncer < 1.21, or >= 1.21 without
# max_prepared_statements, switch this off.
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, broker, channel layer --------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
# Redis down must not hold a request: short connect/read timeouts, no retry storms. What an
# operator action sends to Redis after its commit (live events, task nudges) is only a
# prompt; the outbox sweep and the delivery sweep send it later (docs/security.md).
REDIS_CONNECT_TIMEOUT = float(os.environ.get("REDIS_CONNECT_TIMEOUT", "0.5"))
REDIS_SOCKET_TIMEOUT = float(os.environ.get("REDIS_SOCKET_TIMEOUT", "0.5"))
if REDIS_URL:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": REDIS_CONNECT_TIMEOUT, "socket_timeout": REDIS_SOCKET_TIMEOUT,
                        "retry": Retry(NoBackoff(), 0)},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            # Sends bounded by send_timeout; reads keep redis-py's default socket timeout,
            # which must exceed channels_redis' 5 s blocking receive.
            "BACKEND": "opsportal.redis_layer.BoundedRedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_connect_timeout": REDIS_CONNECT_TIMEOUT}],
                       "capacity": 1500, "expiry": 30, "send_timeout": 0.5},
        }
    }
    CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "opsportal.events.layers.ThreadSafeInMemoryChannelLayer"}}
    CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "memory://")

# --- Celery ---------------------------------------------------------------------
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing (task nudges after a commit) gives up fast when the broker is down or wedged:
# 1 s to connect or answer, one quick retry. Workers keep reconnecting (broker_connection_retry
# stays on: it governs the consumer's lost connection, not a request's publish).
CELERY_BROKER_CONNECTION_TIMEOUT = 1.0
CELERY_BROKER_CONNECTION_MAX_RETRIES = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
                                   "socket_timeout": 1.0, "retry_on_timeout": False,
                                   # health-outage: no reconnect loop inside a publish (kombu sleeps 2 s between
                                   # tries): a refused broker fails a nudge in ms, a wedged one within socket_timeout
                                   "max_retries": 0}
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Declared in code; DatabaseScheduler copies these into its tables at start.
CELERY_BEAT_SCHEDULE = {
    "events-outbox-sweep": {"task": "events.sweep_outbox", "schedule": 2.0},
    "api-idempotency-cleanup": {"task": "api.purge_idempotency_keys", "schedule": 3600.0},
    "webhooks-sweep-deliveries": {"task": "webhooks.sweep_deliveries", "schedule": 1.0},
    "webhooks-purge-payloads": {"task": "webhooks.purge_delivered_payloads", "schedule": 3600.0},
    # audit_verify --anchor, on a schedule: verify against the last head, record the new one.
    "audit-anchor-chain": {"task": "audit.anchor_chain", "schedule": 3600.0},
    "incidents-sweep-silences": {"task": "incidents.sweep_silences", "schedule": 5.0},
    "incidents-sweep-escalations": {"task": "incidents.sweep_escalations", "schedule": 5.0},  # ≤ 30 s late
    "incidents-sweep-notifications": {"task": "incidents.sweep_notifications", "schedule": 15.0},
    "incidents-sweep-maintenance": {"task": "incidents.sweep_maintenance", "schedule": 10.0},
    # health (health-core): probes, the workers' dead-man switch, retention of probe results
    "health-run-probes": {"task": "health.run_probes",
                          "schedule": float(os.environ.get("HEALTH_PROBE_INTERVAL_SECONDS", "60"))},
    "health-sweep-workers": {"task": "health.sweep_workers", "schedule": 15.0},
    "health-purge-events": {"task": "health.purge_events", "schedule": 3600.0},
    # reports: Mondays 00:30 UTC, the reliability report of the ISO week that just ended
    "reports-weekly-snapshot": {"task": "reports.store_weekly_snapshot",
                                "schedule": crontab(minute=30, hour=0, day_of_week="mon")},
    # dlq-heal: the self-healing DLQ processor (auto replay on recovery, discard_after) and resolved-item retention.
    "webhooks-dlq-process": {"task": "webhooks.dlq_process", "schedule": 300.0},
    "webhooks-dlq-purge-resolved": {"task": "webhooks.dlq_purge_resolved", "schedule": 86_400.0},
    # slos (#12): internal and Prometheus SLIs into buckets, then the burn-rate evaluation
    "slos-compute-internal": {"task": "slos.compute_internal", "schedule": 60.0},
    "slos-pull-prometheus": {"task": "slos.pull_prometheus", "schedule": 60.0},
    "slos-evaluate": {"task": "slos.evaluate", "schedule": 60.0},
    # chaos: expired faults removed, stale runs (dead runner) aborted, guards re-checked
    "chaos-sweep": {"task": "chaos.sweep", "schedule": 2.0},
}
# Non-critical task types are rate limited per worker (Celery task_annotations; docs/health.md):
# housekeeping must never crowd out deliveries, escalations and intake on a busy worker.
CELERY_TASK_ANNOTATIONS = {
    "webhooks.purge_delivered_payloads": {"rate_limit": "6/m"},
    "api.purge_idempotency_keys": {"rate_limit": "6/m"},
    "audit.anchor_chain": {"rate_limit": "6/m"},
    "health.purge_events": {"rate_limit": "6/m"},
    # health-degrade: the degradation level from probes and breakers; slow-query retention.
    "health-evaluate-degradation": {"task": "health.evaluate_degradation",
                                    "schedule": float(os.environ.get("DEGRADATION_EVALUATE_SECONDS", "10"))},
    "health-purge-slow-queries": {"task": "health.purge_slow_queries", "schedule": 3600.0},
}
# health-outage: the weekly restore drill (sandbox_restore, recorded as health.restore_drill). Off by
# default: it needs pg_dump/pg_restore on the worker and room for a second copy of the database.
RESTORE_DRILL_ENABLED = env_bool("RESTORE_DRILL_ENABLED", default=False)
RESTORE_DRILL_GRACE_SECONDS = float(os.environ.get("RESTORE_DRILL_GRACE_SECONDS", "900"))
CELERY_IMPORTS = ("reliability.health.restore.tasks",)  # autodiscovery finds only <app>.tasks
if RESTORE_DRILL_ENABLED:
    CELERY_BEAT_SCHEDULE["health-restore-drill"] = {
        "task": "health.restore_drill", "schedule": crontab(minute=30, hour=3, day_of_week="sun"),
    }
# Where audit.anchor_chain appends head hashes (one JSON line per run). Point it at storage the
# database's users cannot write (another volume, a log shipper's input) in production.
AUDIT_ANCHOR_FILE = os.environ.get("AUDIT_ANCHOR_FILE", str(VAR_DIR / "audit-anchors.jsonl"))
# Webhook delivery: payloads of delivered events are emptied after this many days.
WEBHOOK_RETENTION_DAYS = int(os.environ.get("WEBHOOK_RETENTION_DAYS", "7"))
# Unsigned-id schemes (GitHub, HMAC with an event-id header): the same body within this window is a duplicate.
WEBHOOK_BODY_DEDUPE_SECONDS = int(os.environ.get("WEBHOOK_BODY_DEDUPE_SECONDS", "86400"))
WEBHOOK_SINK_ENABLED = env_bool("WEBHOOK_SINK_ENABLED", default=False)  # /ops/_sink/ outside development

# --- Auth -------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/admin/login/"
LOGIN_REDIRECT_URL = "/ops/"
# Lockout per (username, client IP) plus a higher per-IP limit (opsportal/lockout.py); the
# client IP is the audit trail's, proxy headers believed only from TRUSTED_PROXY_CIDRS.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_IP_FAILURE_LIMIT = int(os.environ.get("AXES_IP_FAILURE_LIMIT", "20"))
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "audit.middleware.client_ip"
AXES_HANDLER = "opsportal.lockout.LockoutHandler"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# --- Internationalisation, static ---------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

# --- REST framework / OpenAPI ---------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "opsportal.accounts.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["opsportal.api.permissions.ScopedPermission"],
    "DEFAULT_PAGINATION_CLASS": "opsportal.api.pagination.IdCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["opsportal.api.filters.ListFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer", "rest_framework.renderers.BrowsableAPIRenderer"],
    "DEFAULT_PARSER_CLASSES": ["opsportal.api.parsers.JSONParser"],  # nesting bombs are 400, not 500
    "EXCEPTION_HANDLER": "opsportal.api.errors.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "opsportal API",
    "DESCRIPTION": "Reliability control plane: webhooks, breakers, incidents, SLOs, audit.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Offline: no call to validator.swagger.io from the docs page.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several apps have a "status"/"severity" choice set: name the incidents' ones explicitly.
    "ENUM_NAME_OVERRIDES": {
        "IncidentSeverityEnum": "reliability.incidents.models.incidents.Severity",
        "IncidentStatusEnum": "reliability.incidents.models.incidents.Incident.Status",
        "ChaosDrillStateEnum": "chaos.models.ChaosDrill.State",  # chaos (issue 14)
        "ChaosRunStateEnum": "chaos.models.ChaosRun.State",
    },
}

# --- Security (production) ----------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
# Messages live in the server-side session, not in a cookie (signed, but readable by anyone
# holding it): an admin message may name a secret (#8 item 9).
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
# Live-dashboard sockets: re-check the user's roles and session this often, close after at most
# this long (the browser reconnects; docs/security.md "Roles, scopes and tokens").
OPS_SOCKET_RECHECK_SECONDS = float(os.environ.get("OPS_SOCKET_RECHECK_SECONDS", "60"))
OPS_SOCKET_MAX_AGE_SECONDS = float(os.environ.get("OPS_SOCKET_MAX_AGE_SECONDS", "3600"))
CSRF_COOKIE_HTTPONLY = False  # the dashboard's JS posts with the CSRF token
X_FRAME_OPTIONS = "DENY"
# Every HTML page (opsportal/csp.py): only the portal's own scripts and styles, nothing inline.
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
SECURE_CONTENT_TYPE_NOSNIFF = True
if OPSPORTAL_ENV in {"staging", "production"}:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Health probes and metrics come over plain HTTP from inside the cluster.
    SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]

# --- Email ----------------------------------------------------------------------------
EMAIL_URL = os.environ.get("EMAIL_URL", "")
if EMAIL_URL:
    from urllib.parse import unquote, urlparse

    _email = urlparse(EMAIL_URL)
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _email.hostname or "localhost"
    EMAIL_PORT = _email.port or 25
    EMAIL_HOST_USER = unquote(_email.username or "")
    EMAIL_HOST_PASSWORD = unquote(_email.password or "")
    EMAIL_USE_TLS = _email.scheme in {"smtp+tls", "submission"}
    EMAIL_USE_SSL = _email.scheme == "smtps"
else:
    EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "opsportal@localhost")

# --- Outbound address policy (reliability/netpolicy.py, docs/security.md) ----------------
# Loopback/private/CGNAT destinations are allowed only in development (``make run``'s demo
# receiver on 127.0.0.1); staging and production refuse them unless allow-listed below.
OPSPORTAL_OUTBOUND_ALLOW_PRIVATE = env_bool("OPSPORTAL_OUTBOUND_ALLOW_PRIVATE", default=OPSPORTAL_ENV == "development")
OPSPORTAL_OUTBOUND_ALLOWED_CIDRS = env_list("OPSPORTAL_OUTBOUND_ALLOWED_CIDRS")
try:
    [ipaddress.ip_network(_cidr, strict=False) for _cidr in OPSPORTAL_OUTBOUND_ALLOWED_CIDRS]
    # Peers whose X-Real-IP / X-Forwarded-For is believed (audit trail, lockouts): the proxy.
    TRUSTED_PROXY_CIDRS = env_list("TRUSTED_PROXY_CIDRS", "127.0.0.0/8,::1/128")
    [ipaddress.ip_network(_cidr, strict=False) for _cidr in TRUSTED_PROXY_CIDRS]
except ValueError as _exc:
    raise ImproperlyConfigured(f"OPSPORTAL_OUTBOUND_ALLOWED_CIDRS / TRUSTED_PROXY_CIDRS: {_exc}") from None

# --- Portal-specific --------------------------------------------------------------------
OPSPORTAL_CHAOS_ENABLED = env_bool("OPSPORTAL_CHAOS_ENABLED", default=OPSPORTAL_ENV != "production")
ALERTMANAGER_URL = os.environ.get("ALERTMANAGER_URL", "")
# A resolved incident whose group fires again within this many seconds reopens; later, a new linked incident.
INCIDENT_REOPEN_WINDOW_SECONDS = int(os.environ.get("INCIDENT_REOPEN_WINDOW_SECONDS", "300"))
INCIDENT_SILENCE_RETRY_SECONDS = 30  # a pending silence (Alertmanager away) is retried this often
INCIDENT_SILENCE_MAX_ATTEMPTS = 120  # then it is marked failed (an hour at the default)
# Absolute links in pages (ack/resolve). Retry policy of each page's HTTP call before it falls back.
# Empty: runbook links stay relative (the API makes them absolute from the request); pages and
# silence comments fall back to http://localhost:8000.
OPSPORTAL_BASE_URL = os.environ.get("OPSPORTAL_BASE_URL", "")
INCIDENT_NOTIFY_RETRY_POLICY = os.environ.get("INCIDENT_NOTIFY_RETRY_POLICY", "notify")
ALERT_INTAKE_MAX_BYTES = 4 * 1024 * 1024  # Alertmanager batches; larger bodies are answered 413
PROMETHEUS_URL = os.environ.get("PROMETHEUS_URL", "")
SLOW_QUERY_MS = int(os.environ.get("SLOW_QUERY_MS", "500"))
# /health/ready's deadline for all its checks together (answers within 1 s; docs/health.md).
HEALTH_CHECK_TIMEOUT_SECONDS = float(os.environ.get("HEALTH_CHECK_TIMEOUT_SECONDS", "0.8"))
IDEMPOTENCY_KEY_TTL_HOURS = 24
TOKEN_CACHE_SECONDS = float(os.environ.get("TOKEN_CACHE_SECONDS", "5"))  # revocation reaches every process within this
IDEMPOTENCY_CLAIM_LEASE_SECONDS = 300  # an unfinished claim (crashed request) is reclaimable after this
OUTBOX_SWEEP_AFTER_SECONDS = 2  # the sweep leaves fresh events to the on-commit relay
OUTBOX_BROADCAST_MAX_AGE_SECONDS = 300  # health-outage: older live pushes are dropped after a channel-layer outage
DLQ_ALERT_THRESHOLD = int(os.environ.get("DLQ_ALERT_THRESHOLD", "100"))  # open DLQ items above this emit dlq.threshold_exceeded
# django-auditlog's LogEntry.cid is our request id: links a field diff to its AuditEntry.
AUDITLOG_CID_GETTER = "audit.context.current_request_id"

# --- Health (health-core; docs/health.md) ----------------------------------------------
HEALTH_QUEUE_DEPTH_THRESHOLD = int(os.environ.get("HEALTH_QUEUE_DEPTH_THRESHOLD", "1000"))
HEALTH_DISK_PATH = os.environ.get("HEALTH_DISK_PATH", str(VAR_DIR))
# "name=url" pairs (or bare URLs), probed with GET through reliability/http.py.
HEALTH_EXTERNAL_URLS = env_list("HEALTH_EXTERNAL_URLS")
# check -> (warn, fail) on the probe's value; a value at or above a bound takes its status.
# Units: latency ms; depth/backlog counts; cpu/memory/disk percent; workers: stale count.
HEALTH_THRESHOLDS = {
    "database": (100.0, 1000.0),
    "redis": (100.0, 1000.0),
    "broker": (100.0, 1000.0),
    "external": (1000.0, 5000.0),
    "queue_depth": (HEALTH_QUEUE_DEPTH_THRESHOLD / 2, HEALTH_QUEUE_DEPTH_THRESHOLD),
    "dlq_backlog": (max(1, DLQ_ALERT_THRESHOLD // 2), DLQ_ALERT_THRESHOLD + 1),
    "outbox_backlog": (1.0, 100.0),
    "cpu": (85.0, 98.0),
    "memory": (85.0, 95.0),
    "disk": (85.0, 95.0),
}
SLOW_JOB_SECONDS = float(os.environ.get("SLOW_JOB_SECONDS", "30"))  # Celery tasks slower than this become SlowJob rows

# --- Observability ----------------------------------------------------------------------
OTEL_ENABLED = env_bool("OTEL_ENABLED")
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
ACCESS_LOG = env_bool("ACCESS_LOG", default=OPSPORTAL_ENV == "development")  # one JSON line per request
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json" if OPSPORTAL_ENV != "development" else "console")
PROMETHEUS_EXPORT_MIGRATIONS = False

from opsportal.observability import logging_config  # noqa: E402

LOGGING = logging_config(level=LOG_LEVEL, fmt=LOG_FORMAT)
TESTING = "pytest" in sys.modules

# Capability tunables (chaos, degradation and shedding, health, notifications, the DLQ's pacing)
# live in their own module to keep this file readable; they are plain settings all the same.
from opsportal.settings_capabilities import *  # noqa: E402,F403
