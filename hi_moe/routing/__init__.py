"""Choosing specialists: the fleet registry (fleet.toml), embeddings, the Chroma-backed router
and its classifier, the routine cache, the routing log and its training export.
"""
