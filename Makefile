# hi-moe: every command a user needs. `make run` and `make test` set everything up first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# sentence-transformers needs torch; this release installs as a CPU build on the reference machine.
TORCH_SPEC ?= torch==2.13.0
PROBLEM ?= 0
# The specialists' LoRA adapters (make adapters): optimizer steps per adapter, kept small for a
# CPU (training uses one thread: a few minutes per adapter on a 2-core machine, more when busy).
# The data comes from the training splits of hi_moe/splits.py (reference solutions) and training
# is seeded, so the same code rebuilds bit-identical adapters.
ADAPTERS := python math
ADAPTER_STEPS_python ?= 20
ADAPTER_STEPS_math ?= 20
ADAPTER_SOURCES := hi_moe/adapter_data.py hi_moe/adapter_training.py hi_moe/base_model.py \
	hi_moe/lora_gguf.py hi_moe/splits.py hi_moe/mathgen.py prompts/specialist.md

.PHONY: setup run mock test lint format serve dev bench clean adapters

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && (apt-get update -qq && apt-get install -y -qq bubblewrap) >/dev/null 2>&1; } || echo "bubblewrap not installed: the sandbox falls back to unshare"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[local,dev]"
	touch $@

adapters: $(ADAPTERS:%=adapters/%/adapter.gguf)  ## train the python and math LoRA adapters (CPU)

adapters/%/adapter.gguf: $(ADAPTER_SOURCES) | $(VENV)/.installed
	$(BIN)/hi-moe adapters build-data $* --out adapters/data/$*.jsonl
	$(BIN)/hi-moe train-adapter $* --data adapters/data/$*.jsonl --steps $(ADAPTER_STEPS_$*) --out adapters/$*

run: setup adapters  ## solve one problem on the embedded local model (SmolLM2-135M via llama.cpp)
	$(BIN)/hi-moe solve --problem $(PROBLEM)

mock: setup  ## solve every built-in problem with the scripted fake model (instant)
	$(BIN)/hi-moe solve --mock --all

test: setup adapters  ## unit and integration tests
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

bench: setup  ## every benchmark suite into .hi_moe/bench/report.md; BENCH_ARGS=--fast skips the real model
	$(BIN)/hi-moe bench $(BENCH_ARGS)

clean:
	rm -rf .hi_moe .pytest_cache .ruff_cache
