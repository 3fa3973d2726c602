"""Helpers shared by the benchmarks: the peers of tests/peers.py (dockerd, registry, base
rootfs tars, the pybuild CLI) and side-by-side timing that prints ratios."""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent


def _load_peers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("peers", REPO / "tests" / "peers.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# One implementation of starting and stopping the peers, shared with the tests.
peers = _load_peers()


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def side_by_side(runs: int, contenders: dict[str, tuple[Callable[[], object], Callable[[], object]]],
                 warmup: bool = True) -> dict[str, list[float]]:
    """Times each contender's action `runs` times, interleaved so that both see the same
    machine noise; each contender's cleanup runs after each action, outside the timing,
    and so does a sync."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for i in range(runs + int(warmup)):
        for name, (action, cleanup) in contenders.items():
            elapsed = timed(action)
            cleanup()
            # Flush what this run wrote: on ext4 (data=ordered) the next contender's fsync
            # would otherwise wait for the previous one's dirty pages.
            os.sync()
            if i or not warmup:
                times[name].append(elapsed)
    return times


def report(title: str, times: dict[str, list[float]], ours: str, theirs: str, target: float) -> float:
    """Prints each contender's median (and spread) and the ratio ours/theirs against target."""
    print(f"\n{title} (median of {len(times[ours])})")
    for name, samples in times.items():
        print(f"  {name:<28} {statistics.median(samples):8.3f} s   "
              f"(min {min(samples):.3f}, max {max(samples):.3f})")
    ratio = statistics.median(times[ours]) / statistics.median(times[theirs])
    verdict = "meets" if ratio <= target else "MISSES"
    print(f"  ratio {ours} / {theirs} = {ratio:.2f}x  ({verdict} the target <= {target}x)")
    return ratio
