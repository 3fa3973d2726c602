"""Image references parsed exactly as docker parses them (distribution/reference:
`ParseNormalizedNamed` + `TagNameOnly`).

    reference := name [ ":" tag ] [ "@" digest ]
    name      := [domain "/"] path-component ["/" path-component]*
    domain    := host [":" port]   host := domain-name | IPv4 | "[" IPv6 "]"

`nginx` is `docker.io/library/nginx:latest`; the first component is a domain only if it
contains "." or ":", is `localhost`, or has uppercase letters. `index.docker.io` is
`docker.io`. The path may be at most 255 characters (the current distribution/reference
rule; docker 20.10 counted the domain as well)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

from oci.errors import InvalidReference

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

# The grammar of distribution/reference regexp.go. Go's \w is ASCII-only, hence re.ASCII;
# separators use [-]+ (same language as [-]*) so Python's backtracking matcher stays linear.
_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = _ALPHANUMERIC + r"(?:" + _SEPARATOR + _ALPHANUMERIC + r")*"
_REMOTE_NAME = _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_AND_PORT = r"(?:" + _DOMAIN_NAME + "|" + _IPV6 + r")(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_NAME = r"(?:" + _DOMAIN_AND_PORT + r"/)?" + _REMOTE_NAME


@functools.cache
def _regexps() -> tuple[re.Pattern, re.Pattern, re.Pattern]:
    """Compiled on first use (like Go's lazyregexp): importing this module stays cheap."""
    return (
        re.compile(r"(" + _NAME + r")(?::(" + _TAG + r"))?(?:@(" + _DIGEST + r"))?", re.ASCII),
        re.compile(r"(?:(" + _DOMAIN_AND_PORT + r")/)?(" + _REMOTE_NAME + r")", re.ASCII),
        re.compile(_TAG, re.ASCII),
    )


_IDENTIFIER = "[a-f0-9]{64}"
_SHORT_IDENTIFIER = "(?:sha256:)?[a-f0-9]{1,64}"

# go-digest's registered algorithms as docker builds them in, with hex lengths.
_DIGEST_HEX_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128}


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """`docker.io/library/nginx`: the repository with its domain."""
        # The domain is empty in docker's odd case of a first component with a "." that
        # is no valid host (`foo_bar.com/x`): the whole name is then a path.
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def repository(self) -> str:
        return self.name

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out

    def familiar_name(self) -> str:
        """The name as `docker images` prints it: `nginx`, `dmcgowan/app`,
        `localhost:5000/a/b` (docker.io and a single-level library/ dropped)."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        if path.startswith(OFFICIAL_REPO_PREFIX):
            remainder = path[len(OFFICIAL_REPO_PREFIX):]
            if "/" not in remainder:
                return remainder
        return path

    def familiar(self) -> str:
        """The short form of the whole reference: `nginx:latest`, `localhost:5000/a/b:t`."""
        out = self.familiar_name()
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out

    def with_tag(self, tag: str) -> Reference:
        """The same repository (and digest, as docker's WithTag keeps it) with `tag`."""
        if not _regexps()[2].fullmatch(tag):
            raise InvalidReference(f'invalid tag format: "{tag}"')
        return replace(self, tag=tag)

    def with_digest(self, digest: str) -> Reference:
        _validate_digest(digest, digest)
        return replace(self, digest=digest)

    def name_only(self) -> Reference:
        return replace(self, tag=None, digest=None)


def _fail(text: str, message: str) -> InvalidReference:
    """Docker's message, then the input; escaped so the error stays one line."""
    shown = text if len(text) <= 200 else text[:200] + "..."
    line = f'{message}: "{shown}"'
    if not line.isprintable():
        line = line.encode("unicode_escape").decode("ascii")
    return InvalidReference(line)


def _validate_digest(text: str, digest: str) -> None:
    """go-digest's Parse: registered algorithm, exact length, lowercase hex."""
    algorithm, encoded = digest.split(":", 1)
    length = _DIGEST_HEX_LENGTH.get(algorithm)
    if length is None:
        raise _fail(text, "unsupported digest algorithm")
    if len(encoded) != length:
        raise _fail(text, "invalid checksum digest length")
    if not re.fullmatch(r"[a-f0-9]+", encoded):
        raise _fail(text, "invalid checksum digest format")


def _split_docker_domain(name: str) -> tuple[str, str]:
    maybe_domain, slash, maybe_remote = name.partition("/")
    if not slash:
        return DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name
    if maybe_domain == "localhost":
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, maybe_remote
    elif "." in maybe_domain or ":" in maybe_domain:
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain.lower() != maybe_domain:
        # Uppercase is not allowed in a path, so docker takes it as a domain name.
        domain, remote = maybe_domain, maybe_remote
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_REPO_PREFIX + remote
    return domain, remote


def parse_reference(text: str, *, default_tag: bool = True) -> Reference:
    """Parse `text` as docker does; with `default_tag` a reference with neither tag nor
    digest gets `:latest` (docker's TagNameOnly), as `docker pull/run/tag` do."""
    if re.fullmatch(_IDENTIFIER, text):
        raise InvalidReference(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_docker_domain(text)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise _fail(text, f"invalid reference format: repository name ({remote}) must be lowercase")
    full = f"{domain}/{remainder}"
    reference_re, name_re, _ = _regexps()
    match = reference_re.fullmatch(full)
    if match is None:
        lowered = full.lower()
        if lowered != full and reference_re.fullmatch(lowered):
            raise _fail(text, "repository name must be lowercase")
        raise _fail(text, "invalid reference format")
    name, tag, digest = match.groups()
    name_match = name_re.fullmatch(name)
    assert name_match is not None  # the name group already matched this grammar
    domain, path = name_match.groups()
    domain = domain or ""
    if len(path) > NAME_TOTAL_LENGTH_MAX:
        raise _fail(
            text, f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    if digest:
        _validate_digest(text, digest)
    if default_tag and not tag and not digest:
        tag = DEFAULT_TAG
    return Reference(domain=domain, path=path, tag=tag or None, digest=digest or None)


def is_valid_tag(tag: str) -> bool:
    return _regexps()[2].fullmatch(tag) is not None


def is_image_id(text: str) -> bool:
    """True for a full image ID (64 hex, optionally `sha256:`-prefixed) or a prefix of one,
    as `docker inspect 3f2a` accepts. A short hex string is also a valid repository
    name: callers look it up as a reference first, as docker does."""
    return re.fullmatch(_SHORT_IDENTIFIER, text) is not None


def is_full_image_id(text: str) -> bool:
    if text.startswith("sha256:"):
        text = text[len("sha256:"):]
    return re.fullmatch(_IDENTIFIER, text) is not None
