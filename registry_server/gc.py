"""Garbage collection, safe while the server runs.

1. With `delete_untagged`: manifests that no tag reaches (directly, through an index, or
   as a referrer of a reached manifest) are deleted, unless pushed within the grace
   period (a multi-platform push uploads the children before the index that tags them).
2. Links from a repository to blobs none of its manifests is or uses are dropped once
   older than the grace period (blobs pushed for a manifest still to come are kept).
3. Blob files no repository links are deleted, unless written within the grace period.
   Each file is checked and deleted while holding the database's write lock, and mounts
   and manifest pushes check their references under the same lock, so a push racing the
   collection either sees the blob gone (and uploads it again) or keeps it alive.
4. Upload sessions untouched for `upload_ttl` and stray temporary files are removed.

Steps 1 and 2 are one transaction; `dry_run` rolls it back and deletes no file."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from oci.digest import ALGORITHMS
from registry_server.storage import Storage, is_upload_id

DEFAULT_GRACE = 3600.0
DEFAULT_UPLOAD_TTL = 24 * 3600.0


@dataclass
class GcReport:
    manifests_deleted: list[str] = field(default_factory=list)  # "repo@digest"
    links_deleted: int = 0
    blobs_deleted: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    uploads_deleted: int = 0


def reachable_manifests(manifests: list[tuple[str, str, float, str | None]],
                        tags: list[tuple[str, str]], refs: list[tuple[str, str, str]],
                        keep_after: float) -> set[tuple[str, str]]:
    """(repo, digest) of the manifests to keep: tagged or pushed after `keep_after`, what
    those reference (index children), and the referrers of anything kept, to a fixpoint."""
    known = {(repo, digest) for repo, digest, _, _ in manifests}
    children: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for repo, manifest, digest in refs:
        if (repo, digest) in known:
            children[(repo, manifest)].append((repo, digest))
    referrers: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for repo, digest, _, subject in manifests:
        if subject:
            referrers[(repo, subject)].append((repo, digest))
    roots = {(repo, digest) for repo, digest in tags if (repo, digest) in known}
    roots |= {(repo, digest) for repo, digest, created, _ in manifests if created >= keep_after}
    keep: set[tuple[str, str]] = set()
    todo = list(roots)
    while todo:
        node = todo.pop()
        if node in keep:
            continue
        keep.add(node)
        todo += children.get(node, []) + referrers.get(node, [])
    return keep


def collect(storage: Storage, *, dry_run: bool = False, delete_untagged: bool = False,
            grace: float = DEFAULT_GRACE, upload_ttl: float = DEFAULT_UPLOAD_TTL,
            now: float | None = None) -> GcReport:
    now = time.time() if now is None else now
    cutoff = now - grace
    meta, blobs = storage.meta, storage.blobs
    report = GcReport()

    with meta.transaction(commit=not dry_run):
        if delete_untagged:
            manifests, tags, refs = meta.gc_graph()
            keep = reachable_manifests(manifests, tags, refs, cutoff)
            for repo, digest, _, _ in manifests:
                if (repo, digest) not in keep:
                    meta.delete_manifest_rows(repo, digest)
                    report.manifests_deleted.append(f"{repo}@{digest}")
        report.links_deleted = meta.delete_unreferenced_links(cutoff)
        linked_now = meta.linked_digests() if dry_run else set()

    for path, digest in _blob_files(blobs.blobs):
        if dry_run:
            if digest not in linked_now and _older(path, cutoff):
                report.blobs_deleted.append(digest)
                report.bytes_freed += _size(path)
            continue
        with meta.transaction():
            if meta.has_links(digest) or not _older(path, cutoff):
                continue
            size = _size(path)
            path.unlink(missing_ok=True)
        report.blobs_deleted.append(digest)
        report.bytes_freed += size

    upload_cutoff = now - upload_ttl
    sessions = meta.upload_ids()
    for upload_id in meta.uploads_started_before(upload_cutoff):
        if _older(blobs.upload_path(upload_id), upload_cutoff):
            report.uploads_deleted += 1
            if not dry_run:
                meta.delete_upload(upload_id)
                blobs.discard_upload(upload_id)
    for path in blobs.uploads.iterdir():
        stray = not (is_upload_id(path.name) and path.name in sessions)
        if stray and _older(path, cutoff):
            report.uploads_deleted += 1
            if not dry_run:
                path.unlink(missing_ok=True)
    return report


def _blob_files(root: Path):
    for algorithm in ALGORITHMS:
        directory = root / algorithm
        if directory.is_dir():
            for path in directory.iterdir():
                yield path, f"{algorithm}:{path.name}"


def _older(path: Path, cutoff: float) -> bool:
    """True if `path` was last written before `cutoff` (a vanished file counts as old)."""
    try:
        return path.stat().st_mtime < cutoff
    except FileNotFoundError:
        return True


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
