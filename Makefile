# One entry point for tasks. `make run` and `make test` are the README's two commands.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint fmt bench browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0   # CPU build; any other version pulls CUDA
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/hindsight init
	$(BIN)/gunicorn -c gunicorn.conf.py

browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

test: install browser
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check service ingest tests bench migrations
	$(BIN)/ruff format --check service ingest tests bench migrations
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff format service ingest tests bench migrations
	$(BIN)/ruff check --fix service ingest tests bench migrations

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/tagging.py
	$(BIN)/python bench/review.py
	$(BIN)/python bench/service.py
