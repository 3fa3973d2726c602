"""A registry with accounts (alice, bob: users; root: admin), anonymous pull of the
public repositories `library/*` and `team/*`, and a few images pushed by root with
descriptions in their labels."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "registry_auth"))

from authtest import AuthServer, start_auth_server, stop_auth_server  # noqa: E402


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    server = start_auth_server(tmp_path_factory.mktemp("registry") / "root",
                               anonymous_pull="true", public="library/*,team/*")
    yield server
    stop_auth_server(server)
