"""Parsed Dockerfiles kept on disk between runs, so a rebuild of an unchanged Dockerfile
neither imports lark nor loads its tables (~25 ms of a ~110 ms no-op rebuild).

- The file name is a digest of the text, the name messages give the file, the Python
  version and a stamp of the code that parses (size and mtime of every module and
  grammar file of the builder package), so an edited parser never reads an old result.
- Only successful parses are kept; an error is raised by a fresh parse every time.
- As builder/lark_cache.py: files live in the user's private cache directory and are
  read only when they belong to the user and nobody else can write them; a new file is
  written to a temporary name, fsync'ed and renamed; one that does not load is parsed
  again and replaced.
- At most KEEP results are kept: writing a new one removes the least recently used.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import sys
from typing import TYPE_CHECKING

from builder.lark_cache import _private, _private_directory
from oci.atomicfile import atomic_writer

if TYPE_CHECKING:
    from builder.ast import Dockerfile

__all__ = ["cached_parse"]

KEEP = 64
_PREFIX = "parsed-"


def cached_parse(text: str, file: str = "Dockerfile") -> Dockerfile:
    """`builder.parser.parse(text, file)`, loaded from or saved to the cache directory."""
    directory = _private_directory()
    if directory is None:
        return _parse(text, file)
    path = os.path.join(directory, f"{_PREFIX}{_digest(text, file)}.pickle")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return _parse_and_save(text, file, directory, path)
    except OSError:
        return _parse(text, file)
    if not _private(info) or not stat.S_ISREG(info.st_mode):
        return _parse(text, file)
    try:
        with open(path, "rb") as f:
            result = pickle.load(f)
    except Exception:  # noqa: BLE001 - a damaged file: unpickling fails in many ways
        return _parse_and_save(text, file, directory, path)
    try:
        os.utime(path)  # its use, for the least-recently-used pruning
    except OSError:
        pass  # a read-only cache still serves
    return result


def _parse(text: str, file: str) -> Dockerfile:
    from builder.parser import parse

    return parse(text, file=file)


def _code_stamp() -> list[tuple[str, int, int]]:
    here = os.path.dirname(os.path.abspath(__file__))
    stamp = []
    for folder in (here, os.path.join(here, "grammar")):
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.endswith((".py", ".lark")):
                    st = entry.stat()
                    stamp.append((entry.path, st.st_size, st.st_mtime_ns))
    return sorted(stamp)


def _digest(text: str, file: str) -> str:
    key = repr((text, file, sys.version, _code_stamp()))
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _parse_and_save(text: str, file: str, directory: str, path: str) -> Dockerfile:
    result = _parse(text, file)  # raises on an error: nothing is saved
    try:
        with atomic_writer(path, mode=0o600) as f:
            pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError:
        return result  # not saved (a full disk...): the result is good all the same
    _prune(directory)
    return result


def _prune(directory: str) -> None:
    kept = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.startswith(_PREFIX) and entry.name.endswith(".pickle"):
                try:
                    kept.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.path))
                except FileNotFoundError:
                    continue
    for _, path in sorted(kept)[:-KEEP]:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass  # another process pruned it first
