"""A read-only look-up for hot paths (`pybuild run`): a tagged image's config and its
snapshot directories, when every snapshot is unpacked already.

It imports only os, fcntl, json and sqlite3 (no pathlib, dataclasses or the store's
writers: they cost more than the look-up itself), never writes to the database and
takes `gc.lock` shared only, as `Store.lease()` does. Anything it is not sure of (a name
that is not a plain tag, an unknown name, a missing snapshot) answers None, and the
caller takes the full path through `Store`, which explains errors and unpacks layers.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sqlite3

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
# The forms docker normalises without surprises: `name`, `ns/name`, `host.tld[:port]/…`,
# `host:port/…`, `localhost[:port]/…`, each with an optional tag; no digest, no uppercase.
_PLAIN_NAME = re.compile(
    rf"(?:(localhost(?::[0-9]+)?|{_HOST}(?:\.{_HOST})+(?::[0-9]+)?|{_HOST}:[0-9]+)/)?"
    rf"({_COMPONENT}(?:/{_COMPONENT})*)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}))?",
    re.ASCII,
)


def default_root() -> str:
    """`PYBUILD_ROOT`, else `/var/lib/pybuild` for root, else `$XDG_DATA_HOME/pybuild`."""
    if env := os.environ.get("PYBUILD_ROOT"):
        return env
    if os.geteuid() == 0:
        return "/var/lib/pybuild"
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data_home, "pybuild")


def plain_tag(name: str) -> str | None:
    """The full tag docker reads `name` as (`busybox` → `docker.io/library/busybox:latest`),
    for the plain forms only; None for anything else (digests, IDs, odd domains)."""
    match = _PLAIN_NAME.fullmatch(name)
    if match is None:
        return None
    domain, path, tag = match.groups()
    if len(path) > 255 or len(name) == 64 and all(c in "0123456789abcdef" for c in name):
        return None  # too long, or a full image ID: the full parser says what is wrong
    if domain is None:
        # docker takes a first component with "." or ":" as a domain; this pattern did
        # not, so that name is one of docker's odd cases
        first, slash, _ = path.partition("/")
        if slash and ("." in first or ":" in first):
            return None
        domain = "docker.io"
    elif domain == "index.docker.io":
        domain = "docker.io"
    if domain == "docker.io" and "/" not in path:
        path = "library/" + path
    return f"{domain}/{path}:{tag or 'latest'}"


class Lease:
    """`gc.lock` held shared, as `Store.lease()` holds it: no prune deletes the snapshots
    while it is held. Released by `close()`, or when the process (and every child it
    forked) has closed the descriptor."""

    def __init__(self, root: str) -> None:
        self.fd = os.open(os.path.join(root, "gc.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_SH)
        except BaseException:
            os.close(self.fd)
            raise

    def close(self) -> None:
        os.close(self.fd)


def image_snapshots(root: str, name: str) -> tuple[dict, list[str]] | None:
    """The image config (parsed JSON) and snapshot directories (base layer first) of the
    image tagged `name` in the store at `root`, or None (see the module docstring). Hold
    a `Lease` while the directories are in use."""
    tag = plain_tag(name)
    database = os.path.join(root, "pybuild.db")
    if tag is None or not os.path.exists(database):
        return None
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=60, isolation_level=None)
    try:
        row = conn.execute("SELECT image_id FROM tags WHERE name = ?", (tag,)).fetchone()
        if row is None:
            return None
        algorithm, _, encoded = row[0].partition(":")
        try:
            with open(os.path.join(root, "blobs", algorithm, encoded), "rb") as f:
                config = json.loads(f.read())
        except FileNotFoundError:
            return None
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        # chain IDs from the snapshot records (each names its parent) rather than by
        # hashing: the base layer's chain ID is its diff ID
        directories = []
        parent = None
        for diff_id in diff_ids:
            chain = diff_id if parent is None else conn.execute(
                "SELECT chain_id FROM snapshots WHERE parent = ? AND diff_id = ?", (parent, diff_id)).fetchone()
            if chain is None:
                return None
            chain_id = chain if isinstance(chain, str) else chain[0]
            directory = os.path.join(root, "snapshots", chain_id.partition(":")[2])
            if not os.path.isdir(directory):
                return None
            directories.append(directory)
            parent = chain_id
        return config, directories
    finally:
        conn.close()
