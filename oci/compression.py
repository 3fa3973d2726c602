"""Layer compression: reading any compressed tar by its magic bytes, and writing layers that
are digested while they stream.

gzip output is deterministic: a fixed 10-byte header (no file name, mtime 0, OS "unknown",
as Go's compress/gzip writes it), raw deflate at a fixed level, CRC32 and size trailer. The
deflate library is python-isal (`isal`, ISA-L) at its default level 2: `bench/compression.py`
measured it ~14x faster than stdlib zlib level 6 (docker's default) for ~13% larger blobs.
Compressed bytes depend on the library and level, and ISA-L's also on the CPU: it picks
its deflate kernels at run time by CPU features (base C, SSE4.2, AVX2, AVX-512) and does
not promise identical output across them (docs/layers.md has the evidence). So
`LayerWriter(..., portable=True)`, which builds with SOURCE_DATE_EPOCH ask for, deflates
with stdlib zlib at level 1 instead: zlib's output depends only on the zlib implementation,
its version and the parameters. The same level is the fallback where isal has no wheel, so such a
machine writes the portable bytes too.
zstd uses the `zstandard` library single-threaded at level 3 (zstd's default).
"""

from __future__ import annotations

import bz2
import hashlib
import io
import lzma
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

import zstandard

try:
    from isal import igzip_threaded, isal_zlib as _deflate

    def _open_gzip(source: BinaryIO) -> BinaryIO:
        # Decompression on a worker thread overlaps it with whatever consumes the stream.
        return igzip_threaded.open(source, "rb", threads=1)

    _GZIP_BACKEND, GZIP_LEVEL = "isal", 2
except ImportError:  # pragma: no cover - exercised only where isal has no wheel
    import gzip

    def _open_gzip(source: BinaryIO) -> BinaryIO:
        return gzip.open(source, "rb")

    _deflate = zlib
    _GZIP_BACKEND, GZIP_LEVEL = "zlib", 1

PORTABLE_GZIP_LEVEL = 1
ZSTD_LEVEL = 3
_BLOCK = 1 << 20

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
_MAGIC_LEN = 6

# ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255 (unknown): what Go's gzip.Writer emits.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def gzip_backend() -> str:
    """Name of the deflate library in use ("isal" or "zlib")."""
    return _GZIP_BACKEND


