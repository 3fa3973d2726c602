"""Deterministic tar writing: the same tree gives the same bytes, on any machine.

`write_tree` walks a directory with os.scandir, each directory's entries sorted by their
name's bytes, and writes numeric owners only, mtimes clamped to SOURCE_DATE_EPOCH when one
is given (as BuildKit does: newer mtimes become the epoch, older ones stay), xattrs as PAX
`SCHILY.xattr.*` records (incl. `security.capability`), devices, fifos, symlinks, the
setuid/setgid/sticky bits, and every further path of an inode already written as a hardlink
to the first path (by (st_dev, st_ino)). Sockets cannot be represented in tar and are
skipped, as GNU tar and containerd do. The archive root itself gets no entry.

With `overlay=True` the tree is an overlayfs upperdir and is converted to OCI layer form:
0/0 character devices (deletions) become `.wh.<name>` empty files, a directory with
`trusted.overlay.opaque=y` (or `user.overlay.opaque=y` when mounted with userxattr) gets a
`.wh..wh..opq` entry right after its own, and all other `trusted.overlay.*`/`user.overlay.*`
xattrs are dropped. Whiteout entries are written as containerd writes them: mode 0, owner 0:0.
"""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from typing import BinaryIO

from oci.tarformat import (
    BLOCK_DEVICE,
    CHAR_DEVICE,
    DIRECTORY,
    END_OF_ARCHIVE,
    FIFO,
    HARDLINK,
    SYMLINK,
    TarEntry,
    encode_header,
    padding,
)

WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
_OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")
_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
_UNSUPPORTED_XATTRS = tuple(f"{ns}.overlay.{feature}" for ns in ("trusted", "user")
                            for feature in ("metacopy", "redirect"))

_FLUSH_AT = 1 << 20
_CHUNK = 1 << 20
_DIRECT_AT = 64 << 10
_ZEROS = bytes(512)


class FileChanged(RuntimeError):
    """A file shrank while it was being archived (the tar would be corrupt)."""


class UnsupportedOverlayFeature(RuntimeError):
    """An upperdir written with overlay features whose files do not hold the real content
    or path (metacopy, redirect_dir): converting it would give a wrong layer. Mount the
    overlay with `metacopy=off,redirect_dir=off` (the kernel defaults on Debian)."""


class TarWriter:
    """Writes tar entries, in the order given, to `fileobj` (which it does not close).

    Small writes are gathered into ~1 MiB chunks, so `fileobj` may be unbuffered (a raw
    file or a LayerWriter). Call `close()` (or use `with`) to write the end-of-archive."""

    def __init__(self, fileobj: BinaryIO, source_date_epoch: int | None = None) -> None:
        self._out = fileobj
        self._epoch = source_date_epoch
        self._buffer = bytearray()
        self._inodes: dict[tuple[int, int], str] = {}
        self._closed = False

    def _write(self, data) -> None:
        if len(data) >= _DIRECT_AT:
            # Large pieces go straight out: copying them into the buffer costs a memcpy.
            self._flush()
            self._emit(data)
            return
        self._buffer += data
        if len(self._buffer) >= _FLUSH_AT:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._emit(self._buffer)
            self._buffer = bytearray()

    def _emit(self, data) -> None:
        # A raw file or pipe may take only part of a write; buffered ones take it all.
        written = self._out.write(data)
        if written is not None and written < len(data):
            view = memoryview(data)[written:]
            while view:
                view = view[self._out.write(view):]

    def add(self, entry: TarEntry, content: bytes | BinaryIO | None = None) -> None:
        """Write `entry`; a regular file's data comes from `content` (bytes or a readable
        file object giving exactly `entry.size` bytes)."""
        if isinstance(content, (bytes, bytearray, memoryview)):
            entry = replace(entry, size=len(content))
            self._header(entry)
            self._write(content)
            self._write(_ZEROS[: padding(entry.size)])
            return
        self._header(entry)
        if entry.size:
            if content is None:
                raise ValueError(f"{entry.name}: no content for {entry.size} bytes")
            self._copy(content.read, entry.size, entry.name)

    def _header(self, entry: TarEntry) -> None:
        if self._epoch is not None and entry.mtime > self._epoch:
            entry = replace(entry, mtime=self._epoch)
        self._write(encode_header(entry))

    def _copy(self, read, size: int, name: str) -> None:
        remaining = size
        while remaining:
            chunk = read(min(remaining, _CHUNK))
            if not chunk:
                raise FileChanged(f"{name}: file shrank by {remaining} bytes while being archived")
            remaining -= len(chunk)
            self._write(chunk)
        self._write(_ZEROS[: padding(size)])

    def add_path(self, name: str, path: str | bytes, st: os.stat_result | None = None,
                 xattrs: dict[str, bytes] | None = None) -> None:
        """Write the file at `path` (not following a final symlink) as entry `name`: a
        hardlink entry if an earlier `add_path` wrote the same inode."""
        if st is None:
            st = os.lstat(path)
        if xattrs is None:
            xattrs = read_xattrs(path)
        mode = st.st_mode
        entry = TarEntry(name=name, mode=stat.S_IMODE(mode), uid=st.st_uid, gid=st.st_gid,
                         mtime=int(st.st_mtime), xattrs=xattrs)
        if stat.S_ISDIR(mode):
            entry.type = DIRECTORY
            self.add(entry)
            return
        if st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            first = self._inodes.get(key)
            if first is not None:
                self.add(TarEntry(name=name, type=HARDLINK, linkname=first, mode=entry.mode,
                                  uid=entry.uid, gid=entry.gid, mtime=entry.mtime))
                return
            self._inodes[key] = name
        if stat.S_ISREG(mode):
            entry.size = st.st_size
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                if st.st_size <= _CHUNK:
                    self.add(entry, _read_whole(fd, st.st_size, name))
                else:
                    self._header(entry)
                    self._copy(lambda n: os.read(fd, n), st.st_size, name)
            finally:
                os.close(fd)
        elif stat.S_ISLNK(mode):
            entry.type = SYMLINK
            entry.linkname = os.fsdecode(os.readlink(path))
            self.add(entry)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            entry.type = CHAR_DEVICE if stat.S_ISCHR(mode) else BLOCK_DEVICE
            entry.devmajor, entry.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            self.add(entry)
        elif stat.S_ISFIFO(mode):
            entry.type = FIFO
            self.add(entry)

    def close(self) -> None:
        """Write the end-of-archive blocks and flush (fileobj stays open)."""
        if not self._closed:
            self._closed = True
            self._write(END_OF_ARCHIVE)
            self._flush()

    def __enter__(self) -> TarWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()


