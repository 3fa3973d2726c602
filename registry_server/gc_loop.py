"""Online garbage collection on a schedule (`serve --gc-interval MINUTES`): a process of
its own beside the workers, so a long collection never holds up a request."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from registry_server.config import GcConfig


def run_gc_loop(root: Path, config: GcConfig) -> None:
    """Collect every `config.interval` minutes, forever; each run's totals go to stderr."""
    from registry_server.gc import collect
    from registry_server.storage import Storage

    while True:
        time.sleep(config.interval * 60)
        storage = Storage(root)
        try:
            report = collect(storage, dry_run=False, delete_untagged=config.delete_untagged,
                             grace=config.grace * 60, upload_ttl=config.upload_ttl * 3600)
        finally:
            storage.close()
        print(f"registry gc: deleted {len(report.manifests_deleted)} manifests, "
              f"{len(report.blobs_deleted)} blobs ({report.bytes_freed} bytes), "
              f"{report.uploads_deleted} uploads", file=sys.stderr, flush=True)
