"""COPY and ADD into a directory, with BuildKit's rules (dockerfile2llb + fsutil/copy).

Everything works on plain directories: `source_root` is the build context (or another
stage's / image's root filesystem for `--from`) and `target_root` the root filesystem the
step writes into. Paths inside both are resolved the way the image sees them: a symlink
met on the way is followed inside its root (an absolute target starts at the root, `..`
stops at the root), never outside.

The rules, as BuildKit applies them:

- Sources are relative to the source root; a leading `/` and `..` cannot leave it.
  A source that is a symlink is followed; symlinks found inside a copied directory are
  copied as symlinks. Hardlinks within one source stay hardlinks.
- Wildcards (`*`, `?`, `[...]`, Go's filepath.Match per path) that match nothing copy
  nothing and are not an error; a plain source that does not exist is.
- Destination: relative to WORKDIR; a trailing `/` (or `.`) means a directory, which
  is created. A file source whose destination is an existing directory goes inside it;
  otherwise it becomes the destination path (so with several file sources and no
  trailing slash the last one wins, as in BuildKit). A directory source copies its
  *contents* into the destination, creating it 0755.
- Owners: files from the build context belong to 0:0; from a stage or image they keep
  their owners; `--chown=user[:group]` sets them on everything copied *and* on the
  directories the copy creates. Names come from the target's /etc/passwd and /etc/group.
- `--chmod`: octal (permission bits only; the source's setuid/setgid/sticky bits stay)
  or symbolic (`u+x,g-w,o=rX`), applied to files and directories copied.
- Directories that already exist in the target keep their metadata at the destination
  itself but take the source's mode/owner when merged below it (`COPY rootfs/ /`).
- `--parents` keeps each source's path (below an optional `/./` pivot); `--exclude`
  patterns (.dockerignore syntax) drop matching paths below each source.
- ADD of a local tar (plain, gzip, bzip2, xz, zstd) extracts it into the destination
  directory instead of copying it.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import zstandard

from builder.dockerignore import DockerIgnore, MatchInfo, clean_path
from oci.errors import InvalidLayer, UserError

__all__ = [
    "CopyError",
    "CopyOptions",
    "CopyStats",
    "Owner",
    "contains_wildcards",
    "copy_file",
    "copy_heredoc",
    "copy_sources",
    "PathFilter",
    "match_sources",
    "source_filters",
    "destination_path",
    "make_directory",
    "parse_chmod",
    "resolve_chown",
    "resolve_in_root",
    "url_filename",
]

_MAX_SYMLINKS = 255
_OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")


class CopyError(UserError):
    """A COPY/ADD that BuildKit would fail: missing source, bad --chown/--chmod, a
    directory where a file goes."""


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int


@dataclass(frozen=True)
class CopyOptions:
    """What a COPY/ADD instruction asks for, already expanded.

    chown: `--chown` as written after expansion (resolved against the target root).
    chmod: `--chmod` (octal or symbolic).
    reset_owner: files of the build context are owned by 0:0 in the image.
    unpack: ADD of local archives extracts them.
    epoch: SOURCE_DATE_EPOCH: the times of everything copied or created.
    ignore: the .dockerignore of the build context (what the build cannot see).
    """

    chown: str | None = None
    chmod: str | None = None
    exclude: tuple[str, ...] = ()
    parents: bool = False
    reset_owner: bool = False
    unpack: bool = False
    epoch: int | None = None
    ignore: DockerIgnore | None = None


@dataclass
class CopyStats:
    files: int = 0
    directories: int = 0
    bytes: int = 0
    unpacked: list[str] = field(default_factory=list)


def _error(where: str, message: str) -> CopyError:
    return CopyError(f"{where}: {message}" if where else message)


# ---------------------------------------------------------------------------- paths

def resolve_in_root(root: str, path: str, *, follow_final: bool = True) -> str:
    """The real path of `path` (taken as absolute inside `root`) with every symlink
    resolved inside `root`, like containerd's fs.RootPath. Missing components are kept
    as they are. With follow_final=False a final symlink is not followed."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        if not parts and not follow_final:
            resolved.append(part)
            break
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > _MAX_SYMLINKS:
                raise CopyError(f"too many levels of symbolic links: {path}")
            link = os.readlink(candidate)
            if link.startswith("/"):
                resolved = []
            parts = [p for p in link.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved) if resolved else root


