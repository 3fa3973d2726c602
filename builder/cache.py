"""The build cache, kept in the store's SQLite database (`pybuild.db`) beside the image
tables, in tables of its own:

- `build_steps`: cache key -> what the step left: the chain ID of the snapshot stack it
  started from and the one it ended with, its layer's diff ID and when it ran. The snapshot of a layer made by a build is the
  step's upperdir adopted by the store, pinned for the cache (owner `build-cache`) so an
  `image prune` does not take it.
- `build_layer_blobs`: (diff ID, blob kind) -> the layer blob written for it, the kind
  being the compression plus whether it was the portable gzip of reproducible builds
  (`blob_kind`): a SOURCE_DATE_EPOCH build must never reuse an ISA-L blob. A blob that
  is gone (pruned with an image) is written again from the snapshot.
- `build_slots`: where a step stands in a Dockerfile (builder.cachekey.step_slot) -> the
  `CacheRecord` of its last build, to say why the next build of that slot missed.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from builder.cachekey import CacheRecord
from oci.manifest import Descriptor

PIN_OWNER = "build-cache"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS build_steps (key TEXT PRIMARY KEY, parent_chain TEXT, chain_id TEXT NOT NULL,"
    " diff_id TEXT NOT NULL, created REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS build_layer_blobs (diff_id TEXT NOT NULL, compression TEXT NOT NULL,"
    " digest TEXT NOT NULL, size INTEGER NOT NULL, media_type TEXT NOT NULL,"
    " PRIMARY KEY (diff_id, compression))",
    "CREATE TABLE IF NOT EXISTS build_slots (slot TEXT PRIMARY KEY, record BLOB NOT NULL)",
)


def blob_kind(compression: str, epoch: int | None) -> str:
    """The key a layer blob is cached under: with an epoch gzip is the portable encoder's
    (oci.compression's `portable`), whose bytes differ from the fast default's."""
    return f"{compression}+portable" if epoch is not None and compression == "gzip" else compression


@dataclass(frozen=True)
class CachedStep:
    parent_chain: str | None  # the stack the step ran on (None: empty root)
    chain_id: str  # the stack after it
    diff_id: str  # its layer
    created: float = 0.0  # when the step ran (its history entry's time)


class BuildCache:
    def __init__(self, db_path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(db_path, timeout=60, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout = 60000")
        self._db.execute("PRAGMA synchronous = NORMAL")
        with self._lock:
            for statement in _SCHEMA:
                self._db.execute(statement)

    def close(self) -> None:
        self._db.close()

    def _one(self, sql: str, params: tuple) -> tuple | None:
        with self._lock:
            return self._db.execute(sql, params).fetchone()

    def _write(self, sql: str, params: tuple) -> None:
        with self._lock:
            self._db.execute(sql, params)

    def step(self, key: str) -> CachedStep | None:
        row = self._one("SELECT parent_chain, chain_id, diff_id, created FROM build_steps WHERE key = ?", (key,))
        return CachedStep(*row) if row else None

    def save_step(self, key: str, step: CachedStep) -> None:
        self._write("INSERT OR REPLACE INTO build_steps(key, parent_chain, chain_id, diff_id, created)"
                    " VALUES (?, ?, ?, ?, ?)", (key, step.parent_chain, step.chain_id, step.diff_id, step.created or time.time()))

    def layer_blob(self, diff_id: str, kind: str) -> Descriptor | None:
        row = self._one("SELECT digest, size, media_type FROM build_layer_blobs WHERE diff_id = ? AND compression = ?",
                        (diff_id, kind))
        return Descriptor(media_type=row[2], digest=row[0], size=row[1]) if row else None

    def save_layer_blob(self, diff_id: str, kind: str, descriptor: Descriptor) -> None:
        self._write("INSERT OR REPLACE INTO build_layer_blobs(diff_id, compression, digest, size, media_type)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (diff_id, kind, descriptor.digest, descriptor.size, descriptor.media_type))

    def slot(self, slot: str) -> CacheRecord | None:
        row = self._one("SELECT record FROM build_slots WHERE slot = ?", (slot,))
        return CacheRecord.from_json(row[0]) if row else None

    def save_slot(self, slot: str, record: CacheRecord) -> None:
        text = record.to_json()
        # A cached rebuild finds the record it would write: no commit, no fsync.
        if self._one("SELECT 1 FROM build_slots WHERE slot = ? AND record = ?", (slot, text)) is None:
            self._write("INSERT OR REPLACE INTO build_slots(slot, record) VALUES (?, ?)", (slot, text))

    # ---- pruning (builder/prune.py) ----------------------------------------------------

    def steps(self) -> list[tuple[str, str, float]]:
        """Every record: (key, chain ID, when the step ran)."""
        with self._lock:
            return self._db.execute("SELECT key, chain_id, created FROM build_steps").fetchall()

    def pinned_chains(self) -> set[str]:
        """Snapshots the cache holds pinned in the store (its `snapshot_pins` rows of
        owner PIN_OWNER), records or not: a step that ran again replaced its record
        and left the old snapshot pinned."""
        with self._lock:
            rows = self._db.execute("SELECT chain_id FROM snapshot_pins WHERE owner = ?", (PIN_OWNER,)).fetchall()
        return {row[0] for row in rows}

    def delete_steps(self, keys: list[str], *, slots: bool) -> None:
        """Forget these records, the layer blobs no record names any more and, with
        `slots`, what explains the next miss of each Dockerfile step."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("DELETE FROM build_steps WHERE key = ?", [(k,) for k in keys])
                self._db.execute("DELETE FROM build_layer_blobs WHERE diff_id NOT IN (SELECT diff_id FROM build_steps)")
                if slots:
                    self._db.execute("DELETE FROM build_slots")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
