"""Running untrusted generated code: the isolated child process (local or on Modal), the channel
to it, the session that proxies calls, the checks that compute verdicts in the parent, and a
candidate's verdict on visible tests (visible.py). For classes (ClassEval): handles to the
candidate's objects (remote_objects.py, values.py) and the class checks (class_checks.py, with
its trusted test process class_runner.py).
"""
