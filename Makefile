# llmtrain — every entry point a user or CI needs. Each target installs what it needs
# and skips work that is already done.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP_INSTALLED := $(VENV)/.installed
PACKAGE_FILES := sdk/pyproject.toml operator/pyproject.toml trainer_image/pyproject.toml
PYTEST_ARGS ?=
CRD_FILES := manifests/crd.yaml charts/llmtrain-operator/crds/llmtrainingjobs.yaml

.PHONY: help install lint test unit crd typecheck clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/bin/python:
	@echo ">> creating the virtual environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(PIP_INSTALLED): $(VENV)/bin/python $(PACKAGE_FILES)
	@echo ">> installing sdk, operator and trainer_image (editable, with test dependencies)"
	$(PY) -m pip install --quiet -e 'sdk[test]' -e 'operator[test]' -e 'trainer_image[test]'
	@touch $@

install: $(PIP_INSTALLED) ## create .venv and install the three packages in editable mode

lint: install typecheck ## ruff (check and format --check), mypy --strict over the three packages, import-linter
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# Real nodes (kubelets on containerd running the images of our Dockerfiles) are part of the
# suite. REAL_NODES=0 leaves them out, for a machine that cannot run them (no root, no runc,
# no cgroup v1); `make test` says so before it starts otherwise.
REAL_NODES ?= 1
ifneq ($(filter 0 no false,$(REAL_NODES)),)
TEST_NODES :=
TEST_MARKS := -m "not realnodes"
else
TEST_NODES := real-nodes
TEST_MARKS :=
endif

test: $(TEST_NODES) install testenv lint ## install everything, build the binaries and images, lint, run the whole suite (REAL_NODES=0: without real nodes)
	$(PY) -m pytest --durations=25 $(TEST_MARKS) $(PYTEST_ARGS)

unit: install ## run only the unit tests (no control plane)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

crd: install ## regenerate the CRD (manifests/, the chart), docs/spec-reference.md and manifests/install.yaml from the SDK models
	$(PY) -m llmtrain.api.crd --write $(CRD_FILES)
	$(PY) -m llmtrain.api.reference docs/spec-reference.md
	$(MAKE) --no-print-directory manifests

typecheck: install ## mypy --strict over the three packages
	$(PY) -m mypy sdk/src operator/src trainer_image/src

clean: ## remove the virtual environment and caches (keeps bin/)
	rm -rf $(VENV) .pytest_cache .mypy_cache

include tests/testenv/testenv.mk
include tests/testenv/images.mk
include charts/chart.mk
include bench/bench.mk
include tests/e2e/e2e.mk
