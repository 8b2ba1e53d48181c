# Itinera — local development without Docker.
#
#   make up     set up and run everything: Python env, Java, Kafka, PostgreSQL,
#               topics, the five services, a mail sink and a demo booking feed
#   make down   stop it all (data stays in .state/; `make reset` wipes it)
#   make test   lint, type-check, import contracts, contract drift, all tests
#               (starts Kafka and PostgreSQL itself)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

# Ports of the local infrastructure; services and tests are pointed at them.
ITINERA_KAFKA_PORT ?= 9092
ITINERA_PG_PORT ?= 55432
ITINERA_KAFKA_BOOTSTRAP_SERVERS ?= 127.0.0.1:$(ITINERA_KAFKA_PORT)
export ITINERA_KAFKA_PORT ITINERA_PG_PORT ITINERA_KAFKA_BOOTSTRAP_SERVERS

.PHONY: up down reset test venv infra-up infra-down topics services-up services-down demo lint typecheck unit integration status bench-e2e browser-deps faults

up: venv infra-up topics services-up demo
	@echo
	@echo "Itinera is running:"
	@echo "  profile        http://127.0.0.1:8001  (API docs /docs, metrics /metrics)"
	@echo "  preferences    http://127.0.0.1:8002  (API docs /docs, metrics /metrics)"
	@echo "  feedback       http://127.0.0.1:8003  (API docs /docs, metrics /metrics)"
	@echo "  notifications  http://127.0.0.1:8004  (API docs /docs, metrics /metrics)"
	@echo "  value          http://127.0.0.1:8005  (API docs /docs, metrics /metrics)"
	@echo "  privacy        http://127.0.0.1:8006  (erasures; API docs /docs, metrics /metrics)"
	@echo "  trips          http://127.0.0.1:8007  (trips, timelines, journeys; API docs /docs, metrics /metrics)"
	@echo "  agent console  http://127.0.0.1:8000  (sign in with an API key below)"
	@echo "  Kafka          127.0.0.1:$(ITINERA_KAFKA_PORT)    PostgreSQL 127.0.0.1:$(ITINERA_PG_PORT) (database itinera)"
	@echo "  mail sink      SMTP 127.0.0.1:1025, messages in .state/mail/new/"
	@echo "  first steps    README.md, 'Five minutes with the demo'"
	@echo "  API keys (development): dev-agent-key, dev-supervisor-key, dev-ops-key, dev-booking-system-key, dev-admin-key"
	@echo "  try: curl -H 'X-API-Key: dev-agent-key' 'http://127.0.0.1:8001/v1/customers?company=globex'"
	@echo "Stop with 'make down'."

down:
	@bash deploy/local/services.sh stop
	@bash deploy/local/kafka.sh stop
	@bash deploy/local/postgres.sh stop

reset: down
	@bash deploy/local/kafka.sh reset
	@bash deploy/local/postgres.sh reset
	@rm -rf .state/mail .state/logs .state/run

status:
	@bash deploy/local/kafka.sh status || true
	@bash deploy/local/postgres.sh status || true
	@bash deploy/local/services.sh status

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

infra-up:
	@bash deploy/local/postgres.sh start
	@bash deploy/local/kafka.sh start

infra-down:
	@bash deploy/local/kafka.sh stop
	@bash deploy/local/postgres.sh stop

topics: venv
	@$(PY) -m services.kit topics create

services-up: venv
	@bash deploy/local/services.sh start

services-down:
	@bash deploy/local/services.sh stop

demo: venv
	@$(PY) deploy/demo/feed.py --travellers 12 --complete

lint: venv
	$(VENV)/bin/ruff check services tests bench deploy
	$(VENV)/bin/mypy services
	$(VENV)/bin/lint-imports
	$(PY) -m services.kit contracts check

# Debian's chromium for the console's browser tests (Playwright drives it; it never downloads a browser).
browser-deps:
	@command -v chromium >/dev/null || bash -c 'source deploy/local/env.sh && apt_install chromium'

test: venv infra-up browser-deps
	@$(MAKE) --no-print-directory lint
	$(VENV)/bin/pytest -q -p no:cacheprovider

unit: venv
	$(VENV)/bin/pytest -q tests/unit

bench-e2e: venv infra-up
	$(PY) bench/e2e_latency.py

# The fault-injection harness: its own Kafka and PostgreSQL on free ports (the broker's jars are
# shared with .state/kafka/libs). FAULTS_ARGS, e.g. "--faults poison,sigkill --out F".
FAULTS_ARGS ?= --out bench/results/faults.json
faults: venv
	$(PY) -m bench.faults run --scale full $(FAULTS_ARGS)
