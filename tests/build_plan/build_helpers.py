"""Helpers for the build-engine tests: filesystem listings that can be compared between a
directory pybuild wrote and a tar docker exported."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
from pathlib import Path

from oci.apply import apply_layer

# What `docker export` adds to every container, whatever the image holds.
DOCKER_EXPORT_NOISE = ("dev", "proc", "sys", "etc/hostname", "etc/hosts", "etc/resolv.conf",
                       "etc/mtab", ".dockerenv")

Entry = tuple[str, int, int, int, str]  # kind, permission bits, uid, gid, content digest or link


def unpack(tar: Path, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    with open(tar, "rb") as f:
        apply_layer(f, root, overlay=False)


def clone_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, symlinks=True, copy_function=_copy_with_owner)
    for dirpath, dirnames, filenames in os.walk(src):
        for name in dirnames + filenames + [""]:
            s = os.path.join(dirpath, name) if name else dirpath
            d = os.path.join(dst, os.path.relpath(s, src))
            st = os.lstat(s)
            os.lchown(d, st.st_uid, st.st_gid)
            if not stat.S_ISLNK(st.st_mode):
                os.chmod(d, stat.S_IMODE(st.st_mode))


def _copy_with_owner(src: str, dst: str) -> str:
    return shutil.copy2(src, dst)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _noise(rel: str) -> bool:
    return any(rel == n or rel.startswith(n + "/") for n in DOCKER_EXPORT_NOISE)


def dir_listing(root: Path) -> tuple[dict[str, Entry], set[frozenset[str]]]:
    """Every path below root (without docker's export noise): kind, mode, owner and
    content digest or link target; plus the groups of paths that are one hardlinked file."""
    out: dict[str, Entry] = {}
    inodes: dict[int, set[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if _noise(rel):
                continue
            st = os.lstat(path)
            perm = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", perm, st.st_uid, st.st_gid, "")
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", perm & 0, st.st_uid, st.st_gid, os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ("file", perm, st.st_uid, st.st_gid, _digest(Path(path).read_bytes()))
                if st.st_nlink > 1:
                    inodes.setdefault(st.st_ino, set()).add(rel)
            else:
                out[rel] = ("special", perm, st.st_uid, st.st_gid, f"{st.st_mode:o}:{st.st_rdev}")
    return out, {frozenset(g) for g in inodes.values() if len(g) > 1}


def tar_listing(tar: Path) -> tuple[dict[str, Entry], set[frozenset[str]]]:
    """The same listing for a tar (`docker export` output)."""
    out: dict[str, Entry] = {}
    groups: dict[str, set[str]] = {}
    with tarfile.open(tar) as tf:
        members = tf.getmembers()
        by_name = {m.name.rstrip("/"): m for m in members}
        for m in members:
            rel = m.name.rstrip("/").removeprefix("./")
            if not rel or rel == "." or _noise(rel):
                continue
            if m.isdir():
                out[rel] = ("dir", m.mode & 0o7777, m.uid, m.gid, "")
            elif m.issym():
                out[rel] = ("symlink", 0, m.uid, m.gid, m.linkname)
            elif m.islnk():
                target = by_name[m.linkname.rstrip("/")]
                data = tf.extractfile(target).read()
                out[rel] = ("file", m.mode & 0o7777, m.uid, m.gid, _digest(data))
                group = groups.get(m.linkname) or groups.setdefault(m.linkname, {m.linkname})
                group.add(rel)
                groups[rel] = group
            elif m.isfile():
                out[rel] = ("file", m.mode & 0o7777, m.uid, m.gid, _digest(tf.extractfile(m).read()))
            else:
                out[rel] = ("special", m.mode & 0o7777, m.uid, m.gid, f"{m.type!r}")
    return out, {frozenset(g) for g in groups.values()}


def under(listing: dict[str, Entry], *prefixes: str) -> dict[str, Entry]:
    return {k: v for k, v in listing.items() if any(k == p or k.startswith(p + "/") for p in prefixes)}