def destination_path(dest: str, workdir: str = "/") -> str:
    """The absolute destination of COPY/ADD: relative to WORKDIR, cleaned, its trailing
    slash kept (it means "a directory"); `.` and "" are the working directory itself."""
    if dest in (".", ""):
        dest = "./"
    if not dest.startswith("/"):
        dest = workdir.rstrip("/") + "/" + dest
    cleaned = clean_path(dest)
    if dest.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


def contains_wildcards(name: str) -> bool:
    i = 0
    while i < len(name):
        if name[i] == "\\":
            i += 2
            continue
        if name[i] in "*?[":
            return True
        i += 1
    return False


def _match_regex(pattern: str) -> re.Pattern[str]:
    """Go's filepath.Match as a regex: `*` and `?` never match `/`."""
    out = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            end = i + 1
            while end < n and (pattern[end] != "]" or end == i + 1 or (end == i + 2 and pattern[i + 1] == "^")):
                end += 2 if pattern[end] == "\\" else 1
            if end >= n:
                raise CopyError(f"syntax error in pattern: {pattern}")
            body = pattern[i + 1:end]
            negate = body.startswith("^")
            # A class never matches the separator, negated or not (Go's filepath.Match).
            out.append(f"[{'^/' if negate else ''}{body[1:] if negate else body}]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


# ---------------------------------------------------------------------------- owners

def _read_db(root: str, path: str) -> list[list[str]]:
    try:
        with open(resolve_in_root(root, path), encoding="utf-8", errors="surrogateescape") as f:
            return [line.split(":") for line in f.read().splitlines() if line and not line.startswith("#")]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _numeric(text: str) -> int | None:
    if text == "root":
        return 0
    if text.isdigit() and int(text) < 2**32:
        return int(text)
    return None


def resolve_chown(spec: str, target_root: str, where: str = "") -> Owner:
    """`--chown=user[:group]`: numbers as they are (a user number alone gives that gid
    too), names from the target's /etc/passwd and /etc/group (a user name alone gives
    its primary group). A name that is not there is an error."""
    user, sep, group = spec.partition(":")
    uid = _numeric(user)
    gid: int | None = uid
    if uid is None:
        for entry in _read_db(target_root, "/etc/passwd"):
            if len(entry) >= 4 and entry[0] == user:
                uid, gid = int(entry[2]), int(entry[3])
                break
        else:
            raise _error(where, f"--chown={spec}: unable to find user {user}: no matching entries in passwd file")
    if sep:
        gid = _numeric(group)
        if gid is None:
            for entry in _read_db(target_root, "/etc/group"):
                if len(entry) >= 3 and entry[0] == group:
                    gid = int(entry[2])
                    break
            else:
                raise _error(where, f"--chown={spec}: unable to find group {group}: no matching entries in group file")
    assert gid is not None
    return Owner(uid, gid)


# ---------------------------------------------------------------------------- modes

_SYMBOLIC = re.compile(r"[ugoa]*(?:[-+=](?:[ugo]|[rwxXst]*))+")
_ACTION = re.compile(r"([-+=])([ugo]|[rwxXst]*)")
_WHO_BITS = {"u": 0o4700, "g": 0o2070, "o": 0o1007}


def parse_chmod(text: str, where: str = "") -> Callable[[int, bool], int]:
    """`--chmod` as a function (mode, is_dir) -> permission bits (with setuid, setgid,
    sticky). Octal keeps the special bits of the source (BuildKit only sets 0777);
    symbolic follows chmod(1), `X` meaning x for directories and already executable
    files, and no umask."""
    if text.isdigit():
        if not re.fullmatch(r"[0-7]+", text) or int(text, 8) > 0o7777:
            raise _error(where, f"invalid chmod parameter: '{text}'. it should be octal string and between 0 and 07777")
        perm = int(text, 8) & 0o777
        return lambda mode, is_dir: (mode & 0o7000) | perm
    clauses = text.split(",")
    if not all(_SYMBOLIC.fullmatch(c) for c in clauses):
        raise _error(where, f"invalid chmod parameter: '{text}'")

    def apply(mode: int, is_dir: bool) -> int:
        mode &= 0o7777
        for clause in clauses:
            who = clause[:len(clause) - len(clause.lstrip("ugoa"))]
            mask = 0
            for w in ("ugo" if not who or "a" in who else who):
                mask |= _WHO_BITS[w]
            for op, perms in _ACTION.findall(clause[len(who):]):
                bits = _perm_bits(perms, mode, is_dir) & mask
                if op == "+":
                    mode |= bits
                elif op == "-":
                    mode &= ~bits
                else:
                    mode = (mode & ~mask) | bits
        return mode

    return apply


def _perm_bits(perms: str, mode: int, is_dir: bool) -> int:
    if perms in ("u", "g", "o"):
        shift = {"u": 6, "g": 3, "o": 0}[perms]
        value = (mode >> shift) & 0o7
        return value << 6 | value << 3 | value
    bits = 0
    for p in perms:
        if p == "r":
            bits |= 0o444
        elif p == "w":
            bits |= 0o222
        elif p == "x" or (p == "X" and (is_dir or mode & 0o111)):
            bits |= 0o111
        elif p == "s":
            bits |= 0o6000
        elif p == "t":
            bits |= 0o1000
    return bits


# ---------------------------------------------------------------------------- copying

def _ignore_info(ignore: DockerIgnore, rel: str) -> tuple[bool, MatchInfo]:
    """Whether `rel` is excluded, and its per-pattern results for its children."""
    info: MatchInfo = ()
    excluded = False
    parts = rel.split("/") if rel else []
    for depth in range(1, len(parts) + 1):
        excluded, info = ignore.match_with_parent("/".join(parts[:depth]), info)
    return excluded, info


@dataclass
class PathFilter:
    """A pattern set applied during a walk (the context's .dockerignore with paths
    relative to the context, or --exclude with paths relative to the source)."""

    patterns: DockerIgnore
    prefix: str

    def start(self) -> MatchInfo:
        return _ignore_info(self.patterns, self.prefix)[1] if self.prefix else ()

    def skip(self, rel: str, info: MatchInfo, is_dir: bool) -> tuple[bool, MatchInfo]:
        path = f"{self.prefix}/{rel}" if self.prefix else rel
        excluded, child = self.patterns.match_with_parent(path, info)
        if excluded and not (is_dir and self.patterns.may_reinclude_inside(path)):
            return True, child
        return False, child


def filter_child(filters: Sequence[PathFilter], infos: Sequence[MatchInfo], rel: str,
                 is_dir: bool) -> tuple[MatchInfo, ...] | None:
    """The match state `rel`'s own children start from, or None when a filter skips it.
    Every filter sees every entry, so each keeps its state for the walk below."""
    child_infos = []
    skipped = False
    for f, info in zip(filters, infos):
        skip, child = f.skip(rel, info, is_dir)
        skipped = skipped or skip
        child_infos.append(child)
    return None if skipped else tuple(child_infos)


@dataclass
class _Copier:
    target_root: str
    owner: Owner | None
    chmod: Callable[[int, bool], int] | None
    reset_owner: bool
    epoch: int | None
    stats: CopyStats
    where: str
    inodes: dict[tuple[int, int], str] = field(default_factory=dict)
    made: list[str] = field(default_factory=list)
    # The fresh upperdir of the overlay mounted at target_root, or None. What goes into
    # a directory this copier made is written there directly: such a directory hides
    # nothing of the lower layers, and a create through overlayfs costs several times
    # one on the upper filesystem (a COPY of 5,000 small files: ~2x faster).
    upper: str | None = None

    def owner_of(self, st: os.stat_result) -> tuple[int, int]:
        if self.owner is not None:
            return self.owner.uid, self.owner.gid
        if self.reset_owner:
            return 0, 0
        return st.st_uid, st.st_gid

    def mkdir_all(self, path: str) -> None:
        """Create `path` (a resolved path in the target) and missing parents 0755,
        owned by the --chown user (root otherwise), as fsutil's MkdirAll does."""
        missing = []
        current = path
        while current != self.target_root and not os.path.lexists(current):
            missing.append(current)
            current = os.path.dirname(current)
        if not os.path.isdir(current):
            raise _error(self.where, f"cannot copy to non-directory: {self.show(current)}")
        for directory in reversed(missing):
            os.mkdir(directory, 0o755)
            os.chmod(directory, 0o755)
            if self.owner is not None:
                os.chown(directory, self.owner.uid, self.owner.gid)
            self.made.append(directory)
            self.stats.directories += 1

    def finish(self) -> None:
        """With an epoch, give the directories made for the destination its time, now
        that nothing more is written into them."""
        if self.epoch is not None:
            for directory in reversed(self.made):
                os.utime(directory, (self.epoch, self.epoch))

    def show(self, real: str) -> str:
        if self.upper is not None and real.startswith(self.upper + "/"):
            real = self.target_root + real[len(self.upper):]
        rel = os.path.relpath(real, self.target_root)
        return "/" if rel == "." else "/" + rel

    def copy_top(self, src_real: str, name: str, dest: str, filters: Sequence[PathFilter] = ()) -> None:
        """One resolved source into the destination (fsutil's Copy + prepareTargetDir)."""
        st = os.lstat(src_real)
        is_dir = stat.S_ISDIR(st.st_mode)
        ensure = dest if dest.endswith("/") else dest.rsplit("/", 1)[0] or "/"
        self.mkdir_all(resolve_in_root(self.target_root, ensure))
        dest_real = resolve_in_root(self.target_root, dest)
        try:
            dest_st: os.stat_result | None = os.stat(dest_real)
        except (FileNotFoundError, NotADirectoryError):
            dest_st = None
        if not is_dir and dest_st is not None and stat.S_ISDIR(dest_st.st_mode):
            dest_real = os.path.join(dest_real, name)
        if is_dir and dest_st is None:
            self.mkdir_all(dest_real)
        else:
            self.mkdir_all(os.path.dirname(dest_real))
        infos = tuple(f.start() for f in filters)
        self.copy_entry(src_real, "", dest_real, st, overwrite=False, filters=filters, infos=infos)

    def copy_entry(self, src: str, rel: str, target: str, st: os.stat_result, *, overwrite: bool,
                   filters: Sequence[PathFilter] = (), infos: tuple[MatchInfo, ...] = ()) -> None:
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            created = self.directory(target)
            inside = self.in_upper(target) if created or target in self.made else target
            with os.scandir(src) as scan:
                entries = sorted(scan, key=lambda e: e.name)
            for entry in entries:
                child_rel = f"{rel}/{entry.name}" if rel else entry.name
                child_st = entry.stat(follow_symlinks=False)
                child_dir = stat.S_ISDIR(child_st.st_mode)
                child_infos = filter_child(filters, infos, child_rel, child_dir)
                if child_infos is None:
                    continue
                self.copy_entry(entry.path, child_rel, os.path.join(inside, entry.name), child_st,
                                overwrite=True, filters=filters, infos=child_infos)
            if created or overwrite:
                self.set_metadata(src, target, st)
            return
        self.clear_file_target(target)
        if stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            linked = self.inodes.get(key) if st.st_nlink > 1 else None
            if linked is not None:
                os.link(self.same_side(linked, target), target)
                return
            _copy_file(src, target)
            self.stats.files += 1
            self.stats.bytes += st.st_size
            if st.st_nlink > 1:
                self.inodes[key] = target
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(src), target)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
            os.mknod(target, stat.S_IFMT(mode) | 0o600, st.st_rdev)
        else:
            raise _error(self.where, f"unsupported file type (socket): {rel or os.path.basename(src)}")
        self.set_metadata(src, target, st)

    def in_upper(self, directory: str) -> str:
        """Where the entries of `directory`, one this copier made, are written."""
        if self.upper is None or not directory.startswith(self.target_root + "/"):
            return directory
        return self.upper + directory[len(self.target_root):]

    def same_side(self, linked: str, target: str) -> str:
        """`linked` named through the mount `target` is on: a link cannot cross it."""
        if self.upper is None:
            return linked
        in_upper = self.upper + "/"
        if target.startswith(in_upper) and not linked.startswith(in_upper):
            return self.in_upper(linked)
        if linked.startswith(in_upper) and not target.startswith(in_upper):
            return self.target_root + linked[len(self.upper):]
        return linked

    def directory(self, target: str) -> bool:
        """Make the directory `target` unless it exists; True when it was made."""
        try:
            existing = os.lstat(target)
        except FileNotFoundError:
            os.mkdir(target, 0o700)
            self.stats.directories += 1
            return True
        if not stat.S_ISDIR(existing.st_mode):
            raise _error(self.where, f"cannot copy to non-directory: {self.show(target)}")
        return False

    def clear_file_target(self, target: str) -> None:
        try:
            existing = os.lstat(target)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(existing.st_mode):
            raise _error(self.where, f"cannot replace to directory {self.show(target)} with file")
        os.unlink(target)

    def set_metadata(self, src: str, target: str, st: os.stat_result) -> None:
        uid, gid = self.owner_of(st)
        os.lchown(target, uid, gid)
        is_link = stat.S_ISLNK(st.st_mode)
        if not is_link:
            perm = stat.S_IMODE(st.st_mode)
            if self.chmod is not None:
                perm = self.chmod(perm, stat.S_ISDIR(st.st_mode))
            os.chmod(target, perm)
        _copy_xattrs(src, target)
        if self.epoch is not None:
            os.utime(target, (self.epoch, self.epoch), follow_symlinks=False)
        else:
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_file(src: str, target: str) -> None:
    with open(src, "rb") as fin:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            size = os.fstat(fin.fileno()).st_size
            offset = 0
            while offset < size:
                try:
                    sent = os.copy_file_range(fin.fileno(), fd, size - offset)
                except OSError as err:
                    if err.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL) or offset:
                        raise
                    _copy_stream(fin, fd)
                    break
                if sent == 0:
                    break
                offset += sent
        finally:
            os.close(fd)


