"""Capability tunables, imported at the end of ``opsportal/settings.py`` (``from … import *``).

Each block is documented in its capability's doc (docs/chaos.md, docs/health.md,
docs/incidents.md, docs/webhooks.md); every value can be set from the environment.
"""

from __future__ import annotations

import json
import os

from opsportal.envvars import env_bool, env_list

# --- Chaos drills (issue 14; docs/chaos.md) ---
# Fault targets a drill may name (fnmatch patterns): outbound breaker names, the portal's own seams.
CHAOS_TARGET_ALLOWLIST = env_list("CHAOS_TARGET_ALLOWLIST", "webhook-destination-*,notify:*,alertmanager,db:default,"
                                  "redis:app,webhook-source:*,worker:celery,sandbox")
CHAOS_MAX_DURATION_SECONDS = int(os.environ.get("CHAOS_MAX_DURATION_SECONDS", "1800"))
CHAOS_GUARD_INTERVAL_SECONDS = float(os.environ.get("CHAOS_GUARD_INTERVAL_SECONDS", "2"))  # stop conditions re-checked
CHAOS_FAULT_TTL_MARGIN_SECONDS = int(os.environ.get("CHAOS_FAULT_TTL_MARGIN_SECONDS", "30"))  # TTL = duration + margin
CHAOS_RUN_STALE_SECONDS = int(os.environ.get("CHAOS_RUN_STALE_SECONDS", "30"))  # runner silent this long: aborted
CHAOS_DEFAULT_STARTING_DEADLINE_SECONDS = int(os.environ.get("CHAOS_DEFAULT_STARTING_DEADLINE_SECONDS", "300"))
CHAOS_SETTLE_SECONDS = int(os.environ.get("CHAOS_SETTLE_SECONDS", "60"))  # wait for recovery before the verdict
# Blackout windows: [{"from": ISO, "to": ISO}] or [{"daily": "HH:MM-HH:MM", "weekdays": [0..6], "timezone": "UTC"}]
CHAOS_BLACKOUT_WINDOWS = json.loads(os.environ.get("CHAOS_BLACKOUT_WINDOWS", "[]"))
CHAOS_PROTECTED_SLOS = env_list("CHAOS_PROTECTED_SLOS", "")  # empty: every SLO is protected
FAULTS_REFRESH_SECONDS = float(os.environ.get("FAULTS_REFRESH_SECONDS", "0.5"))  # shared fault snapshot age

# incidents (notifications): pages of one round sent concurrently; a failed page with no fallback is
# rescheduled durably (30 s, 1 m, 2 m, … capped at 15 m, ±10 %) and marked failed after the last attempt
INCIDENT_NOTIFY_CONCURRENCY = int(os.environ.get("INCIDENT_NOTIFY_CONCURRENCY", "16"))
INCIDENT_NOTIFY_MAX_ATTEMPTS = int(os.environ.get("INCIDENT_NOTIFY_MAX_ATTEMPTS", "6"))
INCIDENT_NOTIFY_RETRY_BASE_SECONDS = 30
INCIDENT_NOTIFY_RETRY_MAX_SECONDS = 900

# --- Degradation, load shedding, slow queries (health-degrade; docs/health.md) ------------
DEGRADATION_CACHE_SECONDS = float(os.environ.get("DEGRADATION_CACHE_SECONDS", "5"))  # ≤ 5: current_level()'s local copy
DEGRADATION_OVERRIDE_MAX_HOURS = float(os.environ.get("DEGRADATION_OVERRIDE_MAX_HOURS", "72"))
SHEDDING_ENABLED = env_bool("SHEDDING_ENABLED", default=True)
SHED_RETRY_AFTER_SECONDS = int(os.environ.get("SHED_RETRY_AFTER_SECONDS", "30"))
SHED_INTAKE_MAX_CONCURRENCY = int(os.environ.get("SHED_INTAKE_MAX_CONCURRENCY", "32"))  # per process, at CRITICAL
RATE_LIMIT_ENABLED = env_bool("RATE_LIMIT_ENABLED", default=True)
RATE_LIMIT_WINDOW_SECONDS = int(os.environ.get("RATE_LIMIT_WINDOW_SECONDS", "60"))
RATE_LIMIT_TOKEN_PER_MINUTE = int(os.environ.get("RATE_LIMIT_TOKEN_PER_MINUTE", "6000"))  # at NORMAL; tighter when degraded
RATE_LIMIT_USER_PER_MINUTE = int(os.environ.get("RATE_LIMIT_USER_PER_MINUTE", "3000"))
SLOW_QUERY_MONITOR = env_bool("SLOW_QUERY_MONITOR", default=True)
SLOW_QUERY_KEEP = int(os.environ.get("SLOW_QUERY_KEEP", "1000"))  # rows kept (the slowest)
SLOW_QUERY_RETENTION_DAYS = int(os.environ.get("SLOW_QUERY_RETENTION_DAYS", "7"))

# --- Health (health-core; docs/health.md; HEALTH_DISK_PATH and HEALTH_THRESHOLDS stay in settings.py) ---
HEALTH_READY_CACHE_SECONDS = float(os.environ.get("HEALTH_READY_CACHE_SECONDS", "2"))  # /health/ready per process
HEALTH_PROBE_INTERVAL_SECONDS = float(os.environ.get("HEALTH_PROBE_INTERVAL_SECONDS", "60"))
HEALTH_PROBE_TIMEOUT_SECONDS = float(os.environ.get("HEALTH_PROBE_TIMEOUT_SECONDS", "5"))  # each probe of a cycle
HEALTH_EVENT_RETENTION_DAYS = int(os.environ.get("HEALTH_EVENT_RETENTION_DAYS", "14"))
HEALTH_HEARTBEAT_SECONDS = float(os.environ.get("HEALTH_HEARTBEAT_SECONDS", "15"))
HEALTH_HEARTBEAT_STALE_SECONDS = float(os.environ.get("HEALTH_HEARTBEAT_STALE_SECONDS", "60"))
HEALTH_QUEUES = env_list("HEALTH_QUEUES", "celery")  # Celery queues whose depth is probed
HEALTH_OUTBOX_BACKLOG_SECONDS = int(os.environ.get("HEALTH_OUTBOX_BACKLOG_SECONDS", "60"))

# --- dlq-heal: the self-healing DLQ and delivery pacing (docs/webhooks.md) ---
DLQ_RESOLVED_RETENTION_DAYS = int(os.environ.get("DLQ_RESOLVED_RETENTION_DAYS", "30"))
DLQ_RECOVERY_SUCCESS_WINDOW_SECONDS = 600  # "a recent success" for the processor's health check
WEBHOOK_PACING_BURST_SECONDS = 0.2  # token bucket capacity = max(1, rate × this)
WEBHOOK_PACING_MAX_WAIT_SECONDS = 5.0  # a send waits at most this for its slot, else it is deferred (paced)
WEBHOOK_BREAKER_DEFER_MAX_SECONDS = 99_305  # the default schedule's span: then dead-lettered as breaker_open
