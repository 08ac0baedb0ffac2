"""The `hi-moe` command: main.py builds the parser and dispatches; each other module registers
and runs its own group of subcommands.
"""
