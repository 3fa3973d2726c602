"""Variable expansion and word splitting as BuildKit's Dockerfile shell lexer does them.

This is the one place that knows `$v`, `${v}`, the `${v:-w}` family, `${v#p}`/`${v%p}`
trimming and `${v/p/r}` replacement, quotes and the escape character. The rules follow
BuildKit's `frontend/dockerfile/shell` package (not POSIX sh): e.g. an unset variable
expands to nothing without error, `${v:?m}` fails the build with `v: m`, and `${v=w}` is
an error because Dockerfiles cannot assign.

`expand` returns the expanded word, the same text split into words (what EXPOSE and the
legacy `ENV k v` forms need), and which variable names were found in `env` (`used`) or
not (`unset`): lint's UndefinedVar and the cache key's ARG dependencies are computed
from those two sets, never by re-scanning text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from builder.errors import DockerfileError

__all__ = ["ExpansionError", "ExpandResult", "expand", "expand_words"]

_EOF = ""

# Go's unicode.IsSpace: Python's str.isspace also accepts the ASCII separators 0x1C-0x1F,
# which Go does not treat as blanks when splitting words.
_NOT_GO_SPACE = frozenset("\x1c\x1d\x1e\x1f")

# POSIX special parameters: `$@`, `$#`, ... read as a one-character name that is never set
# in a Dockerfile, so they expand to nothing rather than staying literal.
_SPECIAL_PARAMS = frozenset("@*#?-$!0")


class ExpansionError(DockerfileError):
    """A word whose `$` substitutions cannot be expanded (bad syntax or `${v:?msg}`).

    `expand` knows no line; `buildargs.expand_instruction` re-raises it with the
    instruction's file and line."""


@dataclass(frozen=True)
class ExpandResult:
    """The outcome of expanding one word.

    value: the expanded text, quotes removed (what single-word instructions use).
    words: the same expansion split on unquoted blanks (EXPOSE, legacy ENV, ...).
    used:  variable names that were looked up and found in the environment.
    unset: variable names that were looked up and not found.
    """

    value: str
    words: list[str] = field(default_factory=list)
    used: frozenset[str] = frozenset()
    unset: frozenset[str] = frozenset()


def _go_quote(text: str) -> str:
    # BuildKit wraps errors with Go's %q of the source word; JSON string syntax is the
    # closest Python spelling and keeps non-ASCII letters readable like %q does.
    return json.dumps(text, ensure_ascii=False)


def _is_space(ch: str) -> bool:
    return ch.isspace() and ch not in _NOT_GO_SPACE


