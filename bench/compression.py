"""Compression throughput of each candidate library on ~100 MB of realistic layer data.

Usage: .venv/bin/python bench/compression.py [--size-mb 100] [--runs 3]

The data is the start of a GNU tar of /usr/lib/python3.11 and /usr/lib/x86_64-linux-gnu
(Python sources and bytecode, then shared libraries: what OS and language layers hold; all
of /usr/lib would start with already-compressed JVM modules). Each candidate compresses
and decompresses the same bytes; throughput is MB/s of
uncompressed data (best of --runs), determinism is checked by compressing twice and by
comparing against a fresh process's output. The verdict names the fastest deterministic gzip
library, which oci.compression uses by default when installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oci import compression  # noqa: E402


@dataclass
class Candidate:
    name: str
    kind: str  # "gzip" or "zstd"
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes], bytes]


def raw_deflate(module, level: int) -> Callable[[bytes], bytes]:
    def run(data: bytes) -> bytes:
        c = module.compressobj(level, zlib.DEFLATED, -15)
        return c.compress(data) + c.flush()

    return run


def raw_inflate(module) -> Callable[[bytes], bytes]:
    def run(data: bytes) -> bytes:
        return module.decompressobj(-15).decompress(data)

    return run


def candidates() -> list[Candidate]:
    found = [
        Candidate(f"zlib (stdlib) level {lv}", "gzip", raw_deflate(zlib, lv), raw_inflate(zlib))
        for lv in (1, 6)
    ]
    try:
        from isal import isal_zlib

        found += [
            Candidate(f"isal level {lv}", "gzip", raw_deflate(isal_zlib, lv), raw_inflate(isal_zlib))
            for lv in (1, 2, 3)
        ]
    except ImportError:
        print("isal: not installed", file=sys.stderr)
    try:
        from zlib_ng import zlib_ng

        found += [
            Candidate(f"zlib-ng level {lv}", "gzip", raw_deflate(zlib_ng, lv), raw_inflate(zlib_ng))
            for lv in (1, 6)
        ]
    except ImportError:
        print("zlib-ng: not installed", file=sys.stderr)
    import zstandard

    for lv in (1, 3, 9):
        found.append(
            Candidate(
                f"zstandard level {lv}",
                "zstd",
                zstandard.ZstdCompressor(level=lv).compress,
                zstandard.ZstdDecompressor().decompress,
            )
        )
    return found


def sample_data(size: int) -> bytes:
    cache = Path(tempfile.gettempdir()) / f"pybuild-bench-layer-{size}.tar"
    if not cache.exists() or cache.stat().st_size != size:
        tar = subprocess.Popen(["tar", "-cf", "-", "-C", "/usr", "lib/python3.11", "lib/x86_64-linux-gnu"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        data = tar.stdout.read(size)
        tar.kill()
        tar.wait()
        cache.write_bytes(data)
    return cache.read_bytes()


def best_of(runs: int, fn: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def layer_writer_digest(data: bytes, kind: str) -> str:
    """Digest of what LayerWriter (the code path pybuild uses) makes of `data`."""
    with open(os.devnull, "wb") as sink:
        writer = compression.LayerWriter(sink, kind)
        view = memoryview(data)
        for off in range(0, len(data), 1 << 20):
            writer.write(view[off:off + (1 << 20)])
        return writer.close().digest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--layer-digest", choices=["gzip", "zstd"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    data = sample_data(args.size_mb * 1_000_000)
    if args.layer_digest:
        print(layer_writer_digest(data, args.layer_digest))
        return
    mb = len(data) / 1e6
    print(f"data: {mb:.0f} MB of `tar -c /usr/lib/python3.11 /usr/lib/x86_64-linux-gnu`; "
          f"best of {args.runs} runs; MB/s of uncompressed data")
    print(f"{'candidate':26} {'compress':>10} {'decompress':>11} {'ratio':>7} {'deterministic':>14}")
    rows = []
    for cand in candidates():
        ct, packed = best_of(args.runs, lambda: cand.compress(data))
        dt, unpacked = best_of(args.runs, lambda: cand.decompress(packed))
        assert unpacked == data, cand.name
        deterministic = hashlib.sha256(cand.compress(data)).digest() == hashlib.sha256(packed).digest()
        rows.append((cand, mb / ct, mb / dt, len(packed) / len(data), deterministic))
        print(f"{cand.name:26} {mb / ct:10.0f} {mb / dt:11.0f} {len(packed) / len(data):7.3f} "
              f"{'yes' if deterministic else 'NO':>14}")

    print()
    for kind in ("gzip", "zstd"):
        digests = {
            subprocess.run([sys.executable, __file__, "--size-mb", str(args.size_mb),
                            "--layer-digest", kind], check=True, capture_output=True,
                           text=True).stdout.strip()
            for _ in range(2)
        }
        elapsed, _ = best_of(args.runs, lambda: layer_writer_digest(data, kind))
        backend = compression.gzip_backend() if kind == "gzip" else "zstandard"
        print(f"LayerWriter({kind!r}) with backend {backend}: "
              f"{mb / elapsed:.0f} MB/s incl. both sha256; same digest in two processes: "
              f"{'yes' if len(digests) == 1 else 'NO'}")

    gzip_rows = [r for r in rows if r[0].kind == "gzip" and r[4]]
    fastest = max(gzip_rows, key=lambda r: r[1])
    stdlib6 = next(r for r in rows if r[0].name == "zlib (stdlib) level 6")
    default_name = (f"isal level {compression.GZIP_LEVEL}" if compression.gzip_backend() == "isal"
                    else f"zlib (stdlib) level {compression.GZIP_LEVEL}")
    default = next(r for r in rows if r[0].name == default_name)
    print()
    print(f"verdict: fastest deterministic gzip here: {fastest[0].name} ({fastest[1]:.0f} MB/s). "
          f"oci.compression uses {default_name}: {default[1] / stdlib6[1]:.1f}x stdlib zlib level 6 "
          f"(Go/docker's default) to compress, {default[2] / stdlib6[2]:.1f}x to decompress, "
          f"ratio {default[3]:.3f} vs {stdlib6[3]:.3f}.")

if __name__ == "__main__":
    main()