def _copy_stream(fin, fd: int) -> None:
    while chunk := fin.read(1 << 20):
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]


def _copy_xattrs(src: str, target: str) -> None:
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError:
        return
    for name in names:
        if name.startswith(_OVERLAY_XATTR_PREFIXES):
            continue
        try:
            os.setxattr(target, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False)
        except OSError:
            # As BuildKit: an xattr the target filesystem refuses is skipped.
            continue


# ---------------------------------------------------------------------------- sources

def _visible(ignore: DockerIgnore | None, rel: str) -> bool:
    return ignore is None or not rel or not ignore.matches(rel)


def _resolve_wildcards(root: str, pattern: str, ignore: DockerIgnore | None) -> list[str]:
    """Matches of a wildcard source as paths relative to `root` (fsutil's
    ResolveWildcards): the part before the first wildcard component is resolved, the
    rest matched against every path below it; a matched directory is not entered."""
    parts = [p for p in pattern.split("/") if p]
    index = next(i for i, p in enumerate(parts) if contains_wildcards(p))
    base_rel = "/".join(parts[:index])
    rest = parts[index:]
    regex = _match_regex("/".join(rest))
    base_real = resolve_in_root(root, base_rel)
    base_shown = os.path.relpath(base_real, root) if base_real != root else ""
    if base_shown == ".":
        base_shown = ""
    matches: list[str] = []

    def walk(real: str, rel: str, depth: int) -> None:
        try:
            with os.scandir(real) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            sub = f"{rel}/{entry.name}" if rel else entry.name
            full = f"{base_shown}/{sub}" if base_shown else sub
            if not _visible(ignore, full):
                continue
            if regex.match(sub):
                matches.append(full)
            elif depth + 1 < len(rest) and entry.is_dir(follow_symlinks=False):
                walk(entry.path, sub, depth + 1)

    walk(base_real, "", 0)
    return matches


