"""Helpers for the layer tests: crafted tars made with Python's tarfile (independent of
oci.tarwriter), and a full description of a directory tree to compare before and after."""

import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path



def entry(name: str, type_: bytes = tarfile.REGTYPE, *, data: bytes = b"", linkname: str = "",
          mode: int = 0o644, uid: int = 0, gid: int = 0, mtime: int = 1_600_000_000,
          xattrs: dict[str, str] | None = None, devmajor: int = 0, devminor: int = 0):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = type_, linkname, mode
    info.uid, info.gid, info.mtime = uid, gid, mtime
    info.devmajor, info.devminor = devmajor, devminor
    info.size = len(data) if type_ == tarfile.REGTYPE else 0
    if xattrs:
        info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
    return info, data


def make_tar(*entries) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def tree_state(root: Path) -> dict[str, tuple]:
    """Every path under root (root included) → type, mode, owner, mtime, size, content
    hash or link target or device, and xattrs: what a user would see with ls -l, getfattr."""
    state = {}
    paths = [root]
    for dirpath, dirnames, filenames in os.walk(root):
        paths += [Path(dirpath, n) for n in dirnames + filenames]
    for path in paths:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            detail = hashlib.sha256(path.read_bytes()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            detail = os.readlink(path)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            detail = (os.major(st.st_rdev), os.minor(st.st_rdev))
        else:
            detail = None
        xattrs = {k: os.getxattr(path, k, follow_symlinks=False)
                  for k in os.listxattr(path, follow_symlinks=False)}
        mtime = None if stat.S_ISDIR(st.st_mode) and path == root else st.st_mtime_ns
        state[str(path.relative_to(root))] = (
            stat.filemode(st.st_mode), st.st_uid, st.st_gid, mtime,
            st.st_size if not stat.S_ISDIR(st.st_mode) else 0, detail, xattrs,
        )
    return state


def whole_second_mtimes(root: Path) -> None:
    """Truncate every mtime under root to whole seconds (tar headers carry seconds)."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in [*filenames, *dirnames, None]:
            path = Path(dirpath, name) if name else Path(dirpath)
            seconds = int(os.lstat(path).st_mtime)
            os.utime(path, (seconds, seconds), follow_symlinks=False)
