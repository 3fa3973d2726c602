"""Fixtures of the registry client tests: a docker config directory of the test's own,
unique repository names in the session's CNCF registries, a fault-injecting proxy
(faultproxy.py) in front of the plain registry, and the CNCF registry in token mode with
a token server (tokenserver.py)."""

from __future__ import annotations

import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import peers  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402
from tokenserver import ISSUER, SERVICE, TokenServer  # noqa: E402


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DOCKER_CONFIG for this test (for the library and for CLI subprocesses)."""
    directory = tmp_path / "docker-config"
    directory.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))
    return directory


@pytest.fixture
def repo() -> str:
    """A repository name no other test of the session uses."""
    return f"test/{uuid.uuid4().hex[:10]}"


@pytest.fixture
def fault_proxy(docker_registry) -> Iterator[FaultProxy]:
    proxy = FaultProxy(docker_registry.address)
    yield proxy
    proxy.close()


@dataclass
class TokenRegistry:
    """The CNCF registry in `auth: token` mode, and the token server it trusts."""

    address: str
    tokens: TokenServer
    proc: subprocess.Popen


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenRegistry]:
    home = tmp_path_factory.mktemp("token-registry")
    tokens = TokenServer("tokenuser", secrets.token_hex(8), home)
    port = peers.free_port()
    (home / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {home / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: {secrets.token_hex(16)}\n"
        f"auth:\n  token:\n    realm: {tokens.realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n"
        f"    rootcertbundle: {tokens.cert_path}\n")
    with open(home / "registry.log", "wb") as log:
        proc = subprocess.Popen(["docker-registry", "serve", str(home / "config.yml")], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    registry = peers.Registry(home=home, proc=proc, port=port)
    try:
        peers.wait_until(registry.ready, 30, "docker-registry (token auth)", alive=lambda: proc.poll() is None,
                         log=home / "registry.log")
        yield TokenRegistry(registry.address, tokens, proc)
    finally:
        peers.stop_process(proc)
        tokens.close()


@pytest.fixture(scope="module")
def pybuild_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bundled server, `pybuild registry serve`, on 127.0.0.1; its address."""
    home = tmp_path_factory.mktemp("pybuild-registry")
    port = peers.free_port()
    with open(home / "serve.log", "wb") as log:
        proc = subprocess.Popen(
            [*peers.base_images.pybuild_command(), "registry", "serve", "--addr", f"127.0.0.1:{port}",
             "--root", str(home / "root")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    registry = peers.Registry(home=home, proc=proc, port=port)
    try:
        peers.wait_until(registry.ready, 30, "pybuild registry serve", alive=lambda: proc.poll() is None,
                         log=home / "serve.log")
        yield registry.address
    finally:
        peers.stop_process(proc)


@pytest.fixture(scope="module")
def token_mode_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """`pybuild registry serve` in token mode with users alice, bob and root (admin), as
    tests/registry_auth starts it; `bob/*` and `library/*` are public."""
    sys.path.insert(0, str(Path(__file__).parent.parent / "registry_auth"))
    from authtest import start_auth_server, stop_auth_server

    server = start_auth_server(tmp_path_factory.mktemp("token-mode") / "root", public="bob/*,library/*")
    yield server
    stop_auth_server(server)
