"""The line pass of the Dockerfile parser: from text to logical lines.

It does what BuildKit's `parser.Parse` does before any instruction is looked at: drop a
UTF-8 byte-order mark, read parser directives at the top, drop comment lines (also
inside a continuation), join continuation lines, warn about empty continuation lines
and collect heredoc bodies. Heredocs need to know the instruction (RUN, COPY and ADD in
shell form only, also as an ONBUILD trigger), so the caller passes `takes_heredocs(line,
escape)`.

Line numbers are 1-based; a logical line spans `start`..`end` including its heredocs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from builder.errors import DockerfileError

__all__ = ["Directive", "Heredoc", "LogicalLine", "Lines", "LineWarning", "GO_SPACE",
           "heredoc_words", "read_lines"]

# Go's unicode.IsSpace (Python's str.isspace also counts 0x1C-0x1F, Go does not).
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" \
           "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"

VALID_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_DIRECTIVE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z")
_HEREDOC = re.compile(r"(\d*)<<(-?)([^<]*)\Z")
# bufio.Scanner's default limit, which BuildKit keeps.
MAX_LINE_BYTES = 64 * 1024 - 1


@dataclass(frozen=True)
class Directive:
    name: str
    value: str
    line: int


@dataclass(frozen=True)
class Heredoc:
    """A heredoc as the parser reads it: `content` is the raw body (line endings kept,
    leading tabs not yet stripped for `<<-`)."""

    name: str
    expand: bool
    chomp: bool
    fd: int
    content: str = ""


@dataclass(frozen=True)
class LineWarning:
    line: int
    message: str
    rule: str


@dataclass(slots=True)
class LogicalLine:
    text: str
    start: int
    end: int
    comments: tuple[str, ...]
    heredocs: tuple[Heredoc, ...] = ()


@dataclass
class Lines:
    lines: list[LogicalLine]
    escape: str
    directives: list[Directive]
    warnings: list[LineWarning] = field(default_factory=list)
    # An error met after `lines` were read: BuildKit reports an error in one of those
    # lines first (it parses each line as it reads it), so the caller raises this last.
    error: DockerfileError | None = None


class _DirectiveReader:
    """BuildKit's DirectiveParser: directives only while every line so far was one."""

    def __init__(self, file: str) -> None:
        self.done = False
        self.seen: set[str] = set()
        self.file = file

    def read(self, token: str, line: int) -> Directive | None:
        if self.done:
            return None
        if not token.startswith("#"):
            self.done = True
            return None
        match = _DIRECTIVE.match(token[1:].lstrip(GO_SPACE))
        if match is None or match.group(1).lower() not in VALID_DIRECTIVES:
            self.done = True
            return None
        name = match.group(1).lower()
        if name in self.seen:
            raise DockerfileError(f"only one {name} parser directive can be used",
                                  file=self.file, line=line, source_line=token)
        self.seen.add(name)
        return Directive(name, match.group(2), line)


