"""What is solved and how it is graded: problems and their sources, multi-part projects,
datasets by name, generated math, GSM8K conversion, training/evaluation splits, grading.
"""
