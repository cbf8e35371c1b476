PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test fuzz bench bench-pruners bench-frontier bench-diagnose data clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# torch first: the pinned CPU wheel on disk, not a multi-GB CUDA build (NOTES-env)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: install
	$(BIN)/python -m sweeper run sweeps/explain.yaml --overwrite

test: install
	$(BIN)/python -m pytest -q

# The fuzz targets (spec loader, log readers) at 10,000 inputs each; `make test` runs 500 each.
fuzz: install
	SWEEPER_FUZZ_EXAMPLES=10000 $(BIN)/python -m pytest -q -p no:cacheprovider tests/fuzz

bench: install bench-pruners bench-frontier bench-diagnose
	$(BIN)/python -m benchmarks.rules_cost
	$(BIN)/python -m benchmarks.sweep_overhead

bench-pruners: install
	$(BIN)/python -m benchmarks.pruners

# diagnose's verdicts against hand labels on real public runs (tests/diagnose_corpus), both parts.
bench-diagnose: install
	$(BIN)/python -m benchmarks.diagnose

# Each pruner's own knobs swept on the three corpora: its front of compute against best kept, and ours against it.
bench-frontier: install
	$(BIN)/python -m benchmarks.frontier

data: install
	$(BIN)/python -m sweeper make-data --out data/explain-demo

clean:
	rm -rf $(VENV) .pytest_cache
