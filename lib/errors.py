"""The one exception type for bad input: its message names the problem and the fix."""


class UserError(Exception):
    """Raised for a problem the user can fix (bad flag, missing data, impossible schedule).

    The CLI prints its message on one line and exits non-zero, without a traceback.
    """
