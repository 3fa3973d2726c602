"""Registry names as users type them: `docker login` accepts `host:port`,
`https://host:port/v1/` and nothing at all (Docker Hub)."""

from __future__ import annotations

from oci.errors import UserError
from oci.reference import DEFAULT_DOMAIN, Reference, parse_reference
from registry_client.credentials import DOCKER_HUB_DOMAINS, hostname_of_key


def registry_host(text: str | None) -> str:
    """`None`/`docker.io`/`https://index.docker.io/v1/` → `docker.io`; `http://h:5000/` → `h:5000`."""
    if not text:
        return DEFAULT_DOMAIN
    host = hostname_of_key(text.strip())
    if not host:
        raise UserError(f"invalid registry name {text!r}")
    return DEFAULT_DOMAIN if host in DOCKER_HUB_DOMAINS else host


def remote_reference(text: str) -> Reference:
    """A reference to a registry image: `name[:tag][@digest]` with docker's defaults."""
    return parse_reference(text)


def repository_reference(text: str) -> Reference:
    """A repository (`ls REPO`): a tag or digest is ignored, none is added."""
    return parse_reference(text, default_tag=False).name_only()
