"""Fixtures for the build-engine tests; helpers live in build_helpers.py (importable because
this directory is put on sys.path, as tests/conftest.py does for peers.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import build_helpers  # noqa: E402


@pytest.fixture(scope="session")
def busybox_tree(busybox_rootfs_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox rootfs unpacked once per session; copy it before writing into it."""
    root = tmp_path_factory.mktemp("busybox-rootfs")
    build_helpers.unpack(busybox_rootfs_tar, root)
    return root


@pytest.fixture
def rootfs(busybox_tree: Path, tmp_path: Path) -> Path:
    """A writable copy of the busybox rootfs for one test."""
    target = tmp_path / "rootfs"
    build_helpers.clone_tree(busybox_tree, target)
    return target
