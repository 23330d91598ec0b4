# Keywarden: two commands for a fresh machine.
#   make demo   zero-setup demo at http://127.0.0.1:8000 (SQLite, embedded broker, emulator)
#   make test   the whole test suite (PostgreSQL + Redis; URLs below can be overridden)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

DEMO_ENV := DEBUG=true KEYWARDEN_LOCAL_LOGIN=true KEYWARDEN_DATA_DIR=$(CURDIR)/var/demo \
	RELEASE_POLICY_AUTHORITIES=$(or $(RELEASE_POLICY_AUTHORITIES),https://attest.emulator.test)

TEST_DATABASE_URL ?= $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/keywarden)
TEST_BROKER_URL ?= $(or $(CELERY_BROKER_URL),redis://127.0.0.1:6379/1)
# Each run gets a queue of its own: two runs on one machine never take each other's tasks.
TEST_RUN := $(shell date +%s%N)
TEST_ENV := DEBUG=false SECRET_KEY=test-only-secret-key-not-for-production-0123456789abcdef \
	KEYWARDEN_LOCAL_LOGIN=true KEYWARDEN_DATA_DIR=$(CURDIR)/var/test \
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
	CELERY_QUEUE=keywarden-test-$(TEST_RUN) SECURE_COOKIES=false HSM_CREDENTIAL=emulator \
	EMAIL_BACKEND=django.core.mail.backends.locmem.EmailBackend \
	EXECUTION_LEASE_SECONDS=8 REDISPATCH_AFTER_SECONDS=2 HSM_TIMEOUT_SECONDS=5 HSM_SETTLE_MARGIN_SECONDS=3 \
	DJANGO_ALLOW_ASYNC_UNSAFE=true POSTURE_AFTER_SYNC=false \
	RELEASE_POLICY_AUTHORITIES=https://attest.example.com,https://attest.emulator.test

.PHONY: demo test install lint format clean import-graph

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	mkdir -p var/demo
	$(DEMO_ENV) $(BIN)/python manage.py reset_stale_demo
	$(DEMO_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEMO_ENV) $(BIN)/python manage.py seed_demo
	$(DEMO_ENV) $(BIN)/python manage.py collectstatic --noinput -v 0
	$(DEMO_ENV) $(BIN)/python manage.py rundemo

test: $(STAMP)
	mkdir -p var/test
	test -d tests/support/oidc/node_modules || npm ci --prefix tests/support/oidc --no-audit --no-fund
	$(TEST_ENV) $(BIN)/python manage.py collectstatic --noinput -v 0
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

import-graph: $(STAMP)  # the imports between our packages; `lint-imports` checks the contracts
	$(BIN)/python tools/import_graph.py

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf var/demo var/test
