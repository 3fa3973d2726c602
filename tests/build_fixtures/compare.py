"""What the two builders produced, in a form that compares: the filesystem a container of
the image sees (from `docker export`, so that one program merges the layers of both
images) and the config fields a user sets with Dockerfile instructions."""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from dataclasses import dataclass
from typing import BinaryIO

# What `docker export` puts in every container, whatever the image holds.
EXPORT_NOISE = ("dev", "proc", "sys", "etc/hostname", "etc/hosts", "etc/resolv.conf", "etc/mtab", ".dockerenv")

CONFIG_FIELDS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels",
                 "StopSignal", "Healthcheck", "Shell", "OnBuild")


@dataclass(frozen=True)
class Entry:
    kind: str  # dir, file, symlink, char, block, fifo
    mode: int  # permission bits with setuid, setgid and sticky
    uid: int
    gid: int
    detail: str  # content digest, link target or device numbers
    xattrs: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        xattrs = "".join(f" {k}={v}" for k, v in self.xattrs)
        return f"{self.kind} {self.mode:04o} {self.uid}:{self.gid} {self.detail}{xattrs}"


@dataclass(frozen=True)
class Filesystem:
    entries: dict[str, Entry]
    hardlinks: frozenset[frozenset[str]]  # groups of paths that are one inode


def _noise(path: str) -> bool:
    return any(path == n or path.startswith(n + "/") for n in EXPORT_NOISE)


_KINDS = {tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink", tarfile.CHRTYPE: "char",
          tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}


def read_export(stream: BinaryIO) -> Filesystem:
    """The listing of a `docker export` tar, read as it streams."""
    entries: dict[str, Entry] = {}
    groups: dict[str, set[str]] = {}
    digests: dict[str, str] = {}
    with tarfile.open(fileobj=stream, mode="r|") as tf:
        for m in tf:
            path = m.name.rstrip("/").removeprefix("./")
            if not path or path == "." or _noise(path):
                continue
            xattrs = tuple(sorted((k.removeprefix("SCHILY.xattr."), v.encode("utf-8", "surrogateescape").hex())
                                  for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")))
            if m.islnk():
                target = m.linkname.rstrip("/").removeprefix("./")
                group = groups.setdefault(target, {target})
                group.add(path)
                groups[path] = group
                detail = digests.get(target, "")
                kind = "file"
            elif m.isreg():
                detail = hashlib.sha256(tf.extractfile(m).read()).hexdigest()[:16]
                digests[path] = detail
                kind = "file"
            else:
                kind = _KINDS[m.type]
                detail = (m.linkname if m.issym() else
                          f"{m.devmajor}:{m.devminor}" if m.ischr() or m.isblk() else "")
            entries[path] = Entry(kind, 0 if m.issym() else m.mode & 0o7777, m.uid, m.gid, detail, xattrs)
    return Filesystem(entries, frozenset(frozenset(g) for g in groups.values()))


def filesystem_differences(pybuild: Filesystem, buildkit: Filesystem) -> dict[str, str]:
    """path -> what differs there, for every path whose entry or hardlink group differs."""
    out: dict[str, str] = {}
    for path in sorted(pybuild.entries.keys() | buildkit.entries.keys()):
        mine, theirs = pybuild.entries.get(path), buildkit.entries.get(path)
        if mine != theirs:
            out[path] = f"pybuild: {mine or 'missing'}; BuildKit: {theirs or 'missing'}"
    for group in pybuild.hardlinks ^ buildkit.hardlinks:
        for path in group:
            side = "pybuild" if group in pybuild.hardlinks else "BuildKit"
            out.setdefault(path, f"hardlinked together only in {side}: {sorted(group)}")
    return out


def user_config(inspect: dict) -> dict[str, object]:
    """The Dockerfile-settable config fields; an empty list or map counts as unset: a
    container cannot tell them apart."""
    config = inspect.get("Config") or {}
    return {f: (config.get(f) or None) for f in CONFIG_FIELDS}


def config_differences(pybuild: dict[str, object], buildkit: dict[str, object]) -> dict[str, str]:
    return {f: f"pybuild: {pybuild[f]!r}; BuildKit: {buildkit[f]!r}"
            for f in CONFIG_FIELDS if pybuild[f] != buildkit[f]}


@dataclass(frozen=True)
class Step:
    created_by: str
    empty_layer: bool

    def __str__(self) -> str:
        return f"{self.created_by!r}{' (empty layer)' if self.empty_layer else ''}"


def read_saved_configs(stream: BinaryIO) -> dict[str, dict]:
    """Image ID -> config, from a `docker save` stream (configs are `<hex>.json`)."""
    configs = {}
    with tarfile.open(fileobj=stream, mode="r|") as tf:
        for m in tf:
            if m.isreg() and re.fullmatch(r"[0-9a-f]{64}\.json", m.name):
                configs["sha256:" + m.name.removesuffix(".json")] = json.load(tf.extractfile(m))
    return configs


def history(config: dict) -> list[Step]:
    return [Step(h.get("created_by", ""), bool(h.get("empty_layer"))) for h in config.get("history", [])]


def history_differences(pybuild: list[Step], buildkit: list[Step]) -> dict[int, tuple[Step | None, Step | None]]:
    """Index -> (pybuild's entry, BuildKit's) wherever the two histories differ."""
    out = {}
    for i in range(max(len(pybuild), len(buildkit))):
        mine = pybuild[i] if i < len(pybuild) else None
        theirs = buildkit[i] if i < len(buildkit) else None
        if mine != theirs:
            out[i] = (mine, theirs)
    return out
