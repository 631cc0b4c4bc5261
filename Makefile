# Regatta: `make run` starts the platform locally, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
# uv installs the venv from uv.lock; the same version resolves nothing in docker/Dockerfile.
UV_VERSION := 0.13.9
# The venv is installed from uv.lock (the source of truth), again when pyproject.toml or uv.lock
# change: runtime + local for `make run`, runtime + local + dev for everything else.
LOCK_SUM := $(shell cat pyproject.toml uv.lock | cksum | cut -d' ' -f1)
STAMP := $(VENV)/.installed-dev-$(LOCK_SUM)
STAMP_RUN := $(VENV)/.installed-run-$(LOCK_SUM)

NPM ?= $(shell command -v npm 2>/dev/null)
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) $(wildcard web/index.html \
	web/package.json web/package-lock.json web/vite.config.ts web/tsconfig.json)
TOOLS ?= .venv-tools
CHECKOV := $(TOOLS)/bin/checkov

.PHONY: run web test test-fast test-infra tools lint bench-compare bench-paired bench-recipes bench-meetings bench-stock bench-media bench-tracing bench-insights bench-insights-collector bench-insights-page nlu-corpus chaos install clean

install: $(STAMP)

# Create the virtual environment on first use and install exactly what uv.lock says (packages
# not in the chosen groups are removed). --locked also fails when pyproject.toml changed and
# uv.lock was not updated (`uv lock`, see README), instead of installing a stale set.
define bootstrap
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(UV) --version 2>/dev/null | grep -qxF 'uv $(UV_VERSION)' \
	  || $(PY) -m pip install -q 'uv==$(UV_VERSION)'
endef

# runtime + local + dev (tests, lint, benchmarks); it holds the run set too.
$(STAMP): pyproject.toml uv.lock
	$(bootstrap)
	@UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync -q --locked --group dev
	@rm -f $(VENV)/.installed-* && touch $@ $(STAMP_RUN)

# runtime + local: what `make run` needs (the emulator, honcho, the regatta command).
$(STAMP_RUN): pyproject.toml uv.lock
	$(bootstrap)
	@UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync -q --locked --group local
	@rm -f $(VENV)/.installed-* && touch $@

# checkov pins many packages: it gets its own virtualenv so it cannot move the app's. It is
# not in uv.lock (its pins would constrain the app's resolution): the range below is all.
$(CHECKOV): | $(STAMP)
	@test -x $(TOOLS)/bin/python || python3 -m venv $(TOOLS)
	@$(UV) pip install -q --python $(TOOLS)/bin/python 'checkov>=3.2,<4'

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

run: $(STAMP_RUN) web
	@$(VENV)/bin/regatta up

# Tests spread over TEST_WORKERS pytest-xdist workers; each integration folder's tests stay on
# one worker (tests/conftest.py), so its stack starts once. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 3
test: $(STAMP) $(CHECKOV) web
	@$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup

test-infra: $(STAMP) $(CHECKOV)
	@$(PY) -m pytest tests/infra

test-fast: $(STAMP)
	@$(PY) -m pytest tests/unit

# mypy --strict over the files [tool.mypy] names in pyproject.toml (make test runs it too:
# tests/unit/shared/test_shared_types.py).
lint: $(STAMP)
	@$(VENV)/bin/ruff check shared services devkit tests bench docker
	@$(VENV)/bin/mypy
	@$(VENV)/bin/hadolint docker/Dockerfile

# Options as for chaos, e.g. make bench-meetings ARGS="--rate-limits on".
# Two commits' benchmarks alternately, medians side by side (bench/side_by_side.py), e.g.
# make bench-compare BASE=HEAD~1 BENCH="recipes stock" ROUNDS=3
BASE ?= HEAD~1
BENCH ?= recipes meetings stock media
ROUNDS ?= 3
bench-compare: $(STAMP)
	@$(PY) bench/side_by_side.py --base $(BASE) --rounds $(ROUNDS) $(BENCH)

# The recipes API of another commit and of this tree against one emulator, measured in
# alternating slices (bench/paired_recipes.py): their CPU per request, seconds apart.
bench-paired: $(STAMP)
	@$(PY) bench/paired_recipes.py --base $(BASE) $(ARGS)

bench-recipes: $(STAMP)
	@$(PY) bench/bench_recipes.py $(ARGS)

bench-meetings: $(STAMP)
	@$(PY) bench/bench_meetings.py $(ARGS)

bench-stock: $(STAMP)
	@$(PY) bench/bench_stock.py

bench-media: $(STAMP)
	@$(PY) bench/bench_media.py

# The kit's CPU per request with tracing off and on, no AWS in the loop.
bench-tracing: $(STAMP)
	@$(PY) bench/bench_tracing.py $(ARGS)

# The insights lake (compaction events/s, reports p50/p95 over 60 days x 1,000,000 events),
# then the collector's benchmark (bench/bench_insights_collector.py).
bench-insights: $(STAMP)
	@$(PY) bench/bench_insights.py $(ARGS)

# The insights collector alone (make bench-insights runs it with the lake's benchmarks).
bench-insights-collector: $(STAMP)
	@$(PY) bench/bench_insights_collector.py $(ARGS)

# The Insights page in headless Chromium (Debian's) over 60 days x 1,000,000 events: cold and
# warm page loads, each report request, checked against the API; ARGS="--events 200000".
bench-insights-page: $(STAMP) web
	@$(PY) bench/bench_insights_page.py $(ARGS)

nlu-corpus: $(STAMP)
	@$(PY) bench/nlu_corpus.py

# The fault suite: mixed load while processes are killed and AWS misbehaves, then the
# reconciliation table (lost, duplicated, stuck, DLQ). Options: make chaos ARGS="--seconds 60".
chaos: $(STAMP)
	@$(PY) bench/chaos.py $(ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) .regatta .pytest_cache web/dist web/node_modules test-artifacts
