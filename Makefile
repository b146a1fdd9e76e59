# fineweb: `make run` starts everything on this machine; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PORT ?= 8000
PG_URL ?= postgres://fineweb:fineweb@127.0.0.1:5432/fineweb
REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test test-fast bench soak lint install install-test services

$(VENV)/.installed: requirements.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -r requirements.txt
	$(PIP) install -q --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(PIP) install -q --disable-pip-version-check -r requirements-test.txt
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py bootstrap_demo
	PORT=$(PORT) $(PY) manage.py runall

services:
	bash scripts/services.sh

# The suite runs on the real parts: PostgreSQL, Redis and real Celery worker processes.
# tests/embedded also runs the embedded default (SQLite + filesystem broker) end to end.
TEST_ENV := FINEWEB_DATA_DIR=$(CURDIR)/.data/test FINEWEB_MODEL_CACHE_DIR=$(CURDIR)/.data/models

test: install-test services
	$(TEST_ENV) DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) $(PY) -m pytest $(PYTEST_ARGS)

bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null) || true
	$(PIP) install -q --disable-pip-version-check -r benchmarks/requirements.txt
	$(PY) benchmarks/run_all.py

# Ten minutes of the real `make run` under an upload load: restarts and lost tasks (both should be 0).
soak: install
	$(PY) benchmarks/soak_make_run.py

# ruff, mypy (django-stubs, settings in pyproject.toml) and the direction of imports between apps.
lint: install-test
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(PY) scripts/check_imports.py
