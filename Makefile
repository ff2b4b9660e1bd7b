# Two entry points for a fresh clone: `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
# Optional parts to install with the project; .ci/run adds `cluster` (Ray) so its test runs.
EXTRAS ?= dev

.PHONY: install demo test lint

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $@

demo: install
	$(PY) tools/demo.py

lint: install
	$(PY) -m ruff check src tests benchmarks tools
	$(PY) -m ruff format --check src tests benchmarks tools
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache

test: lint
	$(PY) -m pytest
