"""User-facing errors: the CLI prints them on one line and exits with code 2."""


class SvdStoryError(Exception):
    """A problem with the user's input (a bad option, a missing file, ...), not a bug."""
