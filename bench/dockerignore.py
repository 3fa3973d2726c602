"""Walk a generated 100,000-file build context through a typical .dockerignore.

Compares `builder.dockerignore.walk_context` (which skips excluded directories
without reading them) with the naive approach (walk everything, then ask the
patterns about every path), with walking everything while matching each entry once
against its parent's results (BuildKit's walk when an exception has a wildcard), and
with a bare `os.walk` of the whole tree (visiting every file, no matching at all).
The three strategies must keep the same paths; the script checks that before it
prints ratios.

    .venv/bin/python bench/dockerignore.py [--files 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builder.dockerignore import DockerIgnore, walk_context  # noqa: E402

DOCKERIGNORE = """\
# a typical web/python project
.git
node_modules
**/__pycache__
**/*.pyc
*.log
build
dist
coverage
.env
!build/release-notes.txt
"""

# Share of the files in each top-level area, roughly what a JS + Python repo holds.
LAYOUT = [
    ("node_modules", 0.55, 8),
    (".git/objects", 0.15, 2),
    ("src", 0.15, 4),
    ("build", 0.07, 3),
    ("tests", 0.05, 3),
    ("docs", 0.03, 2),
]


def make_tree(root: Path, total: int) -> int:
    made = 0
    for area, share, depth in LAYOUT:
        count = int(total * share)
        for i in range(count):
            parts = [area] + [f"d{(i // (8 ** level)) % 8}" for level in range(depth - 1, 0, -1)]
            directory = root.joinpath(*parts)
            directory.mkdir(parents=True, exist_ok=True)
            suffix = (".py", ".pyc", ".js", ".log", ".md")[i % 5]
            if area == "src" and i % 7 == 0:
                directory = directory / "__pycache__"
                directory.mkdir(exist_ok=True)
            (directory / f"f{i}{suffix}").write_bytes(b"x")
            made += 1
    for name in ("Dockerfile", "README.md", "package.json", "build/release-notes.txt"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)
        made += 1
    (root / ".dockerignore").write_text(DOCKERIGNORE)
    return made + 1


def naive(root: Path, ignore: DockerIgnore) -> set[str]:
    kept = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(dirnames + filenames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if not ignore.matches(rel):
                kept.add(rel)
    # Excluded parents of kept paths are part of the context too.
    for rel in list(kept):
        parts = rel.split("/")
        kept.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return kept


def walk_all_with_parent_results(root: Path, ignore: DockerIgnore) -> set[str]:
    """What BuildKit does when an exception has wildcards: read every directory, match
    each entry once using its parent's results, never skip."""
    kept: set[str] = set()

    def visit(real: str, rel_dir: str, info: tuple) -> bool:
        any_kept = False
        with os.scandir(real) as scan:
            for entry in sorted(scan, key=lambda e: e.name):
                rel = rel_dir + entry.name
                excluded, child_info = ignore.match_with_parent(rel, info)
                below = entry.is_dir(follow_symlinks=False) and visit(entry.path, rel + "/", child_info)
                if not excluded or below:
                    kept.add(rel)
                    any_kept = True
        return any_kept

    visit(str(root), "", ())
    return kept


def bare_walk(root: Path) -> int:
    return sum(len(d) + len(f) for _, d, f in os.walk(root))


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    # tmpfs when there is one: the bench measures walking and matching, not the disk.
    parent = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="pybuild-bench-ignore-", dir=parent) as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        made = make_tree(root, args.files)
        print(f"generated {made} files in {time.perf_counter() - start:.1f} s")
        ignore = DockerIgnore.from_context(root)

        t_fast, fast = timed(lambda: {rel for rel, _ in walk_context(root, ignore)}, args.repeat)
        t_naive, slow = timed(lambda: naive(root, ignore), max(1, args.repeat // 2))
        t_all, everything = timed(lambda: walk_all_with_parent_results(root, ignore), max(1, args.repeat // 2))
        t_bare, visited = timed(lambda: bare_walk(root), args.repeat)
        if not fast == slow == everything:
            sys.exit("MISMATCH: the walks disagree on the context's contents")

        print(f"context entries kept:            {len(fast)} of {visited}")
        print(f"walk_context (skips excluded):   {t_fast:.3f} s")
        print(f"naive walk + match every path:   {t_naive:.3f} s")
        print(f"walk all, parent results:        {t_all:.3f} s")
        print(f"bare os.walk, no matching:       {t_bare:.3f} s")
        print(f"ratio naive / walk_context:              {t_naive / t_fast:.1f}x")
        print(f"ratio walk-all-no-skip / walk_context:   {t_all / t_fast:.1f}x")
        print(f"ratio bare os.walk / walk_context:       {t_bare / t_fast:.1f}x")


if __name__ == "__main__":
    main()
