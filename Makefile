# voucher-service: `make run` serves the demo on SQLite, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench clean

$(BIN)/voucher-service: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev: $(BIN)/voucher-service
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/voucher-service
	$(BIN)/voucher-service db upgrade
	$(BIN)/voucher-service demo
	$(BIN)/voucher-service serve --host $(HOST) --port $(PORT)

test: $(VENV)/.dev
	$(BIN)/pytest -n 2 --dist loadgroup

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(VENV)/.dev
	mkdir -p var
	$(BIN)/python -m bench.run | tee var/bench.json

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
