# Regatta: `make run` starts the platform locally, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

NPM ?= $(shell command -v npm 2>/dev/null)
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) $(wildcard web/index.html \
	web/package.json web/package-lock.json web/vite.config.ts web/tsconfig.json)
TOOLS ?= .venv-tools
CHECKOV := $(TOOLS)/bin/checkov

.PHONY: run web test test-fast test-infra tools lint bench-recipes bench-meetings bench-stock bench-media nlu-corpus chaos install clean

install: $(STAMP)

# Create the virtual environment and install on first use (or when pyproject.toml changes).
$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip uv
	@$(VENV)/bin/uv pip install -q --python $(PY) -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

# checkov pins many packages: it gets its own virtualenv so it cannot move the app's.
$(CHECKOV): | $(STAMP)
	@test -x $(TOOLS)/bin/python || python3 -m venv $(TOOLS)
	@$(VENV)/bin/uv pip install -q --python $(TOOLS)/bin/python 'checkov>=3.2,<4'

tools: $(STAMP) $(CHECKOV)

web: web/dist/index.html

# The web app (the gateway serves it on :8000), rebuilt when its sources change. Without npm
# the platform still runs; the gateway's page then says how to build the app.
web/dist/index.html: $(WEB_SOURCES)
	@if [ ! -f web/package.json ]; then \
	  true; \
	elif [ -z "$(NPM)" ]; then \
	  echo "npm not found: the web app is not built (install Node.js 20.19+ and npm, then: make web)"; \
	else \
	  cd web && { test node_modules/.package-lock.json -nt package-lock.json \
	    || $(NPM) ci --no-audit --no-fund; } && $(NPM) run build --silent; \
	fi

run: $(STAMP) web
	@$(VENV)/bin/regatta up

test: $(STAMP) $(CHECKOV) web
	@$(PY) -m pytest

test-infra: $(STAMP) $(CHECKOV)
	@$(PY) -m pytest tests/infra

test-fast: $(STAMP)
	@$(PY) -m pytest tests/unit

lint: $(STAMP)
	@$(VENV)/bin/ruff check shared services tests bench docker
	@$(VENV)/bin/hadolint docker/Dockerfile

# Options as for chaos, e.g. make bench-meetings ARGS="--rate-limits on".
bench-recipes: $(STAMP)
	@$(PY) bench/bench_recipes.py $(ARGS)

bench-meetings: $(STAMP)
	@$(PY) bench/bench_meetings.py $(ARGS)

bench-stock: $(STAMP)
	@$(PY) bench/bench_stock.py

bench-media: $(STAMP)
	@$(PY) bench/bench_media.py

nlu-corpus: $(STAMP)
	@$(PY) bench/nlu_corpus.py

# The fault suite: mixed load while processes are killed and AWS misbehaves, then the
# reconciliation table (lost, duplicated, stuck, DLQ). Options: make chaos ARGS="--seconds 60".
chaos: $(STAMP)
	@$(PY) bench/chaos.py $(ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) .regatta .pytest_cache web/dist web/node_modules test-artifacts
