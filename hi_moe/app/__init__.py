"""Running the graph on problems: a solve (run and grade), batches, the run registry, training
data built from runs, checkpoint pruning and terminal display.
"""
