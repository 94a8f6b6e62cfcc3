# One entry point for people and CI. Each target creates .venv and installs what it needs.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck imports unit run demo clean browser

demo: $(STAMP)
	$(BIN)/payments demo

# The sources are compiled to bytecode once, as installing a wheel does: where bytecode is not
# written (PYTHONDONTWRITEBYTECODE), every command would compile what it imports (0.1 s).
$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q src >/dev/null
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/payments_core
	$(BIN)/mypy src/adapters src/entrypoints

imports: $(STAMP)
	$(BIN)/lint-imports --config importlinter.ini

# The hosted pages are tested in Debian's headless Chromium; installed here when missing.
browser:
	bash .ci/install-browser

test: lint typecheck imports browser
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/properties

run: $(STAMP)
	$(BIN)/payments serve --demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
