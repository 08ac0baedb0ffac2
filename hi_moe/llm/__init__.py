"""Talking to models: the OpenAI-compatible client, endpoints per tier, the embedded llama.cpp
server and its model files, prompts, answer extraction, per-tier calls, the call log, pricing
and the Modal endpoint's status.
"""
