"""The one exception family the CLI reports as a clear error line instead of a traceback."""

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """Something the user can fix: bad input, a missing file, an endpoint that is down."""
