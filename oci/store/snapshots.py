"""`snapshots/<chain-id hex>/`: each layer unpacked once, in overlay form (whiteouts as
0/0 character devices, opaque directories marked with the overlay xattr), so that a
stack of them can serve as overlay lowerdirs read-only.

A snapshot appears by one rename of a finished directory from `tmp/` (an unpacked layer,
or a RUN step's upperdir), so a reader never sees a half-unpacked one; removal renames it
back into `tmp/` before deleting, for the same reason."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from oci.digest import split_digest
from oci.errors import DigestMismatch


def tree_size(path: Path) -> int:
    """Bytes of the regular files under `path` (hard links counted once)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


class Snapshots:
    def __init__(self, root: Path, tmp_dir: Path) -> None:
        self.root = root
        self.tmp_dir = tmp_dir

    def path(self, chain_id: str) -> Path:
        return self.root / split_digest(chain_id)[1]

    def exists(self, chain_id: str) -> bool:
        return self.path(chain_id).is_dir()

    def unpack(self, chain_id: str, diff_id: str, open_layer: Callable[[], BinaryIO]) -> Path:
        """Unpack the layer `open_layer()` streams (compressed or not) as snapshot
        `chain_id`, unless another process has just done so. A layer whose content is not
        `diff_id` never becomes a snapshot."""
        from oci.apply import apply_layer

        target = self.path(chain_id)
        if target.is_dir():
            return target
        work = Path(tempfile.mkdtemp(prefix="snapshot-", dir=self.tmp_dir))
        try:
            os.chmod(work, 0o755)
            with open_layer() as raw:
                stats = apply_layer(raw, work, overlay=True)
            if stats.diff_id != diff_id:
                raise DigestMismatch(f"layer for snapshot {chain_id}: content is {stats.diff_id}, expected {diff_id}")
            return self.adopt(chain_id, work)
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)

    def adopt(self, chain_id: str, directory: Path) -> Path:
        """Make `directory` (on the store's filesystem, e.g. under `tmp/`) the snapshot
        `chain_id` by renaming it; if that snapshot exists already, `directory` stays."""
        target = self.path(chain_id)
        self.root.mkdir(exist_ok=True)
        try:
            os.rename(directory, target)
        except OSError:
            if not target.is_dir():
                raise
        return target

    def remove(self, chain_id: str) -> int:
        """Delete a snapshot; returns the bytes freed."""
        target = self.path(chain_id)
        if not target.is_dir():
            return 0
        doomed = Path(tempfile.mkdtemp(prefix="removing-", dir=self.tmp_dir)) / "snapshot"
        os.rename(target, doomed)
        size = tree_size(doomed)
        shutil.rmtree(doomed.parent, ignore_errors=True)
        return size

    def chain_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return [f"sha256:{entry.name}" for entry in self.root.iterdir() if entry.is_dir()]
