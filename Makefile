# Two commands set everything up on a fresh machine:
#   make demo   - create .venv, install, run the embedded demo (no downloads)
#   make test   - install the dev extras, run ruff, mypy and the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch; pass TORCH_SPEC=torch (or a CUDA index) for a GPU machine.
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	touch $@

$(VENV)/.base: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.base
	$(BIN)/python -m pip install -q -e ".[dev,export,edge]"
	touch $@

demo: $(VENV)/.base
	$(BIN)/yolov9 demo --out runs/demo

test: $(VENV)/.dev
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
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
