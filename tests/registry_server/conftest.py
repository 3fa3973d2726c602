"""A real `pybuild registry serve` per test module: two workers sharing one store, so the
requests of one test land in both processes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from regtest import Server, start_server, stop_server  # noqa: E402


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("registry") / "root")
    yield server
    stop_server(server)