def _read_whole(fd: int, size: int, name: str) -> bytes:
    data = os.read(fd, size) if size else b""
    while len(data) < size:
        more = os.read(fd, size - len(data))
        if not more:
            raise FileChanged(f"{name}: file shrank by {size - len(data)} bytes while being archived")
        data += more
    return data


def read_xattrs(path: str | bytes) -> dict[str, bytes]:
    """All xattrs of `path` (not following a final symlink); {} where unsupported."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    xattrs = {}
    for key in names:
        try:
            xattrs[key] = os.getxattr(path, key, follow_symlinks=False)
        except OSError:
            continue
    return xattrs


def write_tree(root: str | os.PathLike, fileobj: BinaryIO, *, overlay: bool = False,
               source_date_epoch: int | None = None) -> None:
    """Write the tree under `root` as a deterministic tar to `fileobj` (see module doc)."""
    writer = TarWriter(fileobj, source_date_epoch)
    _walk(writer, os.fsencode(root), "", overlay)
    writer.close()


def _walk(writer: TarWriter, directory: bytes, prefix: str, overlay: bool) -> None:
    with os.scandir(directory) as it:
        children = sorted(it, key=lambda e: e.name)
    for child in children:
        name = prefix + os.fsdecode(child.name)
        st = child.stat(follow_symlinks=False)
        xattrs = read_xattrs(child.path)
        if overlay:
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                parent, _, base = name.rpartition("/")
                whiteout = (parent + "/" if parent else "") + WHITEOUT_PREFIX + base
                writer.add(TarEntry(name=whiteout, mode=0, mtime=int(st.st_mtime)), b"")
                continue
            unsupported = [key for key in _UNSUPPORTED_XATTRS if key in xattrs]
            if unsupported:
                raise UnsupportedOverlayFeature(f"{name}: upperdir entry carries {unsupported[0]}")
            opaque = any(xattrs.get(key) == b"y" for key in _OPAQUE_XATTRS)
            xattrs = {k: v for k, v in xattrs.items() if not k.startswith(_OVERLAY_XATTR_PREFIXES)}
        writer.add_path(name, child.path, st, xattrs)
        if stat.S_ISDIR(st.st_mode):
            if overlay and opaque:
                writer.add(TarEntry(name=name + "/" + OPAQUE_WHITEOUT, mode=0,
                                    mtime=int(st.st_mtime)), b"")
            _walk(writer, child.path, name + "/", overlay)
