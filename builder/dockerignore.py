""".dockerignore: which files of the build context a build may see.

The rules are those of moby's `patternmatcher` and `ignorefile` packages as BuildKit
applies them while it walks the context:

- one pattern a line; lines starting with `#` are comments; blanks around a pattern
  are dropped; each pattern is cleaned like Go's `filepath.Clean` and a leading `/` is
  removed (the context is the root);
- `*`, `?`, `[...]` and `\\` escapes as in Go's `filepath.Match`, plus `**` for any
  number of directories;
- `!pattern` re-includes what an earlier pattern excluded; the last matching pattern
  wins; a pattern that matches a directory also matches everything below it;
- `<Dockerfile>.dockerignore` next to the Dockerfile is used instead of the context's
  `.dockerignore`.

`walk_context` walks the context in sorted order and never enters an excluded directory
unless an exception pattern could re-include something inside it, so a context with a
large excluded `node_modules/` costs no more than one without it.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from oci.errors import UserError

__all__ = [
    "DockerIgnore",
    "DockerIgnoreError",
    "IgnorePattern",
    "clean_path",
    "read_patterns",
    "walk_context",
]

_BOM = "\ufeff"
# Characters that are regex syntax but plain characters in a filepath.Match pattern.
_REGEX_ONLY = frozenset(".+()|{}$")


class DockerIgnoreError(UserError):
    """A .dockerignore pattern that docker would reject."""


def clean_path(path: str) -> str:
    """Go's path.Clean: the shortest equivalent slash path ("" becomes ".")."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def read_patterns(text: str) -> list[tuple[int, str]]:
    """The patterns of a .dockerignore file as (line number, pattern), normalised the way
    moby's ignorefile.ReadAll does: comments and blank lines dropped, each pattern
    cleaned and made relative, a `!` prefix kept."""
    patterns: list[tuple[int, str]] = []
    # Lines end at "\n" only (with an optional "\r"), as Go's bufio.ScanLines reads them.
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if lineno == 1 and line.startswith(_BOM):
            line = line[len(_BOM):]
        # Only a `#` in the first column starts a comment: " #x" is the pattern "#x".
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = clean_path(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append((lineno, "!" + pattern if invert else pattern))
    return patterns


def _check_go_pattern(pattern: str) -> bool:
    """Whether Go's filepath.Match accepts `pattern` (it validates the whole pattern)."""
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                return False
            i += 2
            continue
        if ch != "[":
            i += 1
            continue
        i += 1
        if i < n and pattern[i] == "^":
            i += 1
        ranges = 0
        while True:
            if i < n and pattern[i] == "]" and ranges > 0:
                i += 1
                break
            i = _class_char(pattern, i)
            if i < 0:
                return False
            if i < n and pattern[i] == "-":
                i = _class_char(pattern, i + 1)
                if i < 0:
                    return False
            ranges += 1
    return True


def _class_char(pattern: str, i: int) -> int:
    """Index after one (possibly escaped) character of a `[...]` class, -1 if invalid.
    A class that reaches the end of the pattern is unterminated, hence invalid too."""
    n = len(pattern)
    if i >= n or pattern[i] in "-]":
        return -1
    if pattern[i] == "\\":
        i += 1
        if i >= n:
            return -1
    i += 1
    return i if i < n else -1


_EXACT, _PREFIX, _SUFFIX, _REGEXP = range(4)


@dataclass(frozen=True)
class IgnorePattern:
    """One compiled pattern. `text` is the cleaned pattern without its `!`; `match`
    tells whether a slash path matches the pattern itself (not through a parent)."""

    text: str
    exclusion: bool
    line: int
    match: Callable[[str], bool] = field(repr=False, compare=False)

    def may_match_inside(self, directory: str) -> bool:
        """False only when no path strictly below `directory` can match this pattern.

        Conservative: `**`, classes (a negated class matches `/`) and escapes make
        it answer True.
        """
        if "**" in self.text or "[" in self.text or "\\" in self.text:
            return True
        pattern_parts = self.text.split("/")
        dir_parts = directory.split("/")
        if len(pattern_parts) <= len(dir_parts):
            return False
        for pat, name in zip(pattern_parts, dir_parts):
            if not _component_regex(pat).match(name):
                return False
        return True


def _component_regex(component: str) -> re.Pattern[str]:
    out = []
    for ch in component:
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out) + r"\Z")