def match_sources(root: str, source: str, ignore: DockerIgnore | None, where: str = "") -> list[str]:
    """The paths (relative to `root`, as matched, before following symlinks) one COPY
    source names: its wildcard matches (maybe none), or itself, which must exist and not
    be hidden by the .dockerignore."""
    cleaned = clean_path("/" + source).lstrip("/")
    if contains_wildcards(cleaned):
        return _resolve_wildcards(root, cleaned, ignore)
    real = resolve_in_root(root, cleaned)
    rel = os.path.relpath(real, root) if real != root else ""
    if not os.path.lexists(real) or not _visible(ignore, "" if rel == "." else rel) or not _visible(ignore, cleaned):
        raise _error(where, f'"/{cleaned}" not found')
    return [cleaned]


def copy_sources(source_root: str | os.PathLike[str], sources: Sequence[str], dest: str,
                 target_root: str | os.PathLike[str], *, workdir: str = "/",
                 options: CopyOptions = CopyOptions(), where: str = "", upper: str | None = None) -> CopyStats:
    """Copy `sources` (as written, expanded) from `source_root` to `dest` inside
    `target_root`. `where` (e.g. "Dockerfile:7") starts every error message. `upper`:
    when `target_root` is an overlay mount, its upperdir, fresh for this copy."""
    source_root = os.path.realpath(source_root)
    target_root = os.path.realpath(target_root)
    upper = None if upper is None else os.path.realpath(upper)
    stats = CopyStats()
    owner = resolve_chown(options.chown, target_root, where) if options.chown else None
    chmod = parse_chmod(options.chmod, where) if options.chmod else None
    exclude = DockerIgnore.from_patterns(list(options.exclude), "--exclude") if options.exclude else None
    target_dest = destination_path(dest, workdir)
    for source in sources:
        # One copier per source: hardlinks are kept within a source, as fsutil does.
        copier = _Copier(target_root, owner, chmod, options.reset_owner, options.epoch, stats, where,
                         upper=upper)
        if options.parents:
            _copy_with_parents(copier, source_root, source, target_dest, options.ignore, exclude)
        else:
            for match in match_sources(source_root, source, options.ignore, where):
                src_real = resolve_in_root(source_root, match)
                if options.unpack and _unpack(src_real, target_dest, copier):
                    stats.unpacked.append(match)
                    continue
                copier.copy_top(src_real, match.rsplit("/", 1)[-1], target_dest,
                                source_filters(source_root, src_real, options.ignore, exclude))
        copier.finish()
    return stats


