# Akashi — two commands do everything on a fresh machine:
#   make run    set up and run Akashi on its embedded default (SQLite + local disk)
#   make test   set up and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOME_DIR ?= akashi-data
PYTEST_ARGS ?=
# test processes: most tests wait on real peers in real time, so 3 keep a 2-core machine busy (0: one process)
TEST_WORKERS ?= 3

.PHONY: run test setup setup-dev system-deps lint typecheck bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[media,analysis]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install -q -e '.[media,analysis,dev]'
	touch $@

setup: $(VENV)/.installed

setup-dev: $(VENV)/.installed-dev

## Debian packages the interop tests need (run as root; CI does this itself).
system-deps:
	bash .ci/system-deps.sh

run: setup
	$(VENV)/bin/akashi --home $(HOME_DIR) init
	MALLOC_ARENA_MAX=2 $(VENV)/bin/akashi --home $(HOME_DIR) serve

test: setup-dev
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: setup-dev
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

typecheck: lint

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
