# backbone: `make help` lists the targets. Everything runs from the project's .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BACKBONE := $(BIN)/backbone
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# Installs are reproducible: the exact versions of requirements.lock, then the project itself
# without resolving anything again. `make lock` re-resolves after a pyproject.toml change.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

.PHONY: lock
lock: ## re-resolve every dependency into requirements.lock (then review the diff and commit it)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --quiet --no-header -o requirements.lock

.PHONY: install
install: $(STAMP) ## venv, dependencies, and the local Kafka + registry jars (idempotent)
	$(BACKBONE) stack install

.PHONY: lint
lint: $(STAMP) ## ruff and mypy (strict)
	$(BIN)/ruff check .
	$(BIN)/mypy

.PHONY: test
test: install ## the whole suite against a real broker and registry
	$(BIN)/python -m pytest

.PHONY: faults
faults: install ## the processors' fault matrix alone (~7 min; make test runs it too)
	$(BIN)/python -m pytest -m processor_matrix tests/reliability/test_processor_faults.py

.PHONY: demo
demo: install ## start the local stack, run the bundled samples end to end (SECURE=1: secured stack)
	$(if $(SECURE),$(BACKBONE) stack install --secure)
	$(BIN)/python -m demo $(if $(SECURE),--secure)

.PHONY: bench
bench: install ## run every benchmark and write bench/results.json
	$(BIN)/python -m bench

.PHONY: up
up: install ## start the local stack (prints KAFKA_BOOTSTRAP_SERVERS / SCHEMA_REGISTRY_URL)
	$(BACKBONE) stack up

.PHONY: down
down: ## stop the local stack
	$(BACKBONE) stack down

.PHONY: clean
clean: down ## stop the stacks and remove their data (keeps downloaded jars)
	$(BACKBONE) stack down --secure
	rm -rf .backbone/run .backbone/secure
