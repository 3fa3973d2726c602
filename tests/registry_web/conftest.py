"""One registry (with accounts) and one headless Chromium per test module."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from webtest import WebRegistry, start_chromium, start_registry, stop  # noqa: E402


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebRegistry]:
    server = start_registry(tmp_path_factory.mktemp("web") / "root")
    yield server
    stop(server.proc)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()
