# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Set up the environment and run firmwatch on the bundled samples (no credentials, no network).
demo: $(STAMP)
	$(BIN)/firmwatch demo

## Set up the environment, then lint, type-check and run the whole test suite.
test: $(STAMP)
	$(BIN)/ruff check bot notifiers state tests bench
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(STAMP)
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
