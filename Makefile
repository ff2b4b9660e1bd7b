# Entry points for a fresh clone: `make demo`, `make test`, `make wheels`.
# Another Python: `make test PYTHON=python3.13` (one venv per Python: .venv311, .venv313).
# EXTRAS=dev leaves out the voice extra (pyworld, which needs a C compiler outside Windows);
# .ci/run adds cluster (Ray) on 3.11.
PYTHON ?= python3.11
PYVER := $(shell $(PYTHON) -c 'import sys; print("%d%d" % sys.version_info[:2])')
VENV ?= .venv$(PYVER)
EXTRAS ?= dev,voice
PY := $(VENV)/bin/python

.PHONY: install demo test test-slow lint wheels

STAMP := $(VENV)/.installed-$(EXTRAS)

install: $(STAMP)

$(STAMP): pyproject.toml
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

# The long runs `make test` leaves out (marked slow): the robustness suite's damaged files, whole
# real clips and photo folders from ../shared.  .ci/run runs them after `make test` on 3.11.
test-slow: install
	$(PY) -m pytest -m slow

# Every base dependency has a wheel for CPython 3.11-3.13 on macOS ARM, Windows and Linux (x86-64, ARM).
wheels: install
	$(PY) tools/check_wheels.py
