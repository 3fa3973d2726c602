"""Fixtures for the store tests: a fresh store root per test, small root filesystem
tars made here with tarfile, and the pybuild command line run in-process."""

from __future__ import annotations

import io
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYBUILD = REPO / ".venv" / "bin" / "pybuild"


@dataclass
class Result:
    code: int
    out: str
    err: str


def make_rootfs_tar(files: dict[str, bytes | str | None], *, compression: str = "") -> bytes:
    """A tar of `files` (path → content; None for a directory), with parent
    directories first, as a rootfs tar from `tar -C root -c .` would have them."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        made: set[str] = set()
        for path, content in files.items():
            parts = path.strip("/").split("/")
            for i in range(1, len(parts) + (content is None)):
                directory = "/".join(parts[:i])
                if directory not in made:
                    info = tarfile.TarInfo(directory)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
                    tar.addfile(info)
                    made.add(directory)
            if content is not None:
                data = content.encode() if isinstance(content, str) else content
                info = tarfile.TarInfo(path.strip("/"))
                info.size, info.mode, info.mtime = len(data), 0o755, 1_700_000_000
                tar.addfile(info, io.BytesIO(data))
    data = raw.getvalue()
    if compression == "gzip":
        import gzip

        return gzip.compress(data)
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(data)
    if compression == "xz":
        import lzma

        return lzma.compress(data)
    return data


@pytest.fixture
def store_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "store"
    monkeypatch.setenv("PYBUILD_ROOT", str(root))
    return root


@pytest.fixture
def rootfs_tar(tmp_path):
    counter = iter(range(1_000_000))

    def make(files: dict[str, bytes | str | None] | None = None, compression: str = "") -> Path:
        files = files if files is not None else {"bin/sh": "#!fake shell\n", "etc/hostname": "box\n"}
        path = tmp_path / f"rootfs-{next(counter)}.tar"
        path.write_bytes(make_rootfs_tar(files, compression=compression))
        return path

    return make


@pytest.fixture
def cli(store_root, capsys):
    """Run `pybuild ARGS…` in this process (fast); returns code, stdout, stderr."""
    from pybuild.main import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def pybuild_process(store_root):
    """Run `pybuild ARGS…` as a real process, as a user or a script runs it."""

    def run(*args: str, env: dict | None = None, input: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(PYBUILD), *map(str, args)], env=env, input=input, capture_output=True,
                              timeout=120, check=False)

    return run
