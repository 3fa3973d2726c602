"""The build context: what COPY and ADD read, and a content digest of any selection of it.

A selection is what one COPY/ADD would read: its sources after wildcard matching and
symlink following, with the `.dockerignore` and `--exclude` applied (the same rules as
builder/copy.py, from the same functions). Its digest covers, for every path in walk
order, the path, the file type, permission bits, (optionally) owner, size, device
numbers, symlink target and the sha256 of the content, and never the mtime: touching a
file does not miss the cache, editing it does.

Reading 5,000 files on every build would cost more than the whole cached rebuild may, so
content digests are memoised by (path, dev, inode, size, mtime_ns, ctime_ns) in a
`HashMemo`: a rebuild stats every file and reads only those whose stat changed.
`SqliteHashMemo` keeps the memo between processes.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field

from builder.copy import CopyOptions, filter_child, match_sources, resolve_in_root, source_filters
from builder.dockerignore import DockerIgnore, walk_context

__all__ = [
    "BuildContext",
    "HashMemo",
    "Selection",
    "SqliteHashMemo",
    "hash_selection",
]

StatKey = tuple[int, int, int, int, int]


class HashMemo(dict[str, tuple[StatKey, str]]):
    """Real path -> (stat key, content sha256 hex), remembering what was set since it
    was loaded (`changed`) so a persistent memo writes only that."""

    def __init__(self) -> None:
        super().__init__()
        self.changed: dict[str, tuple[StatKey, str]] = {}

    def __setitem__(self, key: str, value: tuple[StatKey, str]) -> None:
        super().__setitem__(key, value)
        self.changed[key] = value


class SqliteHashMemo(HashMemo):
    """A HashMemo persisted in a SQLite file (WAL, so concurrent builds can share it).
    `load(prefix)` reads the rows of one context directory at once; `save()` writes what
    changed in one transaction."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = os.fspath(path)
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS file_hash (path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER,"
            " size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, sha256 TEXT) WITHOUT ROWID")

    def load(self, prefix: str) -> SqliteHashMemo:
        prefix = prefix.rstrip("/") + "/"
        # Every path below prefix sorts between "prefix/" and "prefix0" ("0" follows "/").
        rows = self._db.execute(
            "SELECT path, dev, ino, size, mtime_ns, ctime_ns, sha256 FROM file_hash WHERE path >= ? AND path < ?",
            (prefix, prefix[:-1] + "0"))
        for path, dev, ino, size, mtime, ctime, digest in rows:
            dict.__setitem__(self, path, ((dev, ino, size, mtime, ctime), digest))
        return self

    def save(self) -> None:
        if not self.changed:
            return
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO file_hash VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(path, *key, digest) for path, (key, digest) in self.changed.items()])
        self.changed.clear()

    def close(self) -> None:
        self.save()
        self._db.close()

    def __enter__(self) -> SqliteHashMemo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Selection:
    """The digest of what one COPY/ADD reads, and per path (relative to the source
    root, as the copy names it) the digest of that entry, to explain a cache miss."""

    digest: str
    entries: dict[str, str] = field(repr=False, compare=False)


def _content_digest(real: str, st: os.stat_result, memo: MutableMapping[str, tuple[StatKey, str]] | None) -> str:
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if memo is not None:
        cached = memo.get(real)
        if cached is not None and tuple(cached[0]) == key:
            return cached[1]
    h = hashlib.sha256()
    with open(real, "rb") as f:
        if st.st_size <= 1 << 20:
            h.update(f.read())
        else:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    digest = h.hexdigest()
    if memo is not None:
        memo[real] = (key, digest)
    return digest


