"""Fixtures for the layer tests; helpers live in layer_helpers.py (importable because this
directory is put on sys.path, as tests/conftest.py does for peers.py)."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def arena(tmp_path: Path) -> tuple[Path, Path]:
    """(target, outside): an empty target and, next to it, a directory with a secret file
    that no layer applied to target may touch."""
    target = tmp_path / "target"
    outside = tmp_path / "outside"
    target.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("secret\n")
    os.chmod(outside / "secret", 0o600)
    return target, outside
