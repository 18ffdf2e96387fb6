# Two commands set everything up on a fresh machine:
#   make demo   - create .venv, install, run the embedded demo (no downloads)
#   make test   - check the base install alone, install the dev extras, run ruff, mypy and
#                 the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A second environment with the base install only (no extras): `make check-base`.
BASE_VENV ?= .venv-base
# A CPU build of torch; pass TORCH_SPEC=torch (or a CUDA index) for a GPU machine.
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test check-base lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	touch $@

$(VENV)/.base: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.base
	$(BIN)/python -m pip install -q -e ".[dev,export,edge,serve]"
	touch $@

demo: $(VENV)/.base
	$(BIN)/yolov9 demo --out runs/demo

# The base install alone: `pip install .` (+ torch) in its own environment, then every module
# imports, every command answers --help, the demo runs on 2 epochs and a command that needs an
# extra says which. The test suite runs with every extra, which can bring along a package the
# base install forgot to declare; this cannot. The environment is rebuilt from scratch when
# pyproject.toml changes (a dependency removed there is gone here too); the package itself is
# reinstalled (not editable, as users get it) on every run. pip's cache makes the rebuild fast.
$(BASE_VENV)/.deps: pyproject.toml
	rm -rf $(BASE_VENV)
	$(PYTHON) -m venv $(BASE_VENV)
	$(BASE_VENV)/bin/python -m pip install -q "$(TORCH_SPEC)"
	$(BASE_VENV)/bin/python -m pip install -q .
	touch $@

check-base: $(BASE_VENV)/.deps
	$(BASE_VENV)/bin/python -m pip install -q --no-deps --force-reinstall .
	cd $(BASE_VENV) && bin/python $(CURDIR)/tools/check_base_install.py

test: check-base $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/python -m mypy

format: $(VENV)/.dev
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: $(VENV)/.dev
	$(BIN)/python benchmarks/bench_latency.py

clean:
	rm -rf $(VENV) $(BASE_VENV) build runs .pytest_cache .ruff_cache
