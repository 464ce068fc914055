# alseg: `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
CONFIG ?= configs/default.yaml

.PHONY: setup browser run test test-fast bench bench-al bench-al-quick bench-al-report lint format compile golden clean

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

# headless Chromium for the HTML report test (Debian package; skipped when not root or no apt)
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	  >/dev/null; } || echo "chromium not installed: the HTML report browser test will skip"

test: setup browser  ## the whole suite (unit, stages, pipeline end to end, integration)
	$(PY) -m pytest -q -rs -p no:cacheprovider

test-fast: setup  ## unit and stage tests only
	$(PY) -m pytest -q -rs -m "not slow"

bench: setup  ## performance ratios (synthetic, and CamVid when present)
	$(PY) bench/perf.py

bench-al: setup  ## CamVid label-efficiency benchmark, 10 arms x 3 seeds (resumes; appends to bench/results/)
	$(PY) bench/label_efficiency.py run

bench-al-quick: setup  ## its fast subset: full, random, entropy, OREAL on seed 0 (claims a and d)
	$(PY) bench/label_efficiency.py run --quick

bench-al-report: setup  ## tables, claims and AL-curve plot from bench/results/label_efficiency.csv
	$(PY) bench/label_efficiency.py report

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

compile: setup  ## pipeline IR YAML of a preset into build/
	$(VENV)/bin/alseg compile $(CONFIG)

golden: setup  ## regenerate tests/golden/ (compiled IR of two presets and a sweep; diffed in make test)
	$(PY) -m tests.manifests.golden

clean:
	rm -rf runs build .pytest_cache

# Container images for the cluster (docker; not needed for `make run` / `make test`).
# Names match components/__init__.py (CPU_IMAGE / GPU_IMAGE); with another REGISTRY or TAG, set
# ALSEG_CPU_IMAGE / ALSEG_GPU_IMAGE when compiling. Extra flags: DOCKER_BUILD_ARGS="--build-arg
# TORCH_INDEX_URL=..." (CPU image) or "--platform linux/amd64".
REGISTRY ?= ghcr.io/alseg
TAG      ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
DOCKER   ?= docker
DOCKER_BUILD_ARGS ?=
CPU_IMAGE_REF = $(REGISTRY)/alseg-python-cpu:$(TAG)
GPU_IMAGE_REF = $(REGISTRY)/alseg-python-gpu:$(TAG)

.PHONY: images image-cpu image-gpu push-images

images: image-cpu image-gpu  ## build and tag both pipeline images (docker)

image-cpu:
	$(DOCKER) build -f images/cpu/Dockerfile -t $(CPU_IMAGE_REF) $(DOCKER_BUILD_ARGS) .

image-gpu:
	$(DOCKER) build -f images/gpu/Dockerfile -t $(GPU_IMAGE_REF) $(DOCKER_BUILD_ARGS) .

push-images: images  ## build, then push both images to $(REGISTRY)
	$(DOCKER) push $(CPU_IMAGE_REF)
	$(DOCKER) push $(GPU_IMAGE_REF)
