# The two commands a newcomer needs: `make demo` and `make test`.
# Each creates .venv when it is missing and installs what it needs itself.
# The interpreter the venv is made from: the distribution's python3 when it is 3.11 or newer and can make a venv,
# else the python3 on the PATH. Debian builds its interpreter with profile-guided and link-time optimisation, which an
# interpreter built from source (pyenv's default) lacks, and the stages take less CPU on it (README, on
# `python -m bench.throughput`). PYTHON=... chooses another; a .venv already made keeps the interpreter it was made from.
PYTHON ?= $(shell /usr/bin/python3 -c 'import ensurepip, sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
            && echo /usr/bin/python3 || echo python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast lint typecheck bench clean report-deps test-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: re-install when pyproject.toml changes.
$(VENV)/.app: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.app

demo: $(VENV)/.app report-deps
	$(BIN)/yuqing demo

# Debian packages, installed when missing and make runs as root (otherwise the tests that need them skip and
# say why; reports fall back to the faces the machine has):
# - reports in Word and PDF: Chinese faces (songti/heiti-style Noto CJK), pango for WeasyPrint's PDF;
# - tests: chromium (Playwright drives it; never a downloaded browser), pdftotext, the PostgreSQL server the
#   state-store tests start on a private port, docker-compose to validate docker-compose.yml.
REPORT_PACKAGES := fonts-noto-cjk fonts-wqy-microhei libpango-1.0-0 libpangoft2-1.0-0
TEST_PACKAGES := $(REPORT_PACKAGES) chromium poppler-utils postgresql docker-compose
define install_missing
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:" $$missing; \
	    { apt-get update -qq && apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $$missing >/dev/null; } \
	      || echo "could not install $$missing: what needs them is skipped or falls back"; \
	  else echo "not installed: $$missing (run make as root to install them): what needs them is skipped or falls back"; fi; \
	fi
endef

report-deps:
	$(call install_missing,$(REPORT_PACKAGES))

test-deps:
	$(call install_missing,$(TEST_PACKAGES))

# The suite runs in parallel (pytest-xdist), two workers a core: a good part of it waits on brokers, subprocess
# crawls and servers rather than computing (on 2 idle cores: 221 s with 3 workers, 180 s with 4). Each test file stays on one worker, so its
# module fixtures (servers, demo runs) are built once; tests/conftest.py sends the longest files out first.
PYTEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) * 2 )))
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder

# The gates first (lint, types: configuration in pyproject.toml), then the tests.
test: lint typecheck test-deps
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL)

# Everything but the tests marked slow (subprocess crawls, brokers, browsers).
test-fast: lint typecheck
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL) -m "not slow"

lint: $(VENV)/.dev
	$(BIN)/ruff check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy

bench: $(VENV)/.dev
	$(BIN)/python -m bench

clean:
	rm -rf var .pytest_cache
