"""The `hi-moe` command: main.py builds the top-level parser and dispatches; runs.py (solve,
resume, threads), tools.py (local model, Modal, datasets, bench), evals.py (comparisons and reports)
and adapters.py (train-adapter, adapters) each register their own subcommands with their handlers,
from the shared options of options.py.
"""
