"""Evaluation and benchmark programs, reachable from the `hi-moe` CLI."""
