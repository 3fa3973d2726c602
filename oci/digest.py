"""Content digests as the OCI image spec defines them: plain strings `algorithm:encoded`.

Only the registered algorithms sha256 and sha512 are accepted, each with its exact
lowercase-hex length, so a digest that passes here can be used as a file name under
`blobs/<alg>/` without further checks."""

from __future__ import annotations

import hashlib
import re

from oci.errors import InvalidDigest

# The grammar of the spec (descriptor.md "Digests"), checked before the per-algorithm rule
# so the error can say which part is wrong.
_DIGEST_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_ENCODED = {
    "sha256": re.compile(r"[a-f0-9]{64}"),
    "sha512": re.compile(r"[a-f0-9]{128}"),
}
ALGORITHMS = tuple(_ENCODED)


def validate_digest(digest: str) -> str:
    """Return `digest` unchanged if it is a valid sha256/sha512 digest, else raise."""
    split_digest(digest)
    return digest


def split_digest(digest: str) -> tuple[str, str]:
    """`"sha256:ab…"` → `("sha256", "ab…")`, validating as `validate_digest` does."""
    if not isinstance(digest, str) or not _DIGEST_GRAMMAR.fullmatch(digest):
        raise InvalidDigest(f"invalid digest {digest!r}: expected algorithm:encoded")
    algorithm, encoded = digest.split(":", 1)
    pattern = _ENCODED.get(algorithm)
    if pattern is None:
        raise InvalidDigest(
            f"invalid digest {digest!r}: unsupported algorithm {algorithm!r} "
            f"(supported: {', '.join(ALGORITHMS)})"
        )
    if not pattern.fullmatch(encoded):
        length = 64 if algorithm == "sha256" else 128
        raise InvalidDigest(
            f"invalid digest {digest!r}: {algorithm} needs {length} lowercase hex characters"
        )
    return algorithm, encoded


def is_digest(value: str) -> bool:
    """True if `value` is a digest `validate_digest` accepts."""
    try:
        split_digest(value)
    except InvalidDigest:
        return False
    return True


def new_hasher(algorithm: str = "sha256"):
    """A hashlib object for a registered algorithm (feed it, then `hasher_digest`)."""
    if algorithm not in _ENCODED:
        raise InvalidDigest(
            f"unsupported digest algorithm {algorithm!r} (supported: {', '.join(ALGORITHMS)})"
        )
    return hashlib.new(algorithm)


def hasher_digest(hasher) -> str:
    """The digest string of what a `new_hasher` object has been fed."""
    return f"{hasher.name}:{hasher.hexdigest()}"


def digest_bytes(data: bytes, algorithm: str = "sha256") -> str:
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return hasher_digest(hasher)


def short_id(digest: str) -> str:
    """The 12-character form docker prints for IDs (`stringid.TruncateID`)."""
    encoded = digest.split(":", 1)[-1]
    return encoded[:12]
