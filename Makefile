# Two entry points for a fresh clone: `make demo` and `make test`. Both create .venv if it is
# missing and install the project (and its test tools) from the package registries.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.poqw-installed
NODE_STAMP := node_modules/.poqw-installed

.PHONY: demo test lint typecheck pytest install clean bench

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

demo: install
	$(BIN)/poqw demo

lint: install
	$(BIN)/ruff check src tests bench

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest -n 2 -q

test: lint typecheck pytest

bench: install
	$(BIN)/poqw bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
