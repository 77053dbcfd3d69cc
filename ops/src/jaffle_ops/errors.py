"""The platform's one error type, apart so that modules the CLI loads lazily (images) can raise it."""


class PlatformError(RuntimeError):
    """A problem the user can act on; the CLI prints it without a traceback."""
