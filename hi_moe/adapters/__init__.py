"""Specialist LoRA adapters: the training data file format, metadata and checks, the base
model, training and GGUF export.
"""