def _compile(text: str, exclusion: bool, line: int) -> IgnorePattern:
    """Translate a pattern to a matcher exactly as patternmatcher's compile does,
    including its shortcuts (`dir/**` is a prefix test, `**x` a suffix test)."""
    regex = ["^"]
    kind = _EXACT
    i = 0
    pos = 0
    n = len(text)
    while pos < n:
        ch = text[pos]
        pos += 1
        if ch == "*":
            if pos < n and text[pos] == "*":
                pos += 1
                # `**/` is the same as `**`.
                if pos < n and text[pos] == "/":
                    pos += 1
                if pos >= n:
                    if kind == _EXACT:
                        kind = _PREFIX
                    else:
                        regex.append(".*")
                        kind = _REGEXP
                else:
                    regex.append("(.*/)?")
                    kind = _REGEXP
                if i == 0:
                    kind = _SUFFIX
            else:
                regex.append("[^/]*")
                kind = _REGEXP
        elif ch == "?":
            regex.append("[^/]")
            kind = _REGEXP
        elif ch in _REGEX_ONLY:
            regex.append("\\" + ch)
        elif ch == "\\":
            if pos < n:
                regex.append("\\" + text[pos])
                pos += 1
                kind = _REGEXP
            else:
                regex.append("\\\\")
        elif ch in "[]":
            regex.append(ch)
            kind = _REGEXP
        else:
            regex.append(ch)
        i += 1
    if kind == _EXACT:
        return IgnorePattern(text, exclusion, line, text.__eq__)
    if kind == _PREFIX:
        prefix = text[:-2]
        return IgnorePattern(text, exclusion, line, lambda path: path.startswith(prefix))
    if kind == _SUFFIX:
        suffix = text[2:]
        # `**/foo` also matches a top-level `foo`.
        top_level = suffix[1:] if suffix.startswith("/") else None
        return IgnorePattern(text, exclusion, line, lambda path: path.endswith(suffix) or path == top_level)
    try:
        with warnings.catch_warnings():
            # Python warns about `[[` and similar set syntax Go reads literally.
            warnings.simplefilter("ignore", FutureWarning)
            compiled = re.compile("".join(regex) + r"\Z")
    except re.error:
        raise _BadPattern from None
    return IgnorePattern(text, exclusion, line, lambda path: compiled.match(path) is not None)


class _BadPattern(Exception):
    pass


# Per-pattern results for one directory, handed to its children (patternmatcher's
# MatchInfo): an empty tuple means "no information", as for a path given on its own.
MatchInfo = tuple[bool, ...]