class _Words:
    """Accumulates the word-split view alongside the plain result.

    Text that came from a variable is split on blanks, quoted text never is, and an
    escaped blank stays inside its word: the same three cases BuildKit distinguishes.
    """

    __slots__ = ("word", "words", "in_word")

    def __init__(self) -> None:
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if _is_space(ch):
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def add_split(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def finish(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class _Lexer:
    def __init__(
        self,
        source: str,
        env: Mapping[str, str],
        escape: str,
        *,
        skip_unset: bool,
        raw_quotes: bool,
        raw_escapes: bool,
        skip_process_quotes: bool,
    ) -> None:
        self.src = source
        self.pos = 0
        self.env = env
        self.escape = escape
        self.skip_unset = skip_unset
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_process_quotes = skip_process_quotes
        self.used: set[str] = set()
        self.unset: set[str] = set()

    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else _EOF

    def next(self) -> str:
        if self.pos < len(self.src):
            ch = self.src[self.pos]
            self.pos += 1
            return ch
        return _EOF

    def lookup(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            self.used.add(name)
            return self.env[name], True
        self.unset.add(name)
        return "", False

    def process_until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Read up to the unescaped, unquoted `stop` (or the end when stop is _EOF)."""
        saved_raw = self.raw_escapes
        self.raw_escapes = raw_escapes
        try:
            return self._process_until(stop)
        finally:
            self.raw_escapes = saved_raw

    def _process_until(self, stop: str) -> tuple[str, list[str]]:
        out: list[str] = []
        words = _Words()
        quotes = not self.skip_process_quotes
        while self.pos < len(self.src):
            ch = self.src[self.pos]
            if stop and ch == stop:
                self.pos += 1
                return "".join(out), words.finish()
            if ch == "$":
                text = self.dollar()
                out.append(text)
                words.add_split(text)
            elif quotes and ch == "'":
                text = self.single_quoted()
                out.append(text)
                words.add_raw(text)
            elif quotes and ch == '"':
                text = self.double_quoted()
                out.append(text)
                words.add_raw(text)
            else:
                self.pos += 1
                if ch == self.escape:
                    if self.raw_escapes:
                        words.add_raw(ch)
                        out.append(ch)
                    ch = self.next()
                    if ch == _EOF:
                        # A trailing escape character escapes nothing and is dropped.
                        break
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                out.append(ch)
        if stop:
            raise _Syntax(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out), words.finish()

    def single_quoted(self) -> str:
        opening = self.next()
        out = [opening] if self.raw_quotes else []
        while True:
            ch = self.next()
            if ch == _EOF:
                raise _Syntax("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quoted(self) -> str:
        opening = self.next()
        out = [opening] if self.raw_quotes else []
        while True:
            ch = self.peek()
            if ch == _EOF:
                raise _Syntax("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.pos += 1
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            self.pos += 1
            if ch == self.escape:
                if self.raw_escapes:
                    out.append(ch)
                following = self.peek()
                if following == _EOF:
                    continue
                # Inside double quotes the escape only protects `"`, `$` and itself;
                # before anything else it is an ordinary character (sh's rule).
                if following in ('"', "$", self.escape):
                    ch = self.next()
            out.append(ch)

    def name(self) -> str:
        start = self.pos
        first = self.peek()
        if first == _EOF:
            return ""
        if first.isdecimal():
            while self.peek() != _EOF and self.peek().isdecimal():
                self.pos += 1
            return self.src[start:self.pos]
        if first in _SPECIAL_PARAMS:
            self.pos += 1
            return first
        while True:
            ch = self.peek()
            if ch == _EOF or not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            self.pos += 1
        return self.src[start:self.pos]

    def dollar(self) -> str:
        self.pos += 1  # the `$`
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.lookup(name)
            if not found and self.skip_unset:
                return "$" + name
            return value

        self.pos += 1  # the `{`
        first = self.peek()
        if first == _EOF:
            raise _Syntax("syntax error: missing '}'")
        if first in "{}:":
            raise _Syntax("syntax error: bad substitution")
        name = self.name()
        op = self.next()
        if op == _EOF:
            raise _Syntax("syntax error: missing '}'")
        if op == "}":
            value, found = self.lookup(name)
            if not found and self.skip_unset:
                return "${" + name + "}"
            return value
        if op == "/":
            return self.replace(name)

        modifier = op
        null_is_unset = False
        if op == ":":
            null_is_unset = True
            op = self.next()
            modifier += op
        elif op not in "+-?#%":
            raise _Syntax(f"unsupported modifier ({modifier}) in substitution")
        # Trim patterns keep their escapes: `\*` must reach the pattern compiler intact.
        try:
            word, _ = self.process_until("}", raw_escapes=op in ("#", "%"))
        except _Syntax:
            if self.peek() == _EOF:
                raise _Syntax("syntax error: missing '}'") from None
            raise
        value, is_set = self.lookup(name)
        if self.skip_unset and not is_set:
            return "${" + name + modifier + word + "}"
        if op == _EOF:
            raise _Syntax("syntax error: missing '}'")
        if op not in "+-?#%":
            raise _Syntax(f"unsupported modifier ({modifier}) in substitution")
        empty = not is_set or (null_is_unset and value == "")
        if op == "-":
            return word if empty else value
        if op == "+":
            return "" if empty else word
        if op == "?":
            if not is_set:
                raise _Syntax(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise _Syntax(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        # `#`/`%` trim the shortest match, `##`/`%%` the longest.
        greedy = word.startswith(op)
        if greedy:
            word = word[1:]
        if op == "#":
            return _trim_prefix(word, value, greedy)
        return _trim_suffix(word, value, greedy)

    def replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.pos += 1
        try:
            pattern, _ = self.process_until("/", raw_escapes=True)
        except _Syntax:
            if self.peek() == _EOF:
                raise _Syntax("syntax error: missing '/' in ${}") from None
            raise
        try:
            replacement, _ = self.process_until("}", raw_escapes=True)
        except _Syntax:
            if self.peek() == _EOF:
                raise _Syntax("syntax error: missing '}'") from None
            raise
        value, is_set = self.lookup(name)
        if self.skip_unset and not is_set:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            return _replace_all(regex, value, replacement)
        found = regex.search(value)
        if found is None:
            return value
        return value[: found.start()] + replacement + value[found.end():]


class _Syntax(Exception):
    """Internal: carries a BuildKit-worded message up to `expand`, which adds context."""


_REGEX_SPECIALS = frozenset("[]{}.+()|^$")


def _pattern_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """Compile a `${v#p}`/`${v/p/r}` pattern: `*` and `?` are wildcards, `\\` escapes.

    Bracket expressions are not supported (BuildKit does not support them either): `[`
    matches itself.
    """
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            following = pattern[i] if i < len(pattern) else ""
            # `\}` and `\/` were needed to get past the `${...}` syntax; they mean the
            # plain character in the pattern.
            if following in ("}", "/"):
                continue
            if following not in ("*", "?", "\\"):
                raise _Syntax(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{following}'")
            out.append("\\" + following)
            i += 1
        elif ch in _REGEX_SPECIALS:
            out.append("\\" + ch)
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out))


def _replace_all(regex: re.Pattern[str], value: str, template: str) -> str:
    """Go's Regexp.ReplaceAllString: an empty match right after a match is skipped, the
    search moves one character on after an empty match, and `$` in the replacement is
    a group reference (`$0` the match, other names empty, `$$` a dollar)."""
    out: list[str] = []
    pos = 0
    copied = 0
    prev_end = -1
    while pos <= len(value):
        found = regex.search(value, pos)
        if found is None:
            break
        start, end = found.span()
        accept = True
        if end == pos:
            if start == prev_end:
                accept = False
            pos = end + 1
        else:
            pos = end
        prev_end = end
        if accept:
            out.append(value[copied:start])
            out.append(_go_template(template, found.group(0)))
            copied = end
    out.append(value[copied:])
    return "".join(out)


_TEMPLATE_REF = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")


def _go_template(template: str, match: str) -> str:
    def ref(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(2)
        return match if name.isdecimal() and int(name) == 0 else ""

    return _TEMPLATE_REF.sub(ref, template)


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    found = _pattern_regex(pattern, greedy=greedy, anchored=True).match(value)
    return value[found.end():] if found else value


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern while keeping each `\\x` escape pair in order (a\\*c -> c\\*a)."""
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            tokens.append(pattern[i:i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    return "".join(reversed(tokens))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # A regex finds the leftmost match, never the shortest rightmost one: reverse both
    # the text and the pattern so a suffix search becomes a prefix search.
    trimmed = _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)
    return trimmed[::-1]


def expand(
    word: str,
    env: Mapping[str, str],
    escape: str = "\\",
    *,
    skip_unset: bool = False,
    raw_quotes: bool = False,
    raw_escapes: bool = False,
    skip_process_quotes: bool = False,
) -> ExpandResult:
    """Expand `word` against `env` the way BuildKit's shell lexer does.

    escape: the Dockerfile's escape character (`\\` or a backtick).
    skip_unset: leave references to unset variables as written (`$x`, `${x:-y}`).
    raw_quotes / raw_escapes: keep quote characters / escape characters in the output.
    skip_process_quotes: treat quotes as ordinary characters (heredoc bodies).

    Raises ExpansionError (a UserError) for syntax errors, unsupported modifiers and a
    failing `${v?msg}` / `${v:?msg}`.
    """
    lexer = _Lexer(
        word,
        env,
        escape,
        skip_unset=skip_unset,
        raw_quotes=raw_quotes,
        raw_escapes=raw_escapes,
        skip_process_quotes=skip_process_quotes,
    )
    try:
        value, words = lexer.process_until(_EOF, raw_escapes)
    except _Syntax as exc:
        raise ExpansionError(f"failed to process {_go_quote(word)}: {exc}") from None
    return ExpandResult(value, words, frozenset(lexer.used), frozenset(lexer.unset))


def expand_words(word: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Expand `word` and split the result on unquoted, unescaped blanks."""
    return expand(word, env, escape).words
