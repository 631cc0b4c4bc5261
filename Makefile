# Regatta: `make run` starts the platform locally, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

TOOLS ?= .venv-tools
CHECKOV := $(TOOLS)/bin/checkov

.PHONY: run test test-fast test-infra tools lint bench-recipes bench-meetings install clean

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

run: $(STAMP)
	@$(VENV)/bin/regatta up

test: $(STAMP) $(CHECKOV)
	@$(PY) -m pytest

test-infra: $(STAMP) $(CHECKOV)
	@$(PY) -m pytest tests/infra

test-fast: $(STAMP)
	@$(PY) -m pytest tests/unit

lint: $(STAMP)
	@$(VENV)/bin/ruff check shared services tests bench docker
	@$(VENV)/bin/hadolint docker/Dockerfile

bench-recipes: $(STAMP)
	@$(PY) bench/bench_recipes.py

bench-meetings: $(STAMP)
	@$(PY) bench/bench_meetings.py

clean:
	rm -rf $(VENV) $(TOOLS) .regatta .pytest_cache