def detect_compression(head: bytes) -> str | None:
    """"gzip", "zstd", "bzip2", "xz" or None (plain) from the first bytes of a stream."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC) or (head[1:4] == b"\x2a\x4d\x18" and head[0] & 0xF0 == 0x50):
        # The second form is a zstd skippable frame, which may lead a zstd stream.
        return "zstd"
    if head.startswith(BZIP2_MAGIC):
        return "bzip2"
    if head.startswith(XZ_MAGIC):
        return "xz"
    return None


class _Prefixed(io.RawIOBase):
    """`fileobj` with the bytes already read to sniff its magic put back in front, so the
    magic can be detected on pipes and sockets that cannot seek."""

    def __init__(self, prefix: bytes, fileobj: BinaryIO) -> None:
        self._prefix = prefix
        self._fileobj = fileobj

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._fileobj.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            if size is None or size < 0:
                data, self._prefix = self._prefix + self._fileobj.read(), b""
                return data
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return self._fileobj.read(size)


def open_decompressed(fileobj: BinaryIO) -> BinaryIO:
    """A readable stream of `fileobj`'s uncompressed bytes, whatever its compression
    (gzip incl. multi-member, zstd incl. several frames, bzip2, xz, or none). Close it
    when done (it may own a worker thread); that never closes `fileobj`."""
    peek = getattr(fileobj, "peek", None)
    head = peek(_MAGIC_LEN)[:_MAGIC_LEN] if peek else b""
    if peek and len(head) >= _MAGIC_LEN:
        source: BinaryIO = _Prefixed(b"", fileobj)
    else:
        head = _read_up_to(fileobj, _MAGIC_LEN)
        source = _Prefixed(head, fileobj)
    kind = detect_compression(head)
    if kind == "gzip":
        return _open_gzip(source)
    if kind == "zstd":
        return zstandard.ZstdDecompressor(max_window_size=1 << 31).stream_reader(
            source, read_size=1 << 20, read_across_frames=True, closefd=False
        )
    if kind == "bzip2":
        return bz2.BZ2File(source, "rb")
    if kind == "xz":
        return lzma.LZMAFile(source, "rb")
    return source


def _read_up_to(fileobj: BinaryIO, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = fileobj.read(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


@dataclass(frozen=True)
class LayerDigests:
    """`digest`/`size` describe the blob as stored and pushed; `diff_id` is the sha256 of the
    uncompressed tar, which the image config lists in rootfs.diff_ids."""

    digest: str
    size: int
    diff_id: str


class _DeterministicGzip:
    def __init__(self, portable: bool) -> None:
        self._deflate = (zlib.compressobj(PORTABLE_GZIP_LEVEL, zlib.DEFLATED, -15) if portable
                         else _deflate.compressobj(GZIP_LEVEL, zlib.DEFLATED, -15))
        self._crc = 0
        self._length = 0
        self._started = False

    def compress(self, data) -> bytes:
        self._crc = _deflate.crc32(data, self._crc)
        self._length += len(data)
        out = self._deflate.compress(data)
        if not self._started:
            self._started = True
            return _GZIP_HEADER + out
        return out

    def flush(self) -> bytes:
        head = b"" if self._started else _GZIP_HEADER
        self._started = True
        trailer = struct.pack("<II", self._crc & 0xFFFFFFFF, self._length & 0xFFFFFFFF)
        return head + self._deflate.flush() + trailer


class _Identity:
    def compress(self, data) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


class LayerWriter:
    """A writable file object taking an uncompressed layer tar; it writes the compressed blob
    to `dst` and `close()` returns its digest, size and the diff ID, all from one pass.

    `compression` is "gzip", "zstd" or None (the blob is the tar itself). The compressor is
    always fed whole 1 MiB blocks, whatever the sizes of the writes: ISA-L's deflate output
    depends on how its input is split, and a pipe or socket splits it differently each run,
    so without this the same tar could get a different blob digest.

    `portable=True` (for builds with SOURCE_DATE_EPOCH) makes the gzip blob the same on
    every machine with the same zlib version, whatever its CPU, at some cost in speed
    (docs/layers.md has the numbers). It changes nothing for zstd or no compression."""

    def __init__(self, dst: BinaryIO, compression: str | None = "gzip", *, portable: bool = False) -> None:
        if compression == "gzip":
            self._compressor = _DeterministicGzip(portable)
        elif compression == "zstd":
            self._compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compressobj()
        elif compression is None:
            self._compressor = _Identity()
        else:
            raise ValueError(f"unsupported layer compression {compression!r}")
        self._dst = dst
        self._uncompressed = hashlib.sha256()
        self._compressed = hashlib.sha256()
        self._size = 0
        self._pending = bytearray()
        self._result: LayerDigests | None = None

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self._result is not None:
            raise ValueError("write to a closed LayerWriter")
        self._uncompressed.update(data)
        view = memoryview(data).cast("B")
        size = len(view)
        if self._pending:
            taken = _BLOCK - len(self._pending)
            self._pending += view[:taken]
            view = view[taken:]
            if len(self._pending) < _BLOCK:
                return size
            self._emit(self._compressor.compress(self._pending))
            self._pending = bytearray()
        while len(view) >= _BLOCK:
            self._emit(self._compressor.compress(view[:_BLOCK]))
            view = view[_BLOCK:]
        if view:
            self._pending += view
        return size

    def _emit(self, out: bytes) -> None:
        if out:
            self._compressed.update(out)
            self._size += len(out)
            self._dst.write(out)

    def close(self) -> LayerDigests:
        """Finish the compressed stream (not `dst` itself) and return the digests."""
        if self._result is None:
            if self._pending:
                self._emit(self._compressor.compress(self._pending))
            self._emit(self._compressor.flush())
            self._result = LayerDigests(
                digest="sha256:" + self._compressed.hexdigest(),
                size=self._size,
                diff_id="sha256:" + self._uncompressed.hexdigest(),
            )
        return self._result

    @property
    def closed(self) -> bool:
        return self._result is not None

    def __enter__(self) -> LayerWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
