# Regatta: `make run` starts the platform locally, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: run test test-fast lint bench-recipes install clean

install: $(STAMP)

# Create the virtual environment and install on first use (or when pyproject.toml changes).
$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip uv
	@$(VENV)/bin/uv pip install -q --python $(PY) -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	@$(VENV)/bin/regatta up

test: $(STAMP)
	@$(PY) -m pytest

test-fast: $(STAMP)
	@$(PY) -m pytest tests/unit

lint: $(STAMP)
	@$(VENV)/bin/ruff check shared services tests bench

bench-recipes: $(STAMP)
	@$(PY) bench/bench_recipes.py

clean:
	rm -rf $(VENV) .regatta .pytest_cache
