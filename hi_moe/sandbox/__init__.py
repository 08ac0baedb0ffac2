"""Running untrusted generated code: the isolated child process (local or on Modal), the channel
to it, the session that proxies calls, and the checks that compute verdicts in the parent.
"""
