# Mburoja: `make run` sets everything up and serves the demo; `make test` runs the suite.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
HOST   ?= 127.0.0.1
PORT   ?= 8000
DATA   ?= mburoja-data

.PHONY: run test bench check lint format lock clean help

help:
	@echo "make run    - install, initialise ./$(DATA), load the demo scenario, serve on http://$(HOST):$(PORT)"
	@echo "make test   - run the whole test-suite"
	@echo "make bench  - run the benchmarks and print ratios (results: bench/RESULTS.md)"
	@echo "make check  - ruff, ruff format --check and mypy (what CI checks)"

$(VENV)/.runtime: requirements/runtime.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Mburoja needs Python 3.11 or newer"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet --no-deps --require-hashes -r requirements/runtime.lock
	$(PIP) install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements/dev.lock
	$(PIP) install --quiet --no-deps --require-hashes -r requirements/dev.lock
	touch $@

# The browser tests drive Debian's chromium through Playwright (Playwright's own browsers are
# never downloaded). Installed with apt-get when missing; without it those tests skip with a
# reason, or fail when MBUROJA_REQUIRE_SERVICES=1 (CI).
CHROMIUM := /usr/bin/chromium
SUDO     := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)

$(VENV)/.browser: $(VENV)/.dev
	@if [ ! -x $(CHROMIUM) ] && command -v apt-get >/dev/null; then \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
	  || echo "warning: could not install chromium; the browser tests cannot run"; \
	fi
	@if [ -x $(CHROMIUM) ]; then touch $@; \
	else echo "warning: no $(CHROMIUM); the browser tests skip (fail in CI)"; fi

run: $(VENV)/.runtime
	$(BIN)/mburoja --data-dir $(DATA) init
	$(BIN)/mburoja --data-dir $(DATA) demo
	MBUROJA_WEB_SECURE_COOKIE=$(if $(filter 127.0.0.1 localhost,$(HOST)),false,true) \
	  $(BIN)/mburoja --data-dir $(DATA) serve --host $(HOST) --port $(PORT)

test: $(VENV)/.dev $(VENV)/.browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.dev
	$(BIN)/python bench/run.py $(BENCH_ARGS)

check: $(VENV)/.dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(VENV)/.dev
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

lock: $(VENV)/.runtime
	$(PIP) install --quiet uv
	$(BIN)/uv pip compile --python-version 3.11 --generate-hashes -q --override requirements/overrides.txt requirements/runtime.in -o requirements/runtime.lock
	$(BIN)/uv pip compile --python-version 3.11 --generate-hashes -q --override requirements/overrides.txt requirements/dev.in -o requirements/dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
