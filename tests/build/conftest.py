"""Fixtures for the build-solver tests. The filesystem listings shared with the planning
tests come from tests/build_plan/build_helpers.py."""

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "build_plan"))


@pytest.fixture
def context(tmp_path: Path) -> Callable[..., Path]:
    """`context(dockerfile_text, {"path/in/context": content, ...})` writes a build
    context directory and returns it."""

    def make(dockerfile: str, files: dict[str, str | bytes] | None = None, name: str = "ctx") -> Path:
        root = tmp_path / name
        root.mkdir()
        (root / "Dockerfile").write_text(dockerfile)
        for rel, content in (files or {}).items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
        return root

    return make