def source_filters(source_root: str, src_real: str, ignore: DockerIgnore | None,
                   exclude: DockerIgnore | None) -> list[PathFilter]:
    """The filters a walk below the source `src_real` applies: the context's
    .dockerignore (paths relative to the context) and --exclude (relative to the source)."""
    filters = []
    if ignore is not None and ignore.patterns:
        rel = os.path.relpath(src_real, source_root)
        filters.append(PathFilter(ignore, "" if rel == "." else rel))
    if exclude is not None:
        filters.append(PathFilter(exclude, ""))
    return filters


def _copy_with_parents(copier: _Copier, source_root: str, source: str, dest: str,
                       ignore: DockerIgnore | None, exclude: DockerIgnore | None) -> None:
    """`--parents`: each match keeps its path below the pivot (`a/./b/c` pivots at `a`,
    anything else at the root) under dest; the parents take their source metadata."""
    pivot, sep, pattern = source.partition("/./")
    if not sep:
        pivot, pattern = "", source
    pivot = clean_path("/" + pivot).lstrip("/")
    pattern = clean_path("/" + pattern).lstrip("/")
    pivot_real = resolve_in_root(source_root, pivot)
    full = f"{pivot}/{pattern}" if pivot else pattern
    dest_dir = dest if dest.endswith("/") else dest + "/"
    copier.mkdir_all(resolve_in_root(copier.target_root, dest_dir))
    base = resolve_in_root(copier.target_root, dest_dir)
    for match in match_sources(source_root, full, ignore, copier.where):
        rel = match[len(pivot) + 1:] if pivot else match
        parts = rel.split("/")
        src, target = pivot_real, base
        for part in parts[:-1]:
            src, target = os.path.join(src, part), os.path.join(target, part)
            if copier.directory(target):
                copier.set_metadata(src, target, os.stat(src))
        src_real = resolve_in_root(source_root, match)
        filters = source_filters(source_root, src_real, ignore, exclude)
        copier.copy_entry(src_real, "", os.path.join(target, parts[-1]), os.lstat(src_real),
                          overwrite=False, filters=filters, infos=tuple(f.start() for f in filters))