@dataclass(frozen=True)
class DockerIgnore:
    """The compiled patterns of one .dockerignore file (possibly none)."""

    patterns: tuple[IgnorePattern, ...] = ()
    source: str = ".dockerignore"

    @classmethod
    def from_text(cls, text: str, source: str = ".dockerignore") -> DockerIgnore:
        return cls.from_lines(read_patterns(text), source)

    @classmethod
    def from_patterns(cls, patterns: Sequence[str], source: str = "patterns") -> DockerIgnore:
        """Patterns given one by one (as `COPY --exclude` does), 1-based positions."""
        return cls.from_lines(list(enumerate(patterns, start=1)), source)

    @classmethod
    def from_lines(cls, lines: Sequence[tuple[int, str]], source: str) -> DockerIgnore:
        compiled = []
        for line, raw in lines:
            text = raw.strip()
            if not text:
                continue
            text = clean_path(text)
            exclusion = text.startswith("!")
            if exclusion:
                if len(text) == 1:
                    raise DockerIgnoreError(f'{source}:{line}: illegal exclusion pattern: "!"')
                text = text[1:]
            if not _check_go_pattern(text):
                raise DockerIgnoreError(f"{source}:{line}: syntax error in pattern {text!r}")
            try:
                compiled.append(_compile(text, exclusion, line))
            except _BadPattern:
                raise DockerIgnoreError(f"{source}:{line}: syntax error in pattern {text!r}") from None
        return cls(tuple(compiled), source)

    @classmethod
    def from_context(cls, context_dir: str | os.PathLike[str], dockerfile: str | os.PathLike[str] | None = None) -> DockerIgnore:
        """The ignore rules for a build: `<dockerfile>.dockerignore` next to the Dockerfile
        if it exists, else `<context>/.dockerignore`, else none.

        dockerfile: the Dockerfile path as given with `-f` (default `<context>/Dockerfile`).
        """
        context = Path(context_dir)
        dockerfile_path = Path(dockerfile) if dockerfile is not None else context / "Dockerfile"
        for candidate in (
            dockerfile_path.with_name(dockerfile_path.name + ".dockerignore"),
            context / ".dockerignore",
        ):
            try:
                data = candidate.read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                continue
            return cls.from_text(data.decode("utf-8", "surrogateescape"), str(candidate))
        return cls((), "")

    def match_with_parent(self, path: str, parent: MatchInfo) -> tuple[bool, MatchInfo]:
        """patternmatcher's MatchesUsingParentResults: whether `path` (slash-separated,
        relative to the context) is excluded, given the results of its parent directory.
        """
        matched = False
        results: list[bool] = []
        for index, pattern in enumerate(self.patterns):
            hit = parent[index] if parent else False
            if not hit:
                # An inclusion cannot change an already excluded path, nor an exception
                # a path nothing has excluded yet.
                if pattern.exclusion != matched:
                    results.append(False)
                    continue
                hit = pattern.match(path)
                if not hit and not parent:
                    hit = _parent_matches(pattern, path)
            results.append(hit)
            if hit:
                matched = not pattern.exclusion
        return matched, tuple(results)

    def matches(self, relpath: str) -> bool:
        """Whether `relpath` is excluded from the context (the same answer the walk gives).

        The answer is built directory by directory from the top, as the walk does,
        because an exception's effect depends on what matched the parents.
        """
        path = clean_path(relpath.replace(os.sep, "/")).lstrip("/")
        if path in (".", ""):
            return False
        info: MatchInfo = ()
        matched = False
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            matched, info = self.match_with_parent("/".join(parts[:depth]), info)
        return matched

    def may_reinclude_inside(self, directory: str) -> bool:
        """Whether an exception pattern could re-include something below `directory`."""
        return any(p.exclusion and p.may_match_inside(directory) for p in self.patterns)


def _parent_matches(pattern: IgnorePattern, path: str) -> bool:
    parts = path.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        if pattern.match("/".join(parts[:depth])):
            return True
    return False


def walk_context(context_dir: str | os.PathLike[str], ignore: DockerIgnore) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Every entry of the context that the build may see, as (slash path relative to
    the context, DirEntry), depth first, each directory's entries sorted by name.

    Symlinks are reported, never followed. A directory that is excluded but holds a
    re-included path is reported just before the first such path, as BuildKit sends it.
    """
    yield from _walk(os.fspath(context_dir), "", ignore, (), [])


def _walk(
    real_dir: str,
    rel_dir: str,
    ignore: DockerIgnore,
    parent_info: MatchInfo,
    pending: list[tuple[str, os.DirEntry[str]]],
) -> Iterator[tuple[str, os.DirEntry[str]]]:
    with os.scandir(real_dir) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    patterns = ignore.patterns
    for entry in entries:
        rel = rel_dir + entry.name
        is_dir = entry.is_dir(follow_symlinks=False)
        if patterns:
            excluded, info = ignore.match_with_parent(rel, parent_info)
        else:
            excluded, info = False, ()
        if excluded:
            if not is_dir or not ignore.may_reinclude_inside(rel):
                continue
            # Held back until something inside turns out to be included.
            pending.append((rel, entry))
            yield from _walk(entry.path, rel + "/", ignore, info, pending)
            if pending and pending[-1][0] == rel:
                pending.pop()
            continue
        if pending:
            yield from pending
            pending.clear()
        yield rel, entry
        if is_dir:
            yield from _walk(entry.path, rel + "/", ignore, info, pending)
