"""Content-addressed blobs under `blobs/<alg>/<hex>`, written once and never changed.

A blob is streamed into a temp file under `tmp/` (the same filesystem), hashed on the
way, and renamed into place only after its digest has been checked and its bytes
fsynced: a reader sees either no file or the whole verified file, and content whose
digest is wrong never reaches `blobs/`."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from oci.digest import hasher_digest, new_hasher, split_digest, validate_digest
from oci.errors import DigestMismatch

CHUNK = 1 << 20


@dataclass(frozen=True)
class BlobInfo:
    digest: str
    size: int


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobWriter:
    """A writable file object for one new blob. `commit()` verifies and publishes it;
    `abort()` (or leaving a `with` block by an exception) throws the temp file away."""

    def __init__(self, blobs: BlobStore, algorithm: str = "sha256") -> None:
        self._blobs = blobs
        self._hasher = new_hasher(algorithm)
        fd, name = tempfile.mkstemp(prefix="blob-", dir=blobs.tmp_dir)
        self._tmp = Path(name)
        self._file = os.fdopen(fd, "wb", buffering=CHUNK)
        self.size = 0
        self._done = False

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self._hasher.update(data)
        self.size += len(data)
        return len(data)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        """Closing is what compressors do to the file they wrap when they finish: it
        must not throw the content away, so only `abort()` or a failed `with` does."""

    @property
    def digest(self) -> str:
        return hasher_digest(self._hasher)

    def commit(self, expected_digest: str | None = None, expected_size: int | None = None) -> BlobInfo:
        if self._done:
            raise RuntimeError("blob writer already finished")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        digest = self.digest
        try:
            if expected_digest is not None and digest != expected_digest:
                raise DigestMismatch(f"blob {expected_digest}: content hashes to {digest}")
            if expected_size is not None and self.size != expected_size:
                raise DigestMismatch(f"blob {digest}: size {self.size}, expected {expected_size}")
            self._blobs.publish(self._tmp, digest)
        finally:
            self._tmp.unlink(missing_ok=True)
            self._done = True
        return BlobInfo(digest, self.size)

    def abort(self) -> None:
        if not self._done:
            self._file.close()
            self._tmp.unlink(missing_ok=True)
            self._done = True

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or not self._done:
            self.abort()


class BlobStore:
    def __init__(self, root: Path, tmp_dir: Path) -> None:
        self.root = root
        self.tmp_dir = tmp_dir

    def path(self, digest: str) -> Path:
        algorithm, hexpart = split_digest(validate_digest(digest))
        return self.root / algorithm / hexpart

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        return self.path(digest).stat().st_size

    def open(self, digest: str) -> BinaryIO:
        return open(self.path(digest), "rb")

    def read(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def writer(self, algorithm: str = "sha256") -> BlobWriter:
        return BlobWriter(self, algorithm)

    def ingest(self, stream: BinaryIO, expected_digest: str | None = None,
               expected_size: int | None = None) -> BlobInfo:
        """Copy `stream` into a new blob, checking it against `expected_digest`."""
        algorithm = split_digest(validate_digest(expected_digest))[0] if expected_digest else "sha256"
        with self.writer(algorithm) as w:
            while chunk := stream.read(CHUNK):
                w.write(chunk)
                if expected_size is not None and w.size > expected_size:
                    raise DigestMismatch(f"blob {expected_digest}: more than {expected_size} bytes")
            return w.commit(expected_digest, expected_size)

    def ingest_bytes(self, data: bytes, expected_digest: str | None = None) -> BlobInfo:
        algorithm = split_digest(validate_digest(expected_digest))[0] if expected_digest else "sha256"
        with self.writer(algorithm) as w:
            w.write(data)
            return w.commit(expected_digest, len(data))

    def publish(self, tmp: Path, digest: str) -> None:
        final = self.path(digest)
        if final.exists():
            return  # same digest, same bytes: the first writer wins
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o644)
        os.rename(tmp, final)
        fsync_dir(final.parent)

    def digests(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for algorithm_dir in self.root.iterdir():
            if algorithm_dir.is_dir():
                for blob in algorithm_dir.iterdir():
                    yield f"{algorithm_dir.name}:{blob.name}"

    def remove(self, digest: str) -> int:
        """Delete one blob; returns the bytes freed (0 when it was already gone)."""
        path = self.path(digest)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size