def make_directory(path: str, target_root: str | os.PathLike[str], *, workdir: str = "/",
                   user: str | None = None, epoch: int | None = None, where: str = "") -> CopyStats:
    """WORKDIR's `mkdir -p`: the directories it creates are 0755 and belong to the
    USER in effect (resolved like --chown), as BuildKit's Mkdir with WithUser does."""
    target_root = os.path.realpath(target_root)
    stats = CopyStats()
    owner = resolve_chown(user, target_root, where) if user else None
    copier = _Copier(target_root, owner, None, False, epoch, stats, where)
    copier.mkdir_all(resolve_in_root(target_root, destination_path(path, workdir)))
    copier.finish()
    return stats


def copy_file(path: str | os.PathLike[str], name: str, dest: str, target_root: str | os.PathLike[str], *,
              workdir: str = "/", options: CopyOptions = CopyOptions(), where: str = "") -> CopyStats:
    """Copy the file at `path` as if it were a source named `name` (a heredoc, a
    downloaded URL): placed by the destination rules of a file source, its mode and
    mtime taken from `path`, owned by root unless --chown says otherwise."""
    target_root = os.path.realpath(target_root)
    stats = CopyStats()
    owner = resolve_chown(options.chown, target_root, where) if options.chown else None
    chmod = parse_chmod(options.chmod, where) if options.chmod else None
    copier = _Copier(target_root, owner, chmod, True, options.epoch, stats, where)
    copier.copy_top(os.fspath(path), name, destination_path(dest, workdir))
    copier.finish()
    return stats


