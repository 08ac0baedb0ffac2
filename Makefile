# hi-moe: every command a user needs. `make run` and `make test` set everything up first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# Every package at the version in constraints.txt (refresh it with `make lock`). torch 2.13.0
# installs as a CPU build on the reference machine.
CONSTRAINTS := constraints.txt
# llama-cpp-python's version, built into a portable wheel by scripts/llama_wheel.sh.
export LLAMA_CPP_VERSION := 0.3.36
PROBLEM ?= 0
# The embedded model (qwen2.5-coder-1.5b, qwen2.5-coder-0.5b, smollm2-135m or a .gguf path).
MODEL ?= qwen2.5-coder-1.5b
# The training machinery's end-to-end tests run on the smallest model.
TEST_MODEL := smollm2-135m
# The specialists' LoRA adapters (make adapters MODEL=...): optimizer steps per adapter, kept
# small for a CPU (one thread: minutes per adapter on SmolLM2, more on larger models).
# The data comes from the training splits of hi_moe/problems/splits.py (reference solutions) and training
# is seeded, so the same code rebuilds bit-identical adapters.
ADAPTERS := python math
ADAPTER_STEPS_python ?= 20
ADAPTER_STEPS_math ?= 20
ADAPTER_SOURCES := hi_moe/adapters/data.py hi_moe/adapters/training.py hi_moe/adapters/base_model.py \
	hi_moe/adapters/lora_gguf.py hi_moe/app/training_data.py hi_moe/problems/splits.py \
	hi_moe/problems/mathgen.py prompts/specialist.md prompts/fragments.toml

.PHONY: setup run mock test lint format serve dev bench clean adapters lock

setup: $(VENV)/.installed

# llama-cpp-python comes from a portable wheel built once into ~/.cache/hi-moe/wheels
# (scripts/llama_wheel.sh); the setup ends by generating one token on the default model.
$(VENV)/.installed: pyproject.toml $(CONSTRAINTS) scripts/llama_wheel.sh
	command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && (apt-get update -qq && apt-get install -y -qq bubblewrap) >/dev/null 2>&1; } || echo "bubblewrap not installed: the sandbox falls back to unshare"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) pip
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) torch
	scripts/llama_wheel.sh $(VENV)
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e ".[local,dev]"
	$(BIN)/hi-moe check-model
	touch $@

# A fresh environment from pyproject.toml alone, frozen into constraints.txt.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --upgrade pip
	.venv-lock/bin/pip install --quiet torch==2.13.0
	scripts/llama_wheel.sh .venv-lock
	.venv-lock/bin/pip install --quiet -e ".[local,dev]"
	.venv-lock/bin/pip freeze --all --exclude-editable | grep -v '^hi-moe' \
		| sed -e 's/^llama.cpp.python @ .*/llama-cpp-python==$(LLAMA_CPP_VERSION)/' -e 's/+cpu$$//' \
		>$(CONSTRAINTS)
	rm -rf .venv-lock

adapters: $(ADAPTERS:%=adapters/$(MODEL)/%/adapter.gguf)  ## train the python and math LoRA adapters for MODEL (CPU)

# adapters/MODEL/SPECIALIST/adapter.gguf
adapters/%/adapter.gguf: $(ADAPTER_SOURCES) | $(VENV)/.installed
	$(BIN)/hi-moe adapters build-data $(*F) --out adapters/data/$(*F).jsonl
	$(BIN)/hi-moe train-adapter $(*F) --base $(*D) --data adapters/data/$(*F).jsonl --steps $(ADAPTER_STEPS_$(*F)) --out adapters/$*

run: setup  ## solve one problem on the embedded model (Qwen2.5-Coder-1.5B via llama.cpp)
	$(BIN)/hi-moe solve --problem $(PROBLEM) --model $(MODEL)

mock: setup  ## solve every built-in problem with the scripted fake model (instant)
	$(BIN)/hi-moe solve --mock --all

test: setup $(ADAPTERS:%=adapters/$(TEST_MODEL)/%/adapter.gguf)  ## unit and integration tests
	$(BIN)/python -m pytest -q

lint: setup  ## ruff, the one-direction import contract and mypy (both set in pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

serve: setup  ## keep the embedded model running for repeated runs and langgraph dev
	$(BIN)/hi-moe serve-local --model $(MODEL)

dev: setup  ## LangGraph Studio / API server on the graph in langgraph.json
	$(BIN)/langgraph dev --no-browser

bench: setup  ## every benchmark suite into .hi_moe/bench/report.md; BENCH_ARGS=--fast skips the real model
	$(BIN)/hi-moe bench $(BENCH_ARGS)

clean:
	rm -rf .hi_moe .pytest_cache .ruff_cache
