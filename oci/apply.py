"""Safe layer application: extract a (possibly compressed) layer tar into a directory,
writing nothing outside it.

Safety rules, checked per entry before anything is written:
- Names are cleaned lexically like Go's filepath.Clean, which docker (moby's pkg/archive)
  and containerd both do first. A leading `/` is dropped (both treat names as relative to
  the target); a `..` that would climb above the target is refused with UnsafeLayer, as
  moby does (containerd clamps it to the root instead; refusing is the safer choice for
  a name no honest layer writer produces).
- Parent directories are walked one component at a time from an fd of the target with
  O_NOFOLLOW, like openat2(RESOLVE_IN_ROOT). A parent that is a symlink is followed the way
  the image itself sees it: an absolute target is resolved from the target root (so
  `lib -> /usr/lib` means `<target>/usr/lib`), and a relative target whose `..` would climb
  above the root is refused with UnsafeLayer. Missing parents are created 0755, owned by
  root, as docker and containerd do for layers that omit directory entries.
- The final component is never followed: an existing file, symlink or device at that path
  is replaced (directories are merged with a directory entry), so a symlink planted in an
  earlier layer or entry cannot redirect a write.
- Hardlink targets are cleaned and resolved the same way and must already exist inside the
  target; the link is made with linkat() without following a final symlink.
- Every mutation is an *at() call on a verified directory fd (or the fd of the file
  itself), never a path that the kernel would resolve from outside.

Metadata: numeric owners (chown before chmod, so setuid/setgid survive, and before xattrs,
so `security.capability` survives), modes, mtimes (directories last, after their children),
xattrs from PAX `SCHILY.xattr.*` (an xattr the filesystem refuses with ENOTSUP/EPERM is
counted in `ApplyStats.xattrs_skipped` and skipped, as containerd does), devices, fifos.

Whiteouts (`.wh.<name>`, `.wh..wh..opq`) only hide what lower layers put there, never entries
of the same layer (OCI image spec, layer.md). With `overlay=True` (a snapshot used as an
overlayfs lowerdir) they become overlay form: a 0/0 character device `<name>` (owner from
the entry, as containerd makes it) and `trusted.overlay.opaque=y` on the directory. With
`overlay=False` (flattening layers into one directory) they delete instead.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from dataclasses import dataclass
from typing import BinaryIO

from oci.compression import open_decompressed
from oci.errors import InvalidLayer, UnsafeLayer
from oci.tarformat import (
    BLOCK_DEVICE,
    CHAR_DEVICE,
    CONTIGUOUS,
    DIRECTORY,
    FIFO,
    HARDLINK,
    REGULAR,
    SYMLINK,
    TarEntry,
)
from oci.tarreader import TarReader
from oci.tarwriter import OPAQUE_WHITEOUT, WHITEOUT_PREFIX

OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_NEWFILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_SYMLINKS = 40  # the kernel's own limit for one path walk
_MAX_CACHED_DIRS = 256
_SKIPPABLE_XATTR_ERRORS = (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM)
_NODE_TYPES = {CHAR_DEVICE: stat.S_IFCHR, BLOCK_DEVICE: stat.S_IFBLK, FIFO: stat.S_IFIFO}


@dataclass
class ApplyStats:
    """What one `apply_layer` did; `diff_id` is the sha256 of the uncompressed tar."""

    entries: int = 0
    files: int = 0
    bytes: int = 0
    whiteouts: int = 0
    xattrs_skipped: int = 0
    diff_id: str = ""


def apply_layer(stream: BinaryIO, target: str | os.PathLike, *, overlay: bool = True) -> ApplyStats:
    """Extract the layer tar read from `stream` (gzip, zstd, bzip2, xz or plain) into the
    existing directory `target`. Raises UnsafeLayer/InvalidLayer naming the entry."""
    with open_decompressed(stream) as uncompressed, TarReader(uncompressed) as reader:
        applier = _Applier(target, overlay)
        try:
            for entry in reader:
                applier.apply(entry, reader)
            applier.finish()
        finally:
            applier.close()
        applier.stats.diff_id = reader.finish()
    return applier.stats


def _clean(name: str, entry: str, what: str = "") -> tuple[str, ...]:
    if "\x00" in name:
        raise InvalidLayer(f"layer entry {entry!r}: {what or 'name'} contains a NUL byte")
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise UnsafeLayer(
                    f"layer entry {entry!r}: {what or 'its path'} climbs out of the target with '..'"
                )
            parts.pop()
        else:
            parts.append(part)
    return tuple(parts)


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data):]


class _Applier:
    def __init__(self, target: str | os.PathLike, overlay: bool) -> None:
        self.root = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.overlay = overlay
        self.stats = ApplyStats()
        self.chown = os.geteuid() == 0
        # Lexical directory path → fd of the directory it resolved to.
        self.dirs: dict[str, int] = {}
        # Fds dropped from `dirs` while an entry may still use them; closed before the next.
        self.stale: list[int] = []
        self.unpacked: set[str] = set()
        self.dir_times: list[tuple[tuple[str, ...], int]] = []

    def close(self) -> None:
        for fd in [*self.dirs.values(), *self.stale, self.root]:
            os.close(fd)
        self.dirs.clear()
        self.stale.clear()

    def forget_dirs(self) -> None:
        """A directory or symlink was removed: cached resolutions may now be wrong."""
        self.stale.extend(self.dirs.values())
        self.dirs.clear()

    def dir_fd(self, parts: tuple[str, ...], entry: str, *, create: bool) -> int:
        """An fd of directory `parts` resolved inside the target (see module doc)."""
        key = "/".join(parts)
        cached = self.dirs.get(key)
        if cached is not None:
            return cached
        stack = [os.dup(self.root)]
        pending = list(reversed(parts))
        followed = 0
        try:
            while pending:
                part = pending.pop()
                if part in ("", "."):
                    continue
                if part == "..":
                    if len(stack) == 1:
                        raise UnsafeLayer(
                            f"layer entry {entry!r}: a symlink in its path points outside the target"
                        )
                    os.close(stack.pop())
                    continue
                try:
                    stack.append(os.open(part, _O_DIR, dir_fd=stack[-1]))
                    continue
                except FileNotFoundError:
                    if not create:
                        raise InvalidLayer(
                            f"layer entry {entry!r}: directory {key!r} does not exist"
                        ) from None
                    os.mkdir(part, 0o755, dir_fd=stack[-1])
                    fd = os.open(part, _O_DIR, dir_fd=stack[-1])
                    os.fchmod(fd, 0o755)
                    stack.append(fd)
                    continue
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                st = os.stat(part, dir_fd=stack[-1], follow_symlinks=False)
                if not stat.S_ISLNK(st.st_mode):
                    raise InvalidLayer(f"layer entry {entry!r}: {part!r} in its path is not a directory")
                followed += 1
                if followed > _MAX_SYMLINKS:
                    raise UnsafeLayer(f"layer entry {entry!r}: too many levels of symlinks in its path")
                link = os.readlink(part, dir_fd=stack[-1])
                if link.startswith("/"):
                    for fd in stack[1:]:
                        os.close(fd)
                    del stack[1:]
                pending.extend(reversed(link.split("/")))
            fd = stack.pop()
        finally:
            for leftover in stack:
                os.close(leftover)
        self.dirs[key] = fd
        return fd

    def remove(self, parent: int, name: str) -> bool:
        """Remove whatever is at `name` in `parent`; False if nothing was there."""
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(name, dir_fd=parent)
            self.forget_dirs()
        else:
            os.unlink(name, dir_fd=parent)
            if stat.S_ISLNK(st.st_mode):
                self.forget_dirs()
        return True

    def setxattrs(self, target: int | str, xattrs: dict[str, bytes]) -> None:
        for key, value in xattrs.items():
            try:
                if isinstance(target, int):
                    os.setxattr(target, key, value)
                else:
                    os.setxattr(target, key, value, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in _SKIPPABLE_XATTR_ERRORS:
                    raise
                self.stats.xattrs_skipped += 1

    def set_fd_metadata(self, fd: int, entry: TarEntry) -> None:
        if self.chown:
            os.fchown(fd, entry.uid, entry.gid)
        os.fchmod(fd, entry.mode)
        if entry.xattrs:
            self.setxattrs(fd, entry.xattrs)

    def apply(self, entry: TarEntry, reader: TarReader) -> None:
        for fd in self.stale:
            os.close(fd)
        self.stale.clear()
        if len(self.dirs) > _MAX_CACHED_DIRS:
            self.forget_dirs()
        self.stats.entries += 1
        parts = _clean(entry.name, entry.name)
        if not parts:
            if entry.type == DIRECTORY:
                self.set_fd_metadata(self.root, entry)
                self.dir_times.append(((), entry.mtime))
            return
        dir_parts, base = parts[:-1], parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self.whiteout(entry, dir_parts, base)
            return
        parent = self.dir_fd(dir_parts, entry.name, create=True)
        key = "/".join(parts)
        kind = entry.type
        if kind in (REGULAR, CONTIGUOUS):
            self.regular_file(entry, reader, parent, base)
        elif kind == DIRECTORY:
            self.directory(entry, parent, base, key)
        elif kind == SYMLINK:
            self.symlink(entry, parent, base)
        elif kind == HARDLINK:
            self.hardlink(entry, parent, base)
        elif kind in _NODE_TYPES:
            self.node(entry, parent, base)
        else:
            raise InvalidLayer(f"layer entry {entry.name!r}: unsupported tar entry type {kind!r}")
        self.unpacked.add(key)

    def regular_file(self, entry: TarEntry, reader: TarReader, parent: int, base: str) -> None:
        try:
            fd = os.open(base, _O_NEWFILE, 0o600, dir_fd=parent)
        except FileExistsError:
            self.remove(parent, base)
            fd = os.open(base, _O_NEWFILE, 0o600, dir_fd=parent)
        try:
            if entry.size:
                self.stats.bytes += reader.copy_data(lambda piece: _write_all(fd, piece))
            self.set_fd_metadata(fd, entry)
            os.utime(fd, ns=(entry.mtime * 1_000_000_000,) * 2)
        finally:
            os.close(fd)
        self.stats.files += 1

    def directory(self, entry: TarEntry, parent: int, base: str, key: str) -> None:
        try:
            os.mkdir(base, 0o700, dir_fd=parent)
        except FileExistsError:
            st = os.stat(base, dir_fd=parent, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                self.remove(parent, base)
                os.mkdir(base, 0o700, dir_fd=parent)
        fd = os.open(base, _O_DIR, dir_fd=parent)
        # Its children usually follow: keep the fd as the resolution of its path.
        previous = self.dirs.get(key)
        if previous is not None:
            self.stale.append(previous)
        self.dirs[key] = fd
        self.set_fd_metadata(fd, entry)
        self.dir_times.append((tuple(key.split("/")), entry.mtime))

    def set_path_metadata(self, entry: TarEntry, parent: int, base: str, *, is_link: bool) -> None:
        if self.chown:
            os.chown(base, entry.uid, entry.gid, dir_fd=parent, follow_symlinks=False)
        if not is_link:
            os.chmod(base, entry.mode, dir_fd=parent)
        if entry.xattrs:
            # No *at() form of setxattr: go through the verified parent's fd.
            self.setxattrs(f"/proc/self/fd/{parent}/{base}", entry.xattrs)
        os.utime(base, ns=(entry.mtime * 1_000_000_000,) * 2, dir_fd=parent, follow_symlinks=False)

    def symlink(self, entry: TarEntry, parent: int, base: str) -> None:
        if not entry.linkname or "\x00" in entry.linkname:
            raise InvalidLayer(f"layer entry {entry.name!r}: symlink target {entry.linkname!r} is not a path")
        try:
            os.symlink(entry.linkname, base, dir_fd=parent)
        except FileExistsError:
            self.remove(parent, base)
            os.symlink(entry.linkname, base, dir_fd=parent)
        self.set_path_metadata(entry, parent, base, is_link=True)

    def node(self, entry: TarEntry, parent: int, base: str) -> None:
        mode = _NODE_TYPES[entry.type] | 0o600
        device = os.makedev(entry.devmajor, entry.devminor)
        try:
            os.mknod(base, mode, device, dir_fd=parent)
        except FileExistsError:
            self.remove(parent, base)
            os.mknod(base, mode, device, dir_fd=parent)
        self.set_path_metadata(entry, parent, base, is_link=False)

    def hardlink(self, entry: TarEntry, parent: int, base: str) -> None:
        link_parts = _clean(entry.linkname, entry.name, f"hardlink target {entry.linkname!r}")
        if not link_parts:
            raise UnsafeLayer(f"layer entry {entry.name!r}: hardlink to the target root itself")
        link_parent = self.dir_fd(link_parts[:-1], entry.name, create=False)
        link_base = link_parts[-1]
        try:
            source = os.stat(link_base, dir_fd=link_parent, follow_symlinks=False)
        except FileNotFoundError:
            raise InvalidLayer(
                f"layer entry {entry.name!r}: hardlink target {entry.linkname!r} does not exist"
            ) from None
        if stat.S_ISDIR(source.st_mode):
            raise InvalidLayer(
                f"layer entry {entry.name!r}: hardlink target {entry.linkname!r} is a directory"
            )
        try:
            os.link(link_base, base, src_dir_fd=link_parent, dst_dir_fd=parent, follow_symlinks=False)
        except FileExistsError:
            existing = os.stat(base, dir_fd=parent, follow_symlinks=False)
            if os.path.samestat(existing, source):
                return
            self.remove(parent, base)
            os.link(link_base, base, src_dir_fd=link_parent, dst_dir_fd=parent, follow_symlinks=False)

    def whiteout(self, entry: TarEntry, dir_parts: tuple[str, ...], base: str) -> None:
        self.stats.whiteouts += 1
        parent = self.dir_fd(dir_parts, entry.name, create=True)
        dir_key = "/".join(dir_parts)
        if base == OPAQUE_WHITEOUT:
            if self.overlay:
                os.setxattr(parent, OVERLAY_OPAQUE_XATTR, b"y")
            else:
                self.clear_lower(parent, dir_key)
            return
        name = base[len(WHITEOUT_PREFIX):]
        if name in ("", ".", ".."):
            raise UnsafeLayer(f"layer entry {entry.name!r}: whiteout of {name!r} is not a file name")
        if (f"{dir_key}/{name}" if dir_key else name) in self.unpacked:
            return
        self.remove(parent, name)
        if self.overlay:
            os.mknod(name, stat.S_IFCHR, 0, dir_fd=parent)
            if self.chown:
                os.chown(name, entry.uid, entry.gid, dir_fd=parent, follow_symlinks=False)
            os.utime(name, ns=(entry.mtime * 1_000_000_000,) * 2, dir_fd=parent, follow_symlinks=False)

    def clear_lower(self, directory: int, dir_key: str) -> None:
        """Remove everything under `directory` that this layer did not write."""
        with os.scandir(directory) as it:
            children = [(child.name, child.is_dir(follow_symlinks=False)) for child in it]
        for name, is_dir in children:
            key = f"{dir_key}/{name}" if dir_key else name
            if key not in self.unpacked:
                self.remove(directory, name)
            elif is_dir:
                fd = os.open(name, _O_DIR, dir_fd=directory)
                try:
                    self.clear_lower(fd, key)
                finally:
                    os.close(fd)

    def finish(self) -> None:
        """Set directory mtimes, deepest last-written first, now that children are in."""
        for parts, mtime in reversed(self.dir_times):
            if len(self.dirs) > _MAX_CACHED_DIRS:
                self.forget_dirs()
            times = (mtime * 1_000_000_000,) * 2
            if not parts:
                os.utime(self.root, ns=times)
                continue
            try:
                parent = self.dir_fd(parts[:-1], "/".join(parts), create=False)
                fd = os.open(parts[-1], _O_DIR, dir_fd=parent)
            except (OSError, InvalidLayer, UnsafeLayer):
                continue  # replaced or removed by a later entry of this layer
            try:
                os.utime(fd, ns=times)
            finally:
                os.close(fd)
