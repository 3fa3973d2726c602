"""write_tree and apply_layer side by side with GNU tar on the same ~100 MB tree.

Usage: .venv/bin/python bench/tar.py [--runs 5] [--tree DIR] [--work DIR]

The default tree is a copy of /usr/lib/python3 and /usr/lib/python3.11 (many small Python
files, some shared libraries). Each pair runs alternately, medians of --runs are printed
with the ratio pybuild / GNU tar (below 1 means pybuild is faster). Extraction targets are
fresh directories under --work (default /var/tmp, a disk; /dev/shm shows the CPU cost
without the disk); the tar extracted is the same file for both.
pybuild's numbers include what GNU tar does not do: reading/writing xattrs and, for
apply_layer, hashing the stream for the diff ID.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oci.apply import apply_layer  # noqa: E402
from oci.compression import LayerWriter, gzip_backend  # noqa: E402
from oci.tarwriter import write_tree  # noqa: E402


def timed(fn: Callable[[], object], before: Callable[[], object] = lambda: None) -> float:
    before()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def write_plain(tree: Path, out: Path) -> None:
    with open(out, "wb") as f:
        write_tree(tree, f)


def write_gzip(tree: Path, out: Path) -> None:
    with open(out, "wb") as f:
        writer = LayerWriter(f, "gzip")
        write_tree(tree, writer)
        writer.close()


def apply_into(layer: Path, dest: Path) -> None:
    with open(layer, "rb") as f:
        apply_layer(f, dest)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tree", type=Path)
    parser.add_argument("--work", type=Path, default=Path("/var/tmp"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pybuild-bench-tar-", dir=args.work))
    try:
        tree = args.tree
        if tree is None:
            tree = work / "tree"
            tree.mkdir()
            for src in ("/usr/lib/python3", "/usr/lib/python3.11"):
                subprocess.run(["cp", "-a", src, str(tree)], check=True)
        size = int(subprocess.run(["du", "-sb", str(tree)], capture_output=True, text=True,
                                  check=True).stdout.split()[0])
        files = sum(len(f) + len(d) for _, d, f in os.walk(tree))
        print(f"tree: {tree} ({size / 1e6:.0f} MB, {files} entries) in {args.work}; "
              f"medians of {args.runs} runs; gzip backend {gzip_backend()}")
        layer, layer_gz = work / "layer.tar", work / "layer.tar.gz"
        write_plain(tree, layer)
        write_gzip(tree, layer_gz)
        dest = work / "dest"

        def fresh_dest() -> None:
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir()
            subprocess.run(["sync"], check=True)

        def gnu_tar(*flags: str) -> Callable[[], object]:
            return lambda: subprocess.run(["tar", *flags], check=True)

        pairs = [
            ("create tar", gnu_tar("-cf", str(work / "gnu.tar"), "-C", str(tree), "."),
             lambda: write_plain(tree, work / "py.tar"), lambda: None),
            ("create tar.gz", gnu_tar("-czf", str(work / "gnu.tar.gz"), "-C", str(tree), "."),
             lambda: write_gzip(tree, work / "py.tar.gz"), lambda: None),
            ("extract tar", gnu_tar("-xf", str(layer), "-C", str(dest)),
             lambda: apply_into(layer, dest), fresh_dest),
            ("extract tar.gz", gnu_tar("-xzf", str(layer_gz), "-C", str(dest)),
             lambda: apply_into(layer_gz, dest), fresh_dest),
        ]
        print(f"{'operation':16} {'GNU tar s':>10} {'pybuild s':>10} {'ratio':>7}")
        for name, gnu, ours, before in pairs:
            gnu_times, our_times = [], []
            for _ in range(args.runs):
                gnu_times.append(timed(gnu, before))
                our_times.append(timed(ours, before))
            g, o = statistics.median(gnu_times), statistics.median(our_times)
            print(f"{name:16} {g:10.3f} {o:10.3f} {o / g:7.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
