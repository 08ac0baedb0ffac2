"""The one exception family the CLI reports as a clear error line instead of a traceback."""


class UserError(Exception):
    """Something the user can fix: bad input, a missing file, an endpoint that is down."""
