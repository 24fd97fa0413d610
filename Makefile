# callcenter — the two commands a newcomer needs are `make run` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= callcenter/demo/callcenter.toml

.PHONY: run demo test lint unit bench format root clean

$(BIN)/callcenter: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## run: build the Asterisk root if needed, start Asterisk + callcenter with the demo roster (Ctrl-C stops both)
run: $(BIN)/callcenter
	$(BIN)/callcenter --config $(CONFIG) run

## demo: one scripted call through the running `make run` system, printed as a transcript
demo: $(BIN)/callcenter
	$(BIN)/callcenter --config $(CONFIG) demo

## test: lint, type-check, every test (including those that boot a real Asterisk 22), a quick benchmark smoke run
test: lint root
	$(BIN)/pytest
	$(BIN)/python -m bench --quick > /dev/null

## lint: ruff and mypy
lint: $(BIN)/callcenter
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## unit: only the tests that need no Asterisk
unit: $(BIN)/callcenter
	$(BIN)/pytest -m "not asterisk"

## root: build (once) the private Asterisk 22 root the tests and `make run` use
root: $(BIN)/callcenter
	$(BIN)/callcenter asterisk build-root

## bench: print how each IVR step scales with agents, callers and ratings
bench: $(BIN)/callcenter
	$(BIN)/python -m bench

format: $(BIN)/callcenter
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
