"""gunicorn settings for the HTTP tier: `gunicorn -c deploy/gunicorn.conf.py opsportal.wsgi:application`.

gthread workers (DESIGN §2: ≈1,600 req/s with 2 workers × 8 threads on a 2-core box).
When PROMETHEUS_MULTIPROC_DIR is set (it must be set in the environment *before* gunicorn
starts, so every worker inherits it), prometheus_client writes each worker's metrics to
files there and django-prometheus' /metrics view aggregates all of them, whichever worker
answers the scrape.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then (slow leaks); jitter keeps them from restarting together.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = 500
# X-Forwarded-Proto (and the other secure_scheme_headers) are believed only from the reverse
# proxy: loopback by default; docker-compose.yml names the proxy's address. Never "*".
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Django logs each request as structured JSON; gunicorn's access log would duplicate it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def on_starting(server):
    """Master, before forking: files left from a previous run would be summed in."""
    if _MULTIPROC_DIR:
        os.makedirs(_MULTIPROC_DIR, exist_ok=True)
        for name in os.listdir(_MULTIPROC_DIR):
            if name.endswith(".db"):
                os.remove(os.path.join(_MULTIPROC_DIR, name))


def child_exit(server, worker):
    """A worker exited (recycled or crashed): drop its live gauges from the aggregate."""
    if _MULTIPROC_DIR:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker):
    """A worker leaves normally (recycled, reload, shutdown): flush breaker outcomes and transitions."""
    from reliability.breakers.runtime import flush_at_exit

    flush_at_exit()
