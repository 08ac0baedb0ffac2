"""The one exception family the CLI reports as a clear error line instead of a traceback."""

EXIT_INCOMPLETE = 1
"""A batch ended with problems unfinished; the same command with its run id resumes them."""
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """Something the user can fix: bad input, a missing file, an endpoint that is down."""
