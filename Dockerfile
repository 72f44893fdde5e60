# One image for every opsportal process (web, ws, worker, beat, migrate); the command differs.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=opsportal.settings \
    OPSPORTAL_VAR_DIR=/var/lib/opsportal \
    FORWARDED_ALLOW_IPS=127.0.0.1,::1

RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin opsportal

WORKDIR /app
# Dependencies first, so code changes reuse this layer.
COPY pyproject.toml ./
RUN mkdir -p opsportal reliability audit chaos runbooks \
    && pip install . \
    && pip uninstall -y opsportal
COPY . .
RUN pip install --no-deps . \
    && mkdir -p "$OPSPORTAL_VAR_DIR" \
    && env -u DATABASE_URL -u REDIS_URL python manage.py collectstatic --noinput \
    && chown -R opsportal "$OPSPORTAL_VAR_DIR"

USER opsportal
EXPOSE 8000 8001
# Default: the HTTP tier. docker-compose.yml sets the command of each other process.
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "opsportal.wsgi:application"]
