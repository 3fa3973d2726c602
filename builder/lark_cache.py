"""A lark LALR parser built once per grammar and kept on disk between runs.

Building the parse tables costs ~15 ms and loading them ~1 ms, which matters to every
command that reads a Dockerfile. lark's own `cache=` option writes its pickle in place
(and rewrites it whenever the grammar or any option, the path included, changes); this
module uses lark's `save` and `load` and decides where the file lives and how it is
written:

- the file name is a digest of all the tables depend on (grammar text, options, lark
  and Python versions; not the plugins, which only change the classes that run the
  tables), so a good file is never rewritten: a stale one is no longer looked up, and
  one that does not load is replaced;
- a new file is written to a temporary name in the same directory, fsync'ed and
  renamed, so a reader never sees half a file;
- a pickle can run code when loaded, so one is read only from a directory and a file
  that belong to the current user and that nobody else can write; otherwise the parser
  is built in memory.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from typing import TYPE_CHECKING, Any

from oci.atomicfile import atomic_writer

if TYPE_CHECKING:
    from lark import Lark

__all__ = ["cached_lark"]


def cached_lark(grammar: str, **options: Any) -> Lark:
    """`Lark(grammar, **options)`, loaded from or saved to the user's cache directory.
    Only the plain options (strings, numbers, flags) are part of the digest: the objects
    among them (a transformer, lark plugins) are pickled by reference with the tables."""
    from lark import Lark

    directory = _private_directory()
    if directory is None:
        return Lark(grammar, **options)
    path = os.path.join(directory, f"lark-{_digest(grammar, options)}.pickle")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return _build_and_save(grammar, options, path)
    except OSError:
        return Lark(grammar, **options)
    if not _private(info) or not stat.S_ISREG(info.st_mode):
        return Lark(grammar, **options)
    try:
        with open(path, "rb") as f:
            return Lark.load(f)
    except Exception:  # noqa: BLE001 - a damaged file: unpickling fails in many ways
        # Replaced, not left to cost every later process a build of the tables (a file
        # of lark's own `cache=` format once sat under such a name).
        return _build_and_save(grammar, options, path)


def _digest(grammar: str, options: dict[str, Any]) -> str:
    import lark

    plain = sorted((k, v) for k, v in options.items()
                   if isinstance(v, (str, int, float, bool, type(None))))
    text = "\0".join([grammar, repr(plain), lark.__version__, sys.version])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _build_and_save(grammar: str, options: dict[str, Any], path: str) -> Lark:
    from lark import Lark

    parser = Lark(grammar, **options)
    try:
        with atomic_writer(path, mode=0o600) as f:
            parser.save(f)
    except OSError:
        pass  # not saved (a full disk...): the parser works all the same
    return parser


def _private_directory() -> str | None:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(base, "pybuild")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        info = os.stat(directory)
    except OSError:
        return None
    return directory if _private(info) and stat.S_ISDIR(info.st_mode) else None


def _private(info: os.stat_result) -> bool:
    return info.st_uid == os.geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