def read_lines(text: str, takes_heredocs: Callable[[str, str], bool],
               file: str = "Dockerfile") -> Lines:
    # Physical lines without their "\n"; `last` is the index of a final line that had
    # none (heredoc bodies keep line endings as written).
    physical = text.split("\n")
    last = len(physical) - 1
    if physical[-1] == "":
        physical.pop()
    if physical and physical[0].startswith("\ufeff"):
        physical[0] = physical[0][1:]
    escape = "\\"
    directives: list[Directive] = []
    reader = _DirectiveReader(file)
    result = Lines([], escape, directives)
    # A character is at most 4 UTF-8 bytes: only a long line needs encoding to measure.
    if physical and max(map(len, physical)) * 4 > MAX_LINE_BYTES:
        for number, raw in enumerate(physical, 1):
            if len(raw) * 4 > MAX_LINE_BYTES and len(raw.encode("utf-8", "surrogateescape")) > MAX_LINE_BYTES:
                # Go's line scanner stops here: what comes before is still parsed.
                del physical[number - 1:]
                result.error = DockerfileError(
                    f"dockerfile line greater than max allowed size of {MAX_LINE_BYTES}",
                    file=file, line=number)
                break
    logical = result.lines
    comments: list[str] = []
    count = len(physical)
    i = 0
    while i < count:
        raw = physical[i]
        i += 1
        token = raw.rstrip("\r").lstrip(GO_SPACE)
        if token[:1] == "#":
            # BuildKit drops the line's first byte (the "#" unless the line is indented).
            comment = raw[1:].strip(GO_SPACE)
            if comment:
                comments.append(comment)
            else:
                comments = []
            if reader.done:
                continue
        if not reader.done:
            directive = reader.read(token, i)
            if directive is not None:
                comments.pop()
                directives.append(directive)
                if directive.name == "escape":
                    if directive.value not in ("\\", "`"):
                        raise DockerfileError(
                            f"invalid escape token '{directive.value}' does not match ` or \\",
                            file=file, line=i, source_line=raw.rstrip("\r"))
                    escape = result.escape = directive.value
            if token[:1] == "#":
                continue

        start = i
        line, ended = _trim_continuation(token, escape)
        if ended and not line:
            continue
        if not ended:
            pieces = [line]
            empty_continuation = False
            while not ended and i < count:
                raw = physical[i]
                i += 1
                token = raw.rstrip("\r")
                stripped = token.lstrip(GO_SPACE)
                if stripped[:1] == "#":
                    continue
                if not stripped:
                    empty_continuation = True
                    continue
                part, ended = _trim_continuation(token, escape)
                pieces.append(part)
            line = "".join(pieces)
            if empty_continuation:
                result.warnings.append(LineWarning(i, f"Empty continuation line found in: {line}",
                                               "NoEmptyContinuation"))

        if "<<" in line and takes_heredocs(line, escape):
            heredocs: list[Heredoc] = []
            for doc in heredoc_words(line):
                body: list[str] = []
                while True:
                    if i >= count:
                        result.error = DockerfileError("unterminated heredoc", file=file,
                                                       line=start, source_line=line.strip(GO_SPACE))
                        return result
                    raw = physical[i]
                    i += 1
                    candidate = raw.rstrip("\r")
                    if doc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == doc.name:
                        break
                    body.append(raw if i - 1 == last else raw + "\n")
                heredocs.append(Heredoc(doc.name, doc.expand, doc.chomp, doc.fd, "".join(body)))
            logical.append(LogicalLine(line, start, i, tuple(comments), tuple(heredocs)))
        else:
            logical.append(LogicalLine(line, start, i, tuple(comments)))
        comments = []
    return result


def _trim_continuation(token: str, escape: str) -> tuple[str, bool]:
    """The line without a trailing escape character, and whether the line ends there.

    BuildKit: the escape character as the last non-blank (space or tab) continues the
    line, unless it is itself escaped (only one level is looked at) or alone on it."""
    body = token.rstrip(" \t")
    if not body.endswith(escape):
        return token, True
    if len(body) == 1:
        return "", False
    if body[-2] == escape:
        return token, True
    return body[:-1], False


def _shell_words(text: str) -> list[str] | None:
    """Blank-separated words with quotes and backslashes kept, as BuildKit's shell lexer
    splits a line to look for heredocs (None where it would fail: an open quote)."""
    words: list[str] = []
    word: list[str] = []
    in_word = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
            i += 1
            continue
        in_word = True
        if ch == "\\":
            word.append(text[i:i + 2])
            i += 2
            continue
        if ch in "'\"":
            end = i + 1
            while True:
                if end >= n:
                    return None
                if text[end] == ch:
                    break
                end += 2 if ch == '"' and text[end] == "\\" else 1
            word.append(text[i:end + 1])
            i = end + 1
            continue
        word.append(ch)
        i += 1
    if in_word:
        words.append("".join(word))
    return words


def _unquote(word: str) -> tuple[str, bool]:
    """The heredoc name without its quotes and escapes, and whether any part was quoted."""
    out: list[str] = []
    quoted = False
    i, n = 0, len(word)
    while i < n:
        ch = word[i]
        if ch == "\\" and i + 1 < n:
            out.append(word[i + 1])
            i += 2
        elif ch == "'":
            end = word.index("'", i + 1)
            out.append(word[i + 1:end])
            quoted = True
            i = end + 1
        elif ch == '"':
            i += 1
            while word[i] != '"':
                if word[i] == "\\" and i + 1 < n and word[i + 1] in '"\\$`':
                    i += 1
                out.append(word[i])
                i += 1
            quoted = True
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out), quoted


def heredoc_words(line: str) -> list[Heredoc]:
    """The heredocs a line opens, in order: each a whole word `[fd]<<[-]NAME` (NAME may
    be quoted, which turns expansion off)."""
    docs: list[Heredoc] = []
    for word in _shell_words(line) or ():
        match = _HEREDOC.match(word)
        if match is None or not match.group(3):
            continue
        name, quoted = _unquote(match.group(3))
        if not name:
            continue
        docs.append(Heredoc(name, not quoted, match.group(2) == "-", int(match.group(1) or 0)))
    return docs