def copy_heredoc(name: str, content: bytes, dest: str, target_root: str | os.PathLike[str], *,
                 workdir: str = "/", options: CopyOptions = CopyOptions(), where: str = "") -> CopyStats:
    """`COPY <<NAME dest`: a file NAME (mode 0644 before --chmod, owned by root) with
    `content`, placed by the destination rules of a file source."""
    with tempfile.TemporaryDirectory(prefix="pybuild-heredoc-") as staging:
        path = os.path.join(staging, "heredoc")
        with open(path, "wb") as f:
            f.write(content)
        os.chmod(path, 0o644)
        return copy_file(path, clean_path("/" + name).rsplit("/", 1)[-1], dest, target_root,
                         workdir=workdir, options=options, where=where)


def url_filename(url: str) -> str:
    """The file name ADD gives a URL's content (BuildKit: the last segment of the URL's
    path, `__unnamed__` when there is none). The download itself is 0600, with the
    Last-Modified time when the server sends one; then `copy_file` places it."""
    base = urllib.parse.urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return base if base not in ("", ".") else "__unnamed__"


# ---------------------------------------------------------------------------- ADD archives

def _is_archive(path: str) -> bool:
    """A regular file that decompresses (or not) into a tar with a first header."""
    from oci.compression import open_decompressed
    from oci.tarreader import TarReader

    if not stat.S_ISREG(os.lstat(path).st_mode):
        return False
    try:
        with open(path, "rb") as f, open_decompressed(f) as stream, TarReader(stream) as reader:
            for _ in reader:
                return True
    except (InvalidLayer, OSError, EOFError, ValueError, zstandard.ZstdError):
        return False
    return False


def _unpack(src_real: str, dest: str, copier: _Copier) -> bool:
    """ADD's auto-extraction: a local tar (any compression) is applied into the
    destination directory; with --chown everything it wrote gets that owner."""
    if not _is_archive(src_real):
        return False
    from oci.apply import apply_layer
    from oci.compression import open_decompressed
    from oci.tarreader import TarReader

    dest_real = resolve_in_root(copier.target_root, dest)
    copier.mkdir_all(dest_real)
    with open(src_real, "rb") as f:
        apply_layer(f, dest_real, overlay=False)
    if copier.owner is not None:
        with open(src_real, "rb") as f, open_decompressed(f) as stream, TarReader(stream) as reader:
            for entry in reader:
                path = resolve_in_root(dest_real, entry.name, follow_final=False)
                if os.path.lexists(path):
                    os.lchown(path, copier.owner.uid, copier.owner.gid)
    return True
