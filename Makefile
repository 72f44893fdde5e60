# opsportal — the commands (DESIGN §5). `make run` and `make test` work from a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help run test lint bench chaos venv

help:
	@echo "make run              one process on SQLite: http://$(HOST):$(PORT)/ (demo logins printed)"
	@echo "make test             full test suite against real PostgreSQL and Redis"
	@echo "make lint             ruff"
	@echo "make bench            benchmarks under bench/ (results appended to bench/RESULTS.md)"
	@echo "make chaos SCENARIO=… run a chaos scenario against the embedded portal, print the verdict"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Re-install only when pyproject.toml changes (sentinel files inside the venv).
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

venv: $(VENV)/.installed

run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	OPSPORTAL_HOST=$(HOST) OPSPORTAL_PORT=$(PORT) $(PY) manage.py seed_demo
	@echo ""
	@echo "opsportal will serve on http://$(HOST):$(PORT)/  (admin: /admin/, live dashboard: /ops/)"
	@echo "Log in with one of the demo users printed above. Ctrl-C stops it."
	@echo ""
	$(PY) manage.py serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-dev
	VENV=$(VENV) bash scripts/test-env.sh

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .

bench: $(VENV)/.installed-dev
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; } \
		|| echo "make bench: wrk is missing and could not be installed (Debian package wrk)" >&2
	$(PY) bench/run_all.py

# make chaos SCENARIO=burst-load [PARAMS="rate_per_second=5 max_requests=20"] [TARGETS=webhook-source:demo]
# [DURATION=5]: the drill against the embedded portal (its database, an in-process worker and beat);
# the last line is the verdict, exit 0 only when it passed (docs/chaos.md).
# The demo data keeps P0/P1 incidents open on purpose; CHAOS_FLAGS= (empty) restores that stop condition.
CHAOS_FLAGS ?= --no-incident-stop
chaos: $(VENV)/.installed
	@test -n "$(SCENARIO)" || { echo "usage: make chaos SCENARIO=<slug> [PARAMS='k=v …'] [TARGETS=…] (docs/chaos.md)" >&2; exit 2; }
	@$(PY) manage.py migrate --noinput >/dev/null
	@$(PY) manage.py seed_demo >/dev/null
	$(PY) manage.py chaos_run $(SCENARIO) $(PARAMS) $(foreach t,$(TARGETS),--target $(t)) --duration $(or $(DURATION),5) --embedded $(CHAOS_FLAGS)
