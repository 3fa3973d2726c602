"""The spec's rules for repository names, tags and manifest references, as pure
functions raising `RegistryError` with the matching code."""

from __future__ import annotations

import re

from oci.digest import is_digest
from registry_server.errors import Err, RegistryError

# distribution-spec v1.1 "Pulling manifests": path components of lowercase alphanumerics
# joined by `.`, `_`, `__` or runs of `-`; so `.`, `..` and empty components never match.
_NAME = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*")
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
# Clients join `host[:port]/` and the name and many cap the whole at 255 characters.
MAX_NAME_LENGTH = 255


def validate_name(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH or not _NAME.fullmatch(name):
        raise RegistryError(Err.NAME_INVALID, f"invalid repository name {name[:300]!r}")
    return name


def is_tag(reference: str) -> bool:
    return bool(_TAG.fullmatch(reference))


def validate_tag(tag: str) -> str:
    if not is_tag(tag):
        raise RegistryError(Err.TAG_INVALID, f"invalid tag {tag[:300]!r}")
    return tag


def validate_digest(digest: str) -> str:
    if not is_digest(digest):
        raise RegistryError(Err.DIGEST_INVALID, f"invalid digest {digest[:300]!r}")
    return digest


def parse_reference(reference: str) -> tuple[str | None, str | None]:
    """A manifest reference is a tag or a digest: return `(tag, None)` or `(None, digest)`."""
    if ":" in reference:
        return None, validate_digest(reference)
    return validate_tag(reference), None
