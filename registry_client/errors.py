"""Errors of talking to a registry that a user can cause or fix: each is one line."""

from oci.errors import UserError


class RegistryError(UserError):
    """A registry answered with an error; the message is its one-line form."""

    def __init__(self, message: str, status: int | None = None, codes: frozenset[str] = frozenset()):
        super().__init__(message)
        self.status = status
        self.codes = codes


class Unauthorized(RegistryError):
    """Credentials missing or refused (HTTP 401, or 403 from a token server)."""


class NotFound(RegistryError):
    """The repository, manifest, tag or blob does not exist in the registry."""


class RegistryUnreachable(UserError):
    """No connection to the registry (refused, DNS, TLS, timeout)."""


class CredentialsError(UserError):
    """docker's config.json or a credential helper could not be read or written."""
