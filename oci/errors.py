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


class InvalidDigest(UserError):
    """A digest string that is not `algorithm:encoded` with a registered algorithm."""


class InvalidManifest(UserError):
    """Manifest or index JSON that breaks the OCI / Docker schema 2 rules."""


class InvalidImageConfig(UserError):
    """Image config JSON that cannot be read as an image config."""


class InvalidChange(UserError):
    """A `--change` line that docker import/commit would refuse."""


class BlobNotFound(UserError):
    """A digest an image refers to whose content is not in the local store."""


class ImageConflict(UserError):
    """A removal docker would refuse without --force (e.g. an image in several repositories)."""


class InvalidArchive(UserError):
    """An image archive (docker save / OCI layout tar) that cannot be read."""


class InvalidLayer(UserError):
    """A layer that is not a well-formed tar stream, or one whose entries cannot be applied."""
