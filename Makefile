# callcenter — the two commands a newcomer needs are `make run` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= callcenter/demo/callcenter.toml

.PHONY: run demo cluster test lint unit bench bench-load bench-cores format root clean

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

## cluster: PostgreSQL, two sandbox Asterisk nodes, Kamailio in front and a service per node, all on loopback, and
## one scripted call through Kamailio (Ctrl-C stops everything; needs Debian's kamailio and postgresql packages)
cluster: root
	$(BIN)/callcenter --config $(CONFIG) cluster run

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

## bench: the store steps, then whole calls vs the bare-route floor (fake Asterisk), the classic pyst2 AGI vs FastAGI
## and a load level (real sandbox Asterisk): issue 13's figures beside their targets, under 10 minutes once the
## seeded stores are cached (~/.cache/callcenter-bench; the first run seeds them, a few minutes more). One part:
## make bench BENCH="--only calls" (or classic, asterisk, offer ...; python -m bench --help)
bench: root
	$(BIN)/python -m bench $(BENCH)

## bench-load: callers through the real Asterisk under load: 100 callers / 63 agents (issue 12's measurement with
## the demo agents' 3 s talk, a burst with 30 s talk, a steady load for Erlang C, the same with a choice mix), then
## 200 / 100 (burst, steady): 25 minutes or so; one run of your own: make bench-load LOAD="--quick" or
## LOAD="--callers 50 --mix first=0.5,best=0.5" (python -m bench.load --help)
bench-load: root
ifdef LOAD
	$(BIN)/python -m bench.load $(LOAD)
else
	$(BIN)/python -m bench.load --callers 100 --agents 63 --over 10 --talk 3
	$(BIN)/python -m bench.load --callers 100 --agents 63 --over 10 --talk 30
	$(BIN)/python -m bench.load --callers 100 --agents 63 --over 100 --talk 55 --exp
	$(BIN)/python -m bench.load --callers 100 --agents 63 --over 100 --talk 55 --exp --mix first=0.6,best=0.2,random=0.2
	$(BIN)/python -m bench.load --callers 200 --agents 100 --over 20 --talk 30
	$(BIN)/python -m bench.load --callers 200 --agents 100 --over 100 --talk 44 --exp
endif

## bench-cores: 1 vs 2 worker processes ([service] workers), interleaved, 3 repetitions: calls/s at a fixed p99 and
## the ratio (about 5 minutes; CORES="--quick" for a smoke run, python -m bench.cores --help)
bench-cores: $(BIN)/callcenter
	$(BIN)/python -m bench.cores $(CORES)

format: $(BIN)/callcenter
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
