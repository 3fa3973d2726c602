import json
import subprocess
from pathlib import Path

import pytest


def run(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout


class Layout:
    """An OCI image layout on disk, read the plain way (json + paths) so tests can
    compare what the model parses with what the file holds."""

    def __init__(self, root: Path):
        self.root = root

    def blob(self, digest: str) -> bytes:
        algorithm, encoded = digest.split(":")
        return (self.root / "blobs" / algorithm / encoded).read_bytes()

    def index_bytes(self) -> bytes:
        return (self.root / "index.json").read_bytes()

    def manifest_digest(self) -> str:
        return json.loads(self.index_bytes())["manifests"][0]["digest"]


@pytest.fixture(scope="module")
def umoci_layout(tmp_path_factory) -> Layout:
    """A two-layer image made by umoci, with a config umoci wrote."""
    work = tmp_path_factory.mktemp("umoci")
    (work / "hello").write_text("hello\n")
    run("umoci", "init", "--layout", "lay", cwd=work)
    run("umoci", "new", "--image", "lay:t1", cwd=work)
    run("umoci", "insert", "--image", "lay:t1", "hello", "/hello", cwd=work)
    run(
        "umoci", "config", "--image", "lay:t1", "--author", "me",
        "--config.cmd=/bin/sh", "--config.env=A=1", "--config.label=x=y",
        "--config.exposedports=80/tcp", "--config.volume=/data", "--config.workingdir=/w",
        cwd=work,
    )
    run("umoci", "insert", "--image", "lay:t1", "hello", "/hello2", cwd=work)
    return Layout(work / "lay")
