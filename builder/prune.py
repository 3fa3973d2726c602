"""`pybuild builder prune`: forget build-cache records and unpin the snapshots they kept,
then let the store collect what nothing uses any more. Without it the cache only grows:
every step that ran leaves its snapshot pinned (builder/cache.py).

- default: records whose snapshot is not part of a stored image (those images keep the
  snapshot anyway) and every pin no record needs;
- `all`: every record, the slots that explain misses, and the RUN cache mounts;
- `until`: only what is older than that many seconds (records by when their step ran,
  cache mounts by their directory's mtime).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from builder.cache import PIN_OWNER, BuildCache
from oci.errors import BlobNotFound, UserError
from oci.store import Store
from oci.store.snapshots import tree_size

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


@dataclass
class PruneReport:
    records: int = 0  # build-cache records deleted
    cache_mounts: int = 0  # RUN --mount=type=cache directories deleted
    reclaimed: int = 0  # bytes freed on disk


class InvalidFilter(UserError):
    """A `--filter` builder prune does not know."""


def parse_until(text: str) -> float:
    """A Go duration (`24h`, `1h30m`, `90s`) in seconds, as `--filter until=` takes."""
    if not text or _DURATION.sub("", text) != "" or not _DURATION.search(text):
        raise InvalidFilter(f"invalid --filter until={text!r}: expected a duration such as 24h, 30m or 90s")
    return sum(float(number) * _UNIT[unit] for number, unit in _DURATION.findall(text))


def prune_build_cache(store: Store, *, everything: bool = False, older_than: float | None = None) -> PruneReport:
    from oci.config import chain_ids

    report = PruneReport()
    cutoff = time.time() - older_than if older_than is not None else None
    in_images: set[str] = set()
    if not everything:
        for image in store.images():
            try:
                config = json.loads(store.config_bytes(image))
            except BlobNotFound:  # an image half-removed by another process keeps nothing
                continue
            in_images.update(chain_ids((config.get("rootfs") or {}).get("diff_ids") or []))
    cache = BuildCache(store.root / "pybuild.db")
    try:
        doomed = [key for key, chain_id, created in cache.steps()
                  if (cutoff is None or created < cutoff) and (everything or chain_id not in in_images)]
        cache.delete_steps(doomed, slots=everything and cutoff is None)
        report.records = len(doomed)
        needed = {chain_id for _, chain_id, _ in cache.steps()}
        for chain_id in cache.pinned_chains() - needed:
            store.unpin_snapshot(chain_id, PIN_OWNER)
    finally:
        cache.close()
    if everything:
        report.cache_mounts, report.reclaimed = _remove_cache_mounts(store.root / "cache-mounts", cutoff)
    report.reclaimed += store.collect_garbage(blocking=True) or 0
    return report


def _remove_cache_mounts(directory: Path, cutoff: float | None) -> tuple[int, int]:
    if not directory.is_dir():
        return 0, 0
    count = freed = 0
    for entry in directory.iterdir():
        if cutoff is not None and entry.stat().st_mtime >= cutoff:
            continue
        # Renamed away first, so a build starting now makes a fresh one instead of
        # getting a half-deleted directory.
        doomed = directory / f".removing-{entry.name}-{os.getpid()}"
        os.rename(entry, doomed)
        freed += tree_size(doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        count += 1
    return count, freed
