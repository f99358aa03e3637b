# The template's own tasks. Run `make help` for the list. Needs only python3 (3.11+) and make.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
DEMO_DIR := build/demo
LOCK := $(BIN)/uv pip compile --quiet --universal --generate-hashes --python-version 3.11 --no-header

.PHONY: help venv browser hooks demo test test-fast lint bench lock clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/uv.txt

$(VENV)/.installed: $(BIN)/uv requirements/dev.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r requirements/dev.txt
	touch $@

venv: $(VENV)/.installed ## Create .venv with the template's pinned tools

demo: venv ## Bake a default project into build/demo and run it: setup, dvc repro, serve, predict
	rm -rf $(DEMO_DIR)
	$(BIN)/cookiecutter --no-input --output-dir $(DEMO_DIR) .
	$(MAKE) -C $(DEMO_DIR)/penguin-classifier setup train demo
	@echo "The baked project is in $(DEMO_DIR)/penguin-classifier. To keep serving: cd $(DEMO_DIR)/penguin-classifier && make serve"

# The baked project's dashboard test drives headless Chromium; `make test` (and so CI,
# which runs it as root on a fresh machine) installs it with apt when it is missing.
browser: ## Install Chromium (apt) for the dashboard's browser test, unless one is on PATH
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; then exit 0; fi; \
	  if [ "$$(id -u)" = 0 ]; then sudo=; \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	  else echo "WARNING: no Chromium, and installing it needs root: sudo apt-get install chromium. The dashboard's browser test skips without it (and fails when CI is set)." >&2; exit 0; fi; \
	  command -v apt-get >/dev/null || { echo "WARNING: no Chromium and no apt-get: install Chromium or Chrome yourself" >&2; exit 0; }; \
	  echo "Installing Chromium for the dashboard's browser test (apt-get)"; \
	  $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null

test: venv browser ## Run every template test, the slow end-to-end ones included
	$(BIN)/pytest

test-fast: venv ## Run the template tests without the slow end-to-end ones
	$(BIN)/pytest -m "not slow"

hooks: venv ## Install the template repo's own git hooks (pre-commit, local hooks only)
	$(BIN)/pre-commit install

lint: venv ## Lint the template's own code and run its hooks (baked projects are linted by the tests)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pre-commit run --all-files

bench: venv ## Serving benchmark (bakes into build/bench; ~10 min): writes benchmarks/results/
	$(BIN)/python benchmarks/serving.py

lock: $(BIN)/uv ## Re-pin requirements/*.txt with hashes
	cd requirements && $(LOCK) dev.in -o dev.txt && $(LOCK) uv.in -o uv.txt

clean: ## Remove the demo bake and caches
	rm -rf build .pytest_cache .ruff_cache
