"""Blob bytes on the filesystem, content-addressed once for all repositories:
`blobs/<alg>/<hex>`. A blob only ever appears there by rename of a file whose digest was
checked and which was fsynced, so a reader (or a restart after kill -9) never sees a
half-written or wrong blob. Upload sessions are files under `uploads/`; their bytes are
appended under an exclusive flock, so several worker processes (or two PATCHes racing)
cannot interleave writes to one session.

The sha256 of a session is computed while its bytes arrive and kept per process; when a
session's next request lands in another worker (or after a restart) that worker hashes the
file once from disk and carries on."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import uuid as uuidlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from oci.digest import hasher_digest, new_hasher, split_digest
from oci.errors import UserError
from registry_server.metadata import Metadata

READ_SIZE = 1 << 20
# Upload session ids are uuid4 hex strings: anything else in a URL is unknown, never a path.
UUID_LENGTH = 32
MANIFEST_CACHE_BYTES = 64 << 20
MAX_HASH_STATES = 1024


class UploadBusy(Exception):
    """Another request is writing to this upload session right now."""


def is_upload_id(value: str) -> bool:
    return len(value) == UUID_LENGTH and all(c in "0123456789abcdef" for c in value)


def hash_file(path: Path, algorithm: str) -> str:
    hasher = new_hasher(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(READ_SIZE):
            hasher.update(chunk)
    return hasher_digest(hasher)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class _HashState:
    size: int
    hasher: "hashlib._Hash"


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.blobs = root / "blobs"
        self.uploads = root / "uploads"
        for directory in (self.blobs, self.uploads):
            directory.mkdir(parents=True, exist_ok=True)
        self._hashes: OrderedDict[str, _HashState] = OrderedDict()
        self._manifest_cache: OrderedDict[str, bytes] = OrderedDict()
        self._manifest_cache_bytes = 0

    def path(self, digest: str) -> Path:
        algorithm, encoded = split_digest(digest)
        return self.blobs / algorithm / encoded

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def upload_path(self, upload_id: str) -> Path:
        return self.uploads / upload_id

    def new_upload(self) -> str:
        upload_id = uuidlib.uuid4().hex
        self.upload_path(upload_id).touch(exist_ok=False)
        return upload_id

    def upload_size(self, upload_id: str) -> int:
        return self.upload_path(upload_id).stat().st_size

    def open_upload(self, upload_id: str) -> "UploadWriter":
        return UploadWriter(self, upload_id)

    def discard_upload(self, upload_id: str) -> None:
        self.forget_hash(upload_id)
        self.upload_path(upload_id).unlink(missing_ok=True)

    def hash_state(self, upload_id: str, size: int) -> _HashState | None:
        """This process's running hash of an upload, if it covers exactly `size` bytes
        (another worker may have appended since)."""
        state = self._hashes.get(upload_id)
        return state if state is not None and state.size == size else None

    def remember_hash(self, upload_id: str, state: _HashState) -> None:
        self._hashes[upload_id] = state
        self._hashes.move_to_end(upload_id)
        # Abandoned sessions would pile up; a session whose state was dropped is rehashed.
        while len(self._hashes) > MAX_HASH_STATES:
            self._hashes.popitem(last=False)

    def forget_hash(self, upload_id: str) -> None:
        self._hashes.pop(upload_id, None)

    def install(self, source: Path, digest: str) -> None:
        """Move a verified, fsynced file to its content address. Two uploads of one blob
        may race here: both renames are atomic and the bytes are the same."""
        target = self.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            # A fresh mtime tells garbage collection the blob was just pushed again.
            os.utime(target)
            source.unlink(missing_ok=True)
            return
        os.utime(source)  # the session may have been written long ago: the blob is new
        os.rename(source, target)
        _fsync_dir(target.parent)

    def write_small(self, data: bytes, digest: str) -> None:
        """Store a small blob (a manifest) atomically: temp file, fsync, rename."""
        if self.exists(digest):
            os.utime(self.path(digest))  # just pushed again, as `install` records it
            return
        temp = self.uploads / f"tmp-{uuidlib.uuid4().hex}"
        try:
            with open(temp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self.install(temp, digest)
        finally:
            temp.unlink(missing_ok=True)

    def read_manifest(self, digest: str) -> bytes:
        """Manifest bytes by digest; content never changes, so a per-process cache is
        always right."""
        data = self._manifest_cache.get(digest)
        if data is not None:
            self._manifest_cache.move_to_end(digest)
            return data
        data = self.path(digest).read_bytes()
        self._manifest_cache[digest] = data
        self._manifest_cache_bytes += len(data)
        while self._manifest_cache_bytes > MANIFEST_CACHE_BYTES:
            _, evicted = self._manifest_cache.popitem(last=False)
            self._manifest_cache_bytes -= len(evicted)
        return data


class UploadWriter:
    """Appends to one upload session while holding its flock; use as a context manager."""

    def __init__(self, store: BlobStore, upload_id: str) -> None:
        self._store = store
        self.upload_id = upload_id
        self.path = store.upload_path(upload_id)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise UploadBusy(upload_id) from None
        self.size = os.fstat(self._fd).st_size
        self._hash = store.hash_state(upload_id, self.size)

    def __enter__(self) -> "UploadWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            if self._hash is not None and self._hash.size == self.size:
                self._store.remember_hash(self.upload_id, self._hash)
            else:
                self._store.forget_hash(self.upload_id)
            os.close(self._fd)  # releases the flock
            self._fd = -1

    async def sync_hash(self) -> None:
        """Make the running sha256 cover the bytes already in the file."""
        if self._hash is None:
            loop = asyncio.get_running_loop()
            hasher = await loop.run_in_executor(None, self._hash_prefix)
            self._hash = _HashState(self.size, hasher)

    def _hash_prefix(self):
        hasher = hashlib.sha256()
        with open(self.path, "rb") as f:
            remaining = self.size
            while remaining:
                chunk = f.read(min(READ_SIZE, remaining))
                if not chunk:
                    break
                hasher.update(chunk)
                remaining -= len(chunk)
        return hasher

    def append(self, chunks: list[bytes]) -> None:
        """Write `chunks` at the end in one writev; `sync_hash` must have run first."""
        assert self._hash is not None
        total = sum(map(len, chunks))
        written = os.writev(self._fd, chunks)
        if written < total:  # a short writev (signal, full disk) leaves the rest to write
            rest = memoryview(b"".join(chunks))[written:]
            while rest:
                rest = rest[os.write(self._fd, rest):]
        for chunk in chunks:
            self._hash.hasher.update(chunk)
        self.size += total
        self._hash.size = self.size

    def truncate(self, size: int) -> None:
        """Drop bytes after `size` (a chunk that arrived incomplete)."""
        os.ftruncate(self._fd, size)
        self.size = size
        self._hash = None

    async def commit(self, digest: str) -> bool:
        """Verify the whole upload against `digest` and install it as that blob. False
        (and nothing installed) when the bytes do not match."""
        loop = asyncio.get_running_loop()
        algorithm, _ = split_digest(digest)
        if algorithm == "sha256":
            await self.sync_hash()
            assert self._hash is not None
            actual = hasher_digest(self._hash.hasher.copy())
        else:
            actual = await loop.run_in_executor(None, hash_file, self.path, algorithm)
        if actual != digest:
            return False
        await loop.run_in_executor(None, os.fsync, self._fd)
        await loop.run_in_executor(None, self._store.install, self.path, digest)
        self._hash = None
        self._store.forget_hash(self.upload_id)
        return True



class NotARegistryStore(UserError):
    """A --root that holds no registry."""


class Storage:
    """The registry's whole state: blob bytes plus metadata, under one root directory."""

    @classmethod
    def open_existing(cls, root: Path) -> "Storage":
        if not (root / "registry.db").is_file():
            raise NotARegistryStore(f"{root}: not a registry store (no registry.db)")
        return cls(root)

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.blobs = BlobStore(root)
        self.meta = Metadata(root / "registry.db")

    def close(self) -> None:
        self.meta.close()
