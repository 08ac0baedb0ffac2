"""Test doubles for an endpoint: the fake endpoint (with injected faults) and the scripted model
that answers the built-in problems.
"""
