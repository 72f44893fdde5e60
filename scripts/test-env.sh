#!/usr/bin/env bash
# Find or start PostgreSQL and Redis for the test suite, then run pytest (DESIGN §5).
#
#   DATABASE_URL / REDIS_URL set      -> used as they are (must answer)
#   else 127.0.0.1:5432 / :6379 answer -> the local services
#   else                               -> disposable instances from installed binaries on free
#                                         ports (apt-get installs them when missing and root),
#                                         torn down on exit
#   else                               -> a clear error
#
# Arguments are passed to pytest (default: tests). OPSPORTAL_TEST_SERVICES=disposable skips the
# probing of local services and always starts disposable ones (used to test this script).
# pytest's exit code 5 ("no tests collected") is turned into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "test-env: $PY not found; run 'make test' (it creates the venv)" >&2; exit 1; }

WORK=""
PG_STARTED=""
REDIS_STARTED=""
AS_PG=()
APT_UPDATED=""

log() { echo "test-env: $*" >&2; }
die() { echo "test-env: ERROR: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

cleanup() {
    if [ -n "$PG_STARTED" ]; then
        "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ -n "$REDIS_STARTED" ] && [ -f "$WORK/redis.pid" ]; then
        kill "$(cat "$WORK/redis.pid")" 2>/dev/null || true
    fi
    if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

workdir() {
    if [ -z "$WORK" ]; then
        WORK="$(mktemp -d /tmp/opsportal-test.XXXXXX)"
        chmod 755 "$WORK"
    fi
}

apt_install() {
    is_root || return 1
    command -v apt-get >/dev/null 2>&1 || return 1
    if [ -z "$APT_UPDATED" ]; then
        log "apt-get update"
        apt-get update -qq >/dev/null
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pg_answers() {  # $1: a libpq URL
    "$PY" - "$1" <<'PYEOF' >/dev/null 2>&1
import sys

import psycopg

psycopg.connect(sys.argv[1], connect_timeout=2).close()
PYEOF
}

redis_answers() {  # $1: a redis URL
    "$PY" - "$1" <<'PYEOF' >/dev/null 2>&1
import sys

import redis

redis.Redis.from_url(sys.argv[1], socket_connect_timeout=2, socket_timeout=2).ping()
PYEOF
}

with_db() {  # the server part of a postgres URL with another database name
    "$PY" -c 'import sys; from urllib.parse import urlsplit, urlunsplit; u = urlsplit(sys.argv[1]); print(urlunsplit(u._replace(path="/" + sys.argv[2])))' "$1" "$2"
}

find_pg_bin() {
    PG_BIN=""
    local d
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then PG_BIN="$d"; fi  # the highest version wins
    done
    if [ -z "$PG_BIN" ] && command -v initdb >/dev/null 2>&1; then
        PG_BIN="$(dirname "$(readlink -f "$(command -v initdb)")")"
    fi
    [ -n "$PG_BIN" ]
}

start_postgres() {
    if ! find_pg_bin; then
        apt_install postgresql || die "PostgreSQL is not answering on 127.0.0.1:5432, its binaries are not installed, \
and they cannot be installed here (needs root and apt-get). Set DATABASE_URL to a PostgreSQL server."
        find_pg_bin || die "postgresql was installed but initdb was not found"
    fi
    workdir
    if is_root; then
        # initdb refuses to run as root: the cluster belongs to the postgres user.
        id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user to own a disposable cluster"
        AS_PG=(runuser -u postgres --)
        mkdir -p "$WORK/pg-home"
        chown postgres "$WORK" "$WORK/pg-home"
    fi
    local port
    port="$(free_port)"
    log "starting a disposable PostgreSQL ($PG_BIN) on 127.0.0.1:$port"
    "${AS_PG[@]}" "$PG_BIN/initdb" -D "$WORK/pg" -U postgres -A trust -E UTF8 --no-locale >"$WORK/initdb.log" 2>&1 \
        || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
    PG_STARTED=1
    "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w -t 60 \
        -o "-p $port -k $WORK -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null || { cat "$WORK/pg.log" >&2; die "PostgreSQL did not start"; }
    DATABASE_URL="postgres://postgres@127.0.0.1:$port/opsportal"
}

start_redis() {
    if ! command -v redis-server >/dev/null 2>&1; then
        apt_install redis-server || die "Redis is not answering on 127.0.0.1:6379, redis-server is not installed, \
and it cannot be installed here (needs root and apt-get). Set REDIS_URL to a Redis server."
    fi
    workdir
    local port i
    port="$(free_port)"
    log "starting a disposable Redis on 127.0.0.1:$port"
    REDIS_STARTED=1
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --daemonize yes \
        --pidfile "$WORK/redis.pid" --dir "$WORK" --logfile "$WORK/redis.log" >/dev/null
    REDIS_URL="redis://127.0.0.1:$port/15"
    for i in $(seq 1 50); do
        redis_answers "$REDIS_URL" && return 0
        sleep 0.1
    done
    cat "$WORK/redis.log" >&2 || true
    die "Redis did not start"
}

mode="${OPSPORTAL_TEST_SERVICES:-auto}"

# --- PostgreSQL ---------------------------------------------------------------------------
if [ -n "${DATABASE_URL:-}" ]; then
    pg_answers "$(with_db "$DATABASE_URL" postgres)" || die "DATABASE_URL is set but that PostgreSQL server does not answer"
    log "PostgreSQL: DATABASE_URL from the environment"
elif [ "$mode" != disposable ] && pg_answers "postgres://postgres@127.0.0.1:5432/postgres"; then
    DATABASE_URL="postgres://postgres@127.0.0.1:5432/opsportal"
    log "PostgreSQL: local service on 127.0.0.1:5432"
else
    start_postgres
fi

# --- Redis ----------------------------------------------------------------------------------
if [ -n "${REDIS_URL:-}" ]; then
    redis_answers "$REDIS_URL" || die "REDIS_URL is set but that Redis server does not answer"
    log "Redis: REDIS_URL from the environment"
elif [ "$mode" != disposable ] && redis_answers "redis://127.0.0.1:6379/15"; then
    REDIS_URL="redis://127.0.0.1:6379/15"
    log "Redis: local service on 127.0.0.1:6379"
else
    start_redis
fi
export DATABASE_URL REDIS_URL

# --- Chromium for the browser tests -------------------------------------------------------
if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium || log "WARNING: /usr/bin/chromium is missing and could not be installed; browser tests will fail"
fi

# --- pytest -----------------------------------------------------------------------------------
if [ "$#" -eq 0 ]; then set -- tests; fi
# Line coverage (pytest-cov, configured in pyproject.toml [tool.coverage.*]); OPSPORTAL_TEST_COVERAGE=0 skips it.
COV=()
if [ "${OPSPORTAL_TEST_COVERAGE:-1}" != 0 ]; then
    COV=(--cov --cov-report=)
fi
log "pytest ${COV[*]} $*"
set +e
"$VENV/bin/pytest" "${COV[@]}" "$@"
rc=$?
set -e
if [ "${#COV[@]}" -gt 0 ] && [ -f .coverage ]; then
    "$VENV/bin/coverage" report 2>/dev/null | tail -n 12 || true
    total="$("$VENV/bin/coverage" report --format=total 2>/dev/null || true)"
    [ -n "$total" ] && log "line coverage: ${total}% of opsportal, reliability, audit (migrations aside)"
fi
if [ "$rc" -eq 5 ]; then
    log "ERROR: pytest collected no tests; that is a failure, not a pass"
    exit 1
fi
exit "$rc"
