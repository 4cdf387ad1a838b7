# Everyday commands. Every target installs what it needs first, so a fresh clone works.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_FOR_UV ?= python3
UV_VERSION := 0.13.9
UV := $(PYTHON_FOR_UV) -m uv
VENV := .venv
PY := $(VENV)/bin/python
STACK := deploy/local/stack.sh

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(VENV)/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON_FOR_UV) -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen --python $(PYTHON_FOR_UV)
	@touch $@

.PHONY: venv
venv: $(VENV)/.synced ## Create the virtual environment with the locked dependencies

.PHONY: up
up: venv ## Start PostgreSQL and Kafka (installs them when missing); idempotent
	@bash $(STACK) up
	@$(PY) -m shared.kafka_admin ensure-topics

.PHONY: down
down: ## Stop what `make up` started
	@bash $(STACK) down

.PHONY: status
status: ## Is the local stack running?
	@bash $(STACK) status

.PHONY: migrate
migrate: up ## Apply the database migrations of both services
	$(PY) -m pricing migrate
	$(PY) -m ledger migrate
	$(PY) -m payments migrate

.PHONY: lint
lint: venv ## ruff (lint and format), mypy --strict, import-linter
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

.PHONY: format
format: venv ## Fix what ruff can fix
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: unit
unit: venv ## Unit tests only (no I/O)
	$(PY) -m pytest tests/unit -q

.PHONY: monitoring-check
monitoring-check: ## promtool: the scrape config and alert rules parse, and the rules' unit tests fire
	@promtool=$$(bash $(STACK) promtool) && \
	  "$$promtool" check config deploy/monitoring/prometheus.yml && \
	  "$$promtool" check rules deploy/monitoring/*.rules.yml && \
	  "$$promtool" test rules deploy/monitoring/tests/*.test.yml

.PHONY: test
test: venv up migrate lint monitoring-check ## Everything CI runs: stack, migrations, lint, types, import rules, alert rules, all tests
	$(PY) -m pytest tests

.PHONY: serve-pricing
serve-pricing: migrate ## The pricing service alone on 127.0.0.1:8001 (PRICING_PORT)
	$(PY) -m pricing serve

.PHONY: serve-ledger
serve-ledger: migrate ## The ledger HTTP API alone on 127.0.0.1:8002 (LEDGER_PORT)
	$(PY) -m ledger serve

.PHONY: serve-payments
serve-payments: migrate ## Stripe webhooks of the payment worker on 127.0.0.1:8003 (PAYMENTS_PORT)
	$(PY) -m payments serve

.PHONY: run
run: migrate ## The whole system in the foreground; Ctrl-C stops it all
	$(VENV)/bin/honcho -f deploy/local/Procfile start

.PHONY: bench-pricing
bench-pricing: migrate ## Pricing benchmark: evaluations/s in-process and over HTTP
	$(PY) bench/pricing.py

.PHONY: bench-ingest
bench-ingest: migrate ## Ledger ingest: events/s beside raw limits, latency, 1 vs 2 consumers (BENCH_INGEST_ARGS)
	$(PY) bench/ingest.py $(BENCH_INGEST_ARGS)

.PHONY: bench-history
bench-history: up ## Ledger history benchmark: one partner at 1,000/50,000/200,000 mailings
	$(PY) bench/history.py $(BENCH_HISTORY_ARGS)

.PHONY: bench-replay
bench-replay: migrate ## Replay and audit-verify benchmark: events/s of `ops replay` and `ops audit verify`
	$(PY) bench/replay.py

.PHONY: measured
measured: venv ## Write README's "Measured" tables from the latest bench/results/*.json
	$(PY) bench/measured.py

SEED ?= 1
.PHONY: soak
soak: migrate ## Fault soak: seeded traffic while processes, Kafka and PostgreSQL crash (SEED=n)
	$(PY) -m tests.soak.soak --seed $(SEED)

.PHONY: demo
demo: venv ## With `make run` going: simulate a mailing platform and watch balances live
	$(PY) -m devtools.demo
