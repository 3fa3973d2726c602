"""Writes the archives that the ADD fixtures in fixtures/builds/ extract. Git keeps neither
owners, device nodes, setuid bits, hardlinks nor xattrs in a context directory, so these
travel inside committed tars; run this to remake them byte for byte:
`.venv/bin/python tests/build_fixtures/fixture_tars.py`."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import tarfile
from pathlib import Path

import zstandard

BUILDS = Path(__file__).resolve().parent.parent.parent / "fixtures" / "builds"
MTIME = 1_700_000_000

# vfs_cap_data revision 2 with the effective flag: cap_net_raw (13) permitted + effective.
CAP_NET_RAW = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)


def _entry(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, uid: int = 0, gid: int = 0,
           linkname: str = "", devmajor: int = 0, devminor: int = 0,
           xattrs: dict[str, bytes] | None = None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid, info.mtime = kind, mode, uid, gid, MTIME
    info.linkname, info.devmajor, info.devminor = linkname, devmajor, devminor
    info.uname = info.gname = ""
    if xattrs:
        # tarfile writes values that are not UTF-8 with hdrcharset=BINARY; Go's reader
        # (BuildKit, moby) takes the raw bytes.
        info.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape")
                            for k, v in xattrs.items()}
    return info


def _tar(entries: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in entries:
            if info.isreg():
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return out.getvalue()


def _file(name: str, data: bytes, **kw) -> tuple[tarfile.TarInfo, bytes]:
    return _entry(name, **kw), data


def _node(name: str, **kw) -> tuple[tarfile.TarInfo, bytes]:
    return _entry(name, **kw), b""


def plain_tree() -> bytes:
    return _tar([
        _node("tree/", kind=tarfile.DIRTYPE, mode=0o755),
        _file("tree/readme.txt", b"inside the archive\n"),
        _file("tree/run.sh", b"#!/bin/sh\necho run\n", mode=0o755),
        _node("tree/sub/", kind=tarfile.DIRTYPE, mode=0o750, uid=1000, gid=1000),
        _file("tree/sub/owned.txt", b"owned by 1000\n", uid=1000, gid=1000, mode=0o640),
        _node("tree/link", kind=tarfile.SYMTYPE, linkname="readme.txt"),
        _node("tree/hard", kind=tarfile.LNKTYPE, linkname="tree/readme.txt"),
    ])


def metadata_tree() -> bytes:
    return _tar([
        _node("meta/", kind=tarfile.DIRTYPE, mode=0o700, uid=1000, gid=1000),
        _file("meta/setuid", b"setuid\n", mode=0o4755),
        _file("meta/setgid", b"setgid\n", mode=0o2755, gid=50),
        _node("meta/sticky/", kind=tarfile.DIRTYPE, mode=0o1777),
        _node("meta/fifo", kind=tarfile.FIFOTYPE, mode=0o600, uid=1, gid=1),
        _node("meta/null", kind=tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3),
        _node("meta/loop0", kind=tarfile.BLKTYPE, mode=0o660, devmajor=7, devminor=0, gid=6),
        _file("meta/data", b"data\n", uid=33, gid=33),
        _node("meta/data-hard", kind=tarfile.LNKTYPE, linkname="meta/data"),
        _node("meta/abs-link", kind=tarfile.SYMTYPE, linkname="/etc/passwd", uid=1, gid=1),
    ])


def existing_tree() -> bytes:
    """Entries that land on directories and files the busybox image already has."""
    return _tar([
        _node("etc/", kind=tarfile.DIRTYPE, mode=0o750),
        _file("etc/added.conf", b"added=1\n"),
        _file("etc/group", b"root:x:0:\nreplaced:x:99:\n"),
        _node("tmp/", kind=tarfile.DIRTYPE, mode=0o755),
        _file("tmp/from-tar", b"tmp\n"),
        _node("var/www/", kind=tarfile.DIRTYPE, mode=0o700, uid=33, gid=33),
    ])


def capabilities_tree() -> bytes:
    return _tar([
        _node("caps/", kind=tarfile.DIRTYPE, mode=0o755),
        _file("caps/netraw", b"#!/bin/sh\necho raw\n", mode=0o755, xattrs={"security.capability": CAP_NET_RAW}),
        _file("caps/plain", b"#!/bin/sh\necho plain\n", mode=0o755),
    ])


def write() -> None:
    tree = plain_tree()
    formats = BUILDS / "add-tar-formats"
    (formats / "tree.tar").write_bytes(tree)
    (formats / "tree.tar.gz").write_bytes(gzip.compress(tree, mtime=0))
    (formats / "tree.tar.bz2").write_bytes(bz2.compress(tree))
    (formats / "tree.tar.xz").write_bytes(lzma.compress(tree))
    (formats / "tree-tar-without-suffix").write_bytes(gzip.compress(tree, mtime=0))
    (BUILDS / "add-tar-zstd" / "tree.tar.zst").write_bytes(zstandard.ZstdCompressor().compress(tree))
    (BUILDS / "add-tar-metadata" / "meta.tar").write_bytes(metadata_tree())
    (BUILDS / "add-tar-into-existing" / "existing.tar").write_bytes(existing_tree())
    (BUILDS / "file-capabilities" / "caps.tar").write_bytes(capabilities_tree())


if __name__ == "__main__":
    write()
