# alseg: `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
CONFIG ?= configs/default.yaml

.PHONY: setup run test test-fast bench lint format compile golden clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

run: setup  ## a real AL experiment on the embedded default (synthetic scenes, kfp.local, MLflow on SQLite)
	$(VENV)/bin/alseg run $(CONFIG)

test: setup  ## the whole suite (unit, stages, pipeline end to end, integration)
	$(PY) -m pytest -q -p no:cacheprovider

test-fast: setup  ## unit and stage tests only
	$(PY) -m pytest -q -m "not slow"

bench: setup  ## performance ratios (synthetic, and CamVid when present)
	$(PY) bench/perf.py

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

compile: setup  ## pipeline IR YAML of a preset into build/
	$(VENV)/bin/alseg compile $(CONFIG)

clean:
	rm -rf runs build .pytest_cache
