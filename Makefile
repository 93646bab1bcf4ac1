# Two targets for people: `make run` and `make test`. Each does its own set-up:
# a virtual environment at .venv with the project installed editable
# (extras server + dev), and node_modules from package-lock.json.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install; pip runs again when pyproject.toml is newer,
# or when the set of top-level packages changes (an editable install maps each one).
PACKAGES := $(patsubst %/__init__.py,%,$(wildcard core/__init__.py edge_server/__init__.py))
INSTALL_STAMP := $(VENV)/.install-stamp-$(subst $() $(),-,$(strip $(PACKAGES)))
NPM_STAMP := node_modules/.package-lock.json

.PHONY: help run test setup venv node-deps lint typecheck error-docs pytest pyodide-wheels pyodide-test

help:
	@echo "make run    set up, then run the demo (the core routing across backends)"
	@echo "make test   set up, then ruff, mypy, error-docs check, pytest (CPython), the core's tests in Pyodide"

run: setup
	$(BIN)/llm-runner-router demo

test: setup lint typecheck error-docs pytest pyodide-test

# ---- set-up helpers ---------------------------------------------------------

setup: venv node-deps

venv: $(INSTALL_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALL_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -e '.[server,dev]'
	touch $@

node-deps: $(NPM_STAMP)

# npm writes node_modules/.package-lock.json on every install; `npm ci` runs
# when it is missing or older than package.json / package-lock.json.
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# ---- test stages ------------------------------------------------------------

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy

error-docs: venv
	$(BIN)/python build/gen_error_docs.py --check

pytest: venv
	$(BIN)/python -m pytest --ignore=tests/pyodide

pyodide-wheels: venv
	$(BIN)/python tests/pyodide/fetch_wheels.py >/dev/null

pyodide-test: node-deps pyodide-wheels
	PYTHON=$(BIN)/python node tests/pyodide/run_core_tests.mjs
