PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench bench-pruners data clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first: the pinned CPU wheel on disk, not a multi-GB CUDA build (NOTES-env)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: install
	$(BIN)/python -m sweeper run sweeps/explain.yaml

test: install
	$(BIN)/python -m pytest -q

bench: install bench-pruners
	$(BIN)/python -m benchmarks.sweep_overhead

bench-pruners: install
	$(BIN)/python -m benchmarks.pruners

clean:
	rm -rf $(VENV) .pytest_cache
