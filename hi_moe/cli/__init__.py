"""The `hi-moe` command: main.py builds the parser and dispatches to the command functions of
runs.py (solve, resume, threads), evals.py (comparisons and reports), tools.py (local model,
Modal, datasets, bench) and adapters.py (which also registers its own `adapters` subcommands).
"""