def _entry_digest(real: str, st: os.stat_result, owners: bool,
                  memo: MutableMapping[str, tuple[StatKey, str]] | None) -> str:
    mode = st.st_mode
    fields = [f"{stat.S_IFMT(mode):o}", f"{stat.S_IMODE(mode):o}"]
    if owners:
        fields.append(f"{st.st_uid}:{st.st_gid}")
    if stat.S_ISREG(mode):
        fields += [str(st.st_size), _content_digest(real, st, memo)]
    elif stat.S_ISLNK(mode):
        fields.append(os.readlink(real))
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        fields.append(f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}")
    return " ".join(fields)


def _walk_selection(source_root: str, sources: Sequence[str], options: CopyOptions,
                    where: str) -> Iterator[tuple[str, str, os.stat_result]]:
    """(shown path, real path, lstat) of every entry one COPY reads, in copy order."""
    exclude = DockerIgnore.from_patterns(list(options.exclude), "--exclude") if options.exclude else None
    for source in sources:
        full = source.replace("/./", "/", 1) if options.parents else source
        for match in match_sources(source_root, full, options.ignore, where):
            real = resolve_in_root(source_root, match)
            st = os.lstat(real)
            yield match, real, st
            if stat.S_ISDIR(st.st_mode):
                filters = source_filters(source_root, real, options.ignore, exclude)
                yield from _walk_dir(real, match, filters, tuple(f.start() for f in filters))


def _walk_dir(real: str, shown: str, filters, infos, rel: str = "") -> Iterator[tuple[str, str, os.stat_result]]:
    with os.scandir(real) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    for entry in entries:
        child_rel = f"{rel}/{entry.name}" if rel else entry.name
        st = entry.stat(follow_symlinks=False)
        is_dir = stat.S_ISDIR(st.st_mode)
        child_infos = filter_child(filters, infos, child_rel, is_dir)
        if child_infos is None:
            continue
        path = f"{shown}/{child_rel}" if shown else child_rel
        yield path, entry.path, st
        if is_dir:
            yield from _walk_dir(entry.path, shown, filters, child_infos, child_rel)


def hash_selection(source_root: str | os.PathLike[str], sources: Sequence[str], *,
                   options: CopyOptions = CopyOptions(), owners: bool | None = None,
                   memo: MutableMapping[str, tuple[StatKey, str]] | None = None,
                   where: str = "") -> Selection:
    """The content digest of what `copy_sources(source_root, sources, ...)` reads.

    owners: whether file owners count (default: not for the build context, whose files
    are copied as 0:0 — `options.reset_owner` — yes for a stage or an image)."""
    root = os.path.realpath(source_root)
    if owners is None:
        owners = not options.reset_owner
    total = hashlib.sha256()
    entries: dict[str, str] = {}
    for shown, real, st in _walk_selection(root, sources, options, where):
        entry = _entry_digest(real, st, owners, memo)
        entries[shown] = entry
        total.update(f"{shown}\0{entry}\n".encode("utf-8", "surrogateescape"))
    return Selection("sha256:" + total.hexdigest(), entries)


@dataclass(frozen=True)
class BuildContext:
    """A build context directory with its .dockerignore."""

    root: str
    ignore: DockerIgnore

    @classmethod
    def open(cls, root: str | os.PathLike[str], dockerfile: str | os.PathLike[str] | None = None) -> BuildContext:
        return cls(os.path.realpath(root), DockerIgnore.from_context(root, dockerfile))

    def walk(self) -> Iterator[tuple[str, os.DirEntry[str]]]:
        """Every entry the build may see (sorted, depth first)."""
        return walk_context(self.root, self.ignore)

    def copy_options(self, **fields) -> CopyOptions:
        """CopyOptions for a COPY/ADD from this context (owners reset, ignore applied)."""
        return CopyOptions(reset_owner=True, ignore=self.ignore, **fields)

    def hash(self, sources: Sequence[str], options: CopyOptions | None = None, *,
             memo: MutableMapping[str, tuple[StatKey, str]] | None = None, where: str = "") -> Selection:
        return hash_selection(self.root, sources, options=options or self.copy_options(), memo=memo, where=where)
