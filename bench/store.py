"""Importing a root filesystem tar: `pybuild import` side by side with `docker import`.

Usage: .venv/bin/python bench/store.py [--runs 5] [--no-compression]

The tar is the ~120 MB debootstrap minbase bookworm rootfs of scripts/base_images.py
(made once per machine). dockerd is started here as the tests start it (tests/peers.py)
and stopped at the end. Each run imports into a fresh pybuild store and removes the
image from docker afterwards (`docker rmi`), so neither side finds the layer already
there; runs are interleaved after one warm-up each. Target: pybuild <= 0.5x docker's
median. What each side does differs, as the two designs do: docker extracts the tar into
an overlay2 layer directory; pybuild streams it into a gzip blob (diff ID and digest in
the same pass) and unpacks a snapshot only when a container or build first needs it. Then bench/compression.py (the compression library candidates) runs, unless
--no-compression.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import REPO, peers, report, side_by_side  # noqa: E402

TARGET = 0.5


def main() -> int:
    parser = argparse.ArgumentParser(description="pybuild import vs docker import")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-compression", action="store_true",
                        help="skip bench/compression.py")
    args = parser.parse_args()

    tar = peers.base_images.debian_tar()
    print(f"rootfs tar: {tar} ({tar.stat().st_size / 1e6:.1f} MB)")
    dockerd = peers.Dockerd.start()
    scratch = Path(tempfile.mkdtemp(prefix="pbbench-"))
    try:
        store = peers.Pybuild(scratch / "store")
        times = side_by_side(args.runs, {
            "pybuild import": (lambda: store("import", tar, "bench/debian:1"),
                               lambda: peers.base_images.remove_tree(store.root)),
            "docker import": (lambda: dockerd.docker("import", tar, "bench/debian:1"),
                              lambda: dockerd.docker("rmi", "bench/debian:1")),
        })
        print(f"dockerd: {dockerd.docker('version', '--format', '{{.Server.Version}}').stdout.strip()}"
              f", storage driver {dockerd.docker('info', '--format', '{{.Driver}}').stdout.strip()}")
        report(f"import of a {tar.stat().st_size / 1e6:.0f} MB rootfs tar", times,
               "pybuild import", "docker import", TARGET)
    finally:
        dockerd.stop()
        peers.base_images.remove_tree(scratch)

    compression = REPO / "bench" / "compression.py"
    if not args.no_compression and compression.exists():
        print(f"\n{compression.relative_to(REPO)}:", flush=True)
        subprocess.run([sys.executable, str(compression)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
