"""Streaming tar reading for layers: one forward pass over any readable stream, in 1 MiB
reads, hashing every byte read so the diff ID comes for free.

Iterate a `TarReader` to get `TarEntry`s; while an entry is current its data can be copied
out with `copy_data`; whatever is not read is skipped when iteration moves on. PAX extended
headers (per entry; global ones are ignored, as containerd does), GNU long names and links
are folded into the entry they describe.
"""

from __future__ import annotations

import hashlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, Callable, Iterator

from oci.errors import InvalidLayer
from oci.tarformat import (
    BLOCK_SIZE,
    GNU_LONGLINK,
    GNU_LONGNAME,
    HEADER_ONLY_TYPES,
    PAX_GLOBAL,
    PAX_HEADER,
    HeaderError,
    TarEntry,
    build_entry,
    decode_header,
    padding,
    parse_pax,
)

_CHUNK = 1 << 20
_HASH_BACKLOG = 8
_ZERO_BLOCK = bytes(BLOCK_SIZE)
# Metadata entries (PAX, GNU long names) larger than this are refused, not buffered.
_MAX_METADATA = 16 << 20


class TarReader:
    """Entries of the tar stream `stream`; `finish()` gives the sha256 of all bytes read.

    Hashing runs on a worker thread (hashlib drops the GIL for large buffers), so it
    overlaps with extraction instead of adding to it. Use as a context manager, or call
    `finish()` or `close()`, so the worker stops."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._hash = hashlib.sha256()
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="diff-id")
        self._hashing: deque[Future] = deque()
        self._chunk = b""
        self._view = memoryview(b"")
        self._pos = 0
        self._data_left = 0
        self._pad_left = 0
        self._current = "(start of archive)"

    def _fill(self) -> bool:
        chunk = self._stream.read(_CHUNK)
        if not chunk:
            return False
        # One worker runs submissions in order, so the hash sees the stream in order; at most
        # _HASH_BACKLOG chunks wait, so a fast reader cannot pile the stream up in memory.
        self._hashing.append(self._hasher.submit(self._hash.update, chunk))
        if len(self._hashing) > _HASH_BACKLOG:
            self._hashing.popleft().result()
        self._chunk = chunk
        self._view = memoryview(chunk)
        self._pos = 0
        return True

    def _take(self, size: int) -> memoryview:
        """Up to `size` bytes (fewer only at a chunk boundary; empty at end of stream)."""
        if self._pos >= len(self._chunk) and not self._fill():
            return memoryview(b"")
        piece = self._view[self._pos:self._pos + size]
        self._pos += len(piece)
        return piece

    def _read_exact(self, size: int) -> bytes | None:
        """Exactly `size` bytes, or None at a clean end of stream before any byte."""
        piece = self._take(size)
        if len(piece) == size:
            return bytes(piece)
        if not piece:
            return None
        parts = [bytes(piece)]
        got = len(piece)
        while got < size:
            piece = self._take(size - got)
            if not piece:
                raise InvalidLayer(f"layer tar is truncated in the header of {self._current!r}")
            parts.append(bytes(piece))
            got += len(piece)
        return b"".join(parts)

    def _skip(self, size: int) -> None:
        while size:
            piece = self._take(size)
            if not piece:
                raise InvalidLayer(f"layer tar is truncated in the data of {self._current!r}")
            size -= len(piece)

    def copy_data(self, write: Callable[[memoryview], object]) -> int:
        """Pass the current entry's unread data to `write` in pieces; returns the size."""
        total = 0
        while self._data_left:
            piece = self._take(self._data_left)
            if not piece:
                raise InvalidLayer(f"layer tar is truncated in the data of {self._current!r}")
            self._data_left -= len(piece)
            total += len(piece)
            write(piece)
        return total

    def _metadata(self, size: int) -> bytes:
        if size > _MAX_METADATA:
            raise InvalidLayer(f"layer tar has a {size}-byte metadata header after {self._current!r}")
        data = self._read_exact(size + padding(size)) if size else b""
        if data is None:
            raise InvalidLayer(f"layer tar is truncated after {self._current!r}")
        return data[:size]

    def __iter__(self) -> Iterator[TarEntry]:
        pax: dict[bytes, bytes] = {}
        long_name: bytes | None = None
        long_link: bytes | None = None
        while True:
            self._skip(self._data_left + self._pad_left)
            self._data_left = self._pad_left = 0
            block = self._read_exact(BLOCK_SIZE)
            if block is None or block == _ZERO_BLOCK:
                return
            try:
                raw = decode_header(block)
                if raw.type == PAX_HEADER:
                    pax.update(parse_pax(self._metadata(raw.size)))
                    continue
                if raw.type == PAX_GLOBAL:
                    self._metadata(raw.size)
                    continue
                if raw.type in (GNU_LONGNAME, GNU_LONGLINK):
                    value = self._metadata(raw.size).split(b"\x00", 1)[0]
                    if raw.type == GNU_LONGNAME:
                        long_name = value
                    else:
                        long_link = value
                    continue
                entry = build_entry(raw, pax, long_name, long_link)
            except HeaderError as exc:
                raise InvalidLayer(f"layer tar has a bad header after {self._current!r}: {exc}") from None
            pax, long_name, long_link = {}, None, None
            self._current = entry.name
            if entry.type in HEADER_ONLY_TYPES:
                entry.size = 0
            self._data_left = entry.size
            self._pad_left = padding(entry.size)
            yield entry

    def finish(self) -> str:
        """Read the stream to its end (tar writers pad past the end-of-archive blocks, and
        the diff ID covers every byte) and return the diff ID."""
        self._pos = len(self._chunk)
        while self._fill():
            self._pos = len(self._chunk)
        self.close()
        return "sha256:" + self._hash.hexdigest()

    def close(self) -> None:
        """Stop the hashing worker (waiting for the hashes already queued)."""
        self._hasher.shutdown(wait=True)

    def __enter__(self) -> TarReader:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
