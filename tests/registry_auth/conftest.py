"""A registry with users alice and bob (role user) and root (admin), token auth on;
public repositories (pulled by every user) are `bob/*` and `library/*`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from authtest import AuthServer, start_auth_server, stop_auth_server  # noqa: E402


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    server = start_auth_server(tmp_path_factory.mktemp("registry") / "root",
                               public="bob/*,library/*",
                               throttle_base_delay="0.3", throttle_max_delay="1.2")
    yield server
    stop_auth_server(server)
