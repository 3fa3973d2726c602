"""`login` and `logout`: check credentials against a registry the way docker does
(GET /v2/, answering its Basic or Bearer challenge) and keep them in docker's
config.json, where docker finds them too."""

from __future__ import annotations

from pathlib import Path

from registry_client.client import RegistryClient
from registry_client.credentials import Credentials, DockerConfig
from registry_client.transport import Options


def login(registry: str, username: str, password: str, options: Options | None = None) -> Credentials:
    """Verify `username`/`password` with `registry` and store them; raises Unauthorized
    (`unauthorized: …`) when the registry refuses them. Returns what was stored: an
    identity token instead of the password when the token server issued one."""
    options = options or Options()
    credentials = Credentials(username=username, password=password)
    with RegistryClient(registry, options, credentials=credentials) as client:
        client.ping(offline_token=True)
        refresh = client.transport.auth.received_refresh_token
    if refresh:
        credentials = Credentials(username=username, identity_token=refresh)
    DockerConfig(options.docker_config).store(registry, credentials)
    return credentials


def logout(registry: str, docker_config: Path | None = None) -> bool:
    """Forget the login for `registry`; False when there was none."""
    return DockerConfig(docker_config).erase(registry)
