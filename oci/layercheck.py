"""Refusing unsafe layers while they stream in, before anything is unpacked.

`pybuild import` and `pybuild load` store layers without unpacking them (the snapshot is
made on first use), yet must refuse a layer that `oci.apply.apply_layer` would refuse for
writing outside its target, as docker refuses it at import/load. `LayerCheck` applies the
same path rules to a model of the image instead of a directory: names are cleaned
lexically (a `..` above the root is refused), parent directories are resolved through
the symlinks the image's layers have made so far (an absolute target restarts at the
root, a `..` above the root is refused), and hardlink targets are cleaned and resolved
the same way. One LayerCheck follows one image through its layers in order, so a
symlink planted by a lower layer is seen when a later layer writes through it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from oci.errors import UnsafeLayer
from oci.tarformat import HARDLINK, SYMLINK, TarEntry
from oci.tarreader import TarReader
from oci.tarwriter import OPAQUE_WHITEOUT, WHITEOUT_PREFIX

_MAX_SYMLINKS = 40  # as the kernel and oci.apply

Path = tuple[str, ...]


def clean(name: str, entry: str, what: str = "its path") -> Path:
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise UnsafeLayer(f"layer entry {entry!r}: {what} climbs out of the target with '..'")
            parts.pop()
        else:
            parts.append(part)
    return tuple(parts)


class LayerCheck:
    def __init__(self) -> None:
        # Resolved path of every symlink the layers so far have left → its target.
        self._symlinks: dict[Path, str] = {}

    def check_stream(self, stream: BinaryIO) -> str:
        """Check every entry of the uncompressed layer tar `stream`, read to its end;
        returns the diff ID (sha256 of the stream)."""
        reader = TarReader(stream)
        try:
            for entry in reader:
                self.check(entry)
        except BaseException:
            reader.close()
            raise
        return reader.finish()

    def check(self, entry: TarEntry) -> None:
        parts = clean(entry.name, entry.name)
        if not parts:
            return
        parent = self._resolve(parts[:-1], entry.name)
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            if base != OPAQUE_WHITEOUT:
                self._forget_tree((*parent, base[len(WHITEOUT_PREFIX):]))
            return
        if entry.type == HARDLINK:
            target = clean(entry.linkname, entry.name, f"hardlink target {entry.linkname!r}")
            if not target:
                raise UnsafeLayer(f"layer entry {entry.name!r}: hardlink to the target root itself")
            self._resolve(target[:-1], entry.name)
        path = (*parent, base)
        # A directory or file replacing a symlink ends it; no resolved path runs through
        # a symlink, so nothing below it is recorded.
        self._symlinks.pop(path, None)
        if entry.type == SYMLINK:
            self._symlinks[path] = entry.linkname

    def _resolve(self, parts: Path, entry: str) -> Path:
        resolved: list[str] = []
        pending = list(reversed(parts))
        followed = 0
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if not resolved:
                    raise UnsafeLayer(f"layer entry {entry!r}: a symlink in its path points outside the target")
                resolved.pop()
                continue
            link = self._symlinks.get((*resolved, part))
            if link is None:
                resolved.append(part)
                continue
            followed += 1
            if followed > _MAX_SYMLINKS:
                raise UnsafeLayer(f"layer entry {entry!r}: too many levels of symlinks in its path")
            if link.startswith("/"):
                resolved = []
            pending.extend(reversed(link.split("/")))
        return tuple(resolved)

    def _forget_tree(self, path: Path) -> None:
        for key in list(self._under(path)):
            del self._symlinks[key]

    def _under(self, path: Path) -> Iterator[Path]:
        n = len(path)
        return (key for key in self._symlinks if key[:n] == path)


class TeeReader:
    """A readable stream of `head` then `source`, handing every byte read to `sink`
    too: the check reads the layer while the same bytes go on to be stored."""

    def __init__(self, source: BinaryIO, sink, head: bytes = b"") -> None:
        self._source = source
        self._sink = sink
        self._head = head
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            data, self._head = self._head, b""
        else:
            data = self._source.read(size)
        if data:
            self._sink(data)
            self.size += len(data)
        return data

    def drain(self, chunk: int = 1 << 20) -> None:
        """Read what the tar reader left (bytes after a compressed stream's end)."""
        while self.read(chunk):
            pass
