# The two commands a newcomer needs: `make demo` and `make test`.
# Each creates .venv when it is missing and installs what it needs itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast lint typecheck bench clean browser report-deps

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

# Browser tests drive Debian's chromium through Playwright (no browser download). As root, install it
# when it is missing; otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei >/dev/null; } \
	      || echo "could not install chromium: the browser tests will be skipped"; \
	  else echo "chromium is not installed: the browser tests will be skipped"; fi; }

# Reports in Word and PDF: Chinese faces (fonts-noto-cjk), pango for WeasyPrint's PDF, pdftotext for the tests.
# As root, install what is missing; otherwise say so (reports fall back to the faces the machine has).
REPORT_PACKAGES := fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 poppler-utils
report-deps:
	@missing=$$(for p in $(REPORT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing for the Word and PDF reports:" $$missing; \
	    { apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; } \
	      || echo "could not install $$missing: reports use the fonts this machine has; PDF tests may skip"; \
	  else echo "not installed: $$missing (run make as root to install): reports use the fonts this machine has"; fi; \
	fi

# The gates first (lint, types: configuration in pyproject.toml), then the tests.
test: lint typecheck browser report-deps
	$(BIN)/python -m pytest -q

# Everything but the tests marked slow (subprocess crawls, brokers, browsers).
test-fast: lint typecheck
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(VENV)/.dev
	$(BIN)/ruff check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy

bench: $(VENV)/.dev
	$(BIN)/python -m bench

clean:
	rm -rf var .pytest_cache
