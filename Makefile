# Two entry points for a fresh clone: `make demo` and `make test`. Both create .venv if it is
# missing and install the project (and its test tools) from the package registries.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.poqw-installed
NODE_STAMP := node_modules/.poqw-installed

.PHONY: demo test lint typecheck pytest install browser clean bench

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "poqw needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Solidity compiler (solc-js), OpenZeppelin, Foundry's forge/anvil/cast and the explorer's chart
# library, pinned in package.json / package-lock.json.
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "poqw needs Node.js and npm (for solc-js, forge, anvil, cast)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

# The explorer's browser test drives Debian's chromium through Playwright (never a downloaded
# browser build): installed with apt when missing and we are root (CI), else the test says how.
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "note: $(CHROMIUM) is missing; the explorer's browser test will fail until Debian's chromium is installed (sudo apt-get install chromium)"; \
	  fi; }

demo: install
	$(BIN)/poqw demo

lint: install
	$(BIN)/ruff check src tests bench

typecheck: install
	$(BIN)/mypy

pytest: install browser
	$(BIN)/pytest -n 2 -q

test: lint typecheck pytest

bench: install
	$(BIN)/poqw bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
