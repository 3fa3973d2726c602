"""Errors a user can cause. Every package's user-facing errors derive from UserError so
the command line can print them as one line and exit non-zero, while anything else
(an internal bug) keeps its traceback."""


class UserError(Exception):
    """An error caused by input: its message is the whole story for the user."""

    exit_code = 1


class InvalidReference(UserError):
    """An image reference that docker would reject."""


class DigestMismatch(UserError):
    """Content whose bytes do not hash to the digest it claims."""


class ImageNotFound(UserError):
    """A reference that names no image in the local store."""


class UnsafeLayer(UserError):
    """A layer tar entry that would write outside the target directory."""
