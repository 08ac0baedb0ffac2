"""Running untrusted generated code: the isolated child process (local or on Modal), the channel
to it, the session that proxies calls, the checks that compute verdicts in the parent, and a
candidate's verdict on visible tests (visible.py).
"""
