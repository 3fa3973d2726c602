"""Dockerfile text → typed AST (builder.ast), matching BuildKit's frontend/dockerfile
parser and instructions packages.

Three steps, each BuildKit's:
1. builder/lines.py: directives, comments, continuations, heredoc bodies → logical lines.
2. The lark grammar (builder/grammar/dockerfile.lark, LALR with a contextual lexer) splits
   every logical line into keyword, flags and the rest, in one parse of the whole file;
   the rest is then split as BuildKit's line parser for that instruction does (JSON or
   shell form, key=value pairs, ...). Errors here are BuildKit's *parser* errors and are
   reported before any instruction error, as BuildKit does.
3. Each line becomes an instruction dataclass after BuildKit's instruction checks
   (argument counts, flags and their values, stage names, ONBUILD rules).

`import lark` and building the parser cost tens of milliseconds, so lark is imported on
the first parse only and the built tables are kept on disk (builder/lark_cache.py);
bench/parse.py prints both costs. Most of a parse is per line and per token, so the hot
paths avoid per-line regex searches, function layers and objects where a string method
does (see the comments where that made the code less obvious).
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from builder import ast
from builder.errors import DockerfileError
from builder.flags import (FLAGS, FlagError, bool_flag, check_checksum, check_chmod,
                           check_interval, check_network, check_security, parse_flags,
                           parse_mount, parse_retries)
from builder.lark_cache import cached_lark
from builder.lines import GO_SPACE, LogicalLine, heredoc_words, read_lines
from builder.suggest import did_you_mean

if TYPE_CHECKING:
    from lark import Lark

__all__ = ["parse", "parse_file", "INSTRUCTIONS"]

INSTRUCTIONS = ("ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM",
                "HEALTHCHECK", "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL",
                "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")
_KNOWN = frozenset(name.lower() for name in INSTRUCTIONS)
_HEREDOC_INSTRUCTIONS = frozenset({"run", "copy", "add"})
_ASCII_BLANKS = re.compile(r"[\t\v\f\r ]+")
_GO_BLANKS = re.compile(f"[{GO_SPACE}]+")
_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")
_HEREDOC_WORD = re.compile(r"(\d*)<<(-?)([^<]*)\Z")
_ONBUILD_PREFIX = re.compile(r"(?i)\A[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*")
_LEADING_TABS = re.compile(r"^\t+", re.M)
# The lines of a PLAIN or PLAINS token: keyword, blanks, arguments.
_PLAIN_LINE = re.compile(r"([^ \t\f\v\r\n]+)[ \t\f\v\r]*([^\n]*)\n")


class _Rule:
    """A grammar rule as the lark callbacks leave it (no tree is built)."""

    __slots__ = ("kind", "children")

    def __init__(self, kind: str, children: list[Any]) -> None:
        self.kind = kind
        self.children = children


class _Lines:
    """Inline lark callbacks: each rule becomes a _Rule, `start` the list of them."""

    def start(self, children: list[Any]) -> list[Any]:
        return children

    def command(self, children: list[Any]) -> _Rule:
        return _Rule("command", children)

    def unknown(self, children: list[Any]) -> _Rule:
        return _Rule("unknown", children)

    def onbuild(self, children: list[Any]) -> _Rule:
        return _Rule("onbuild", children)


def _grammar(name: str) -> str:
    with open(os.path.join(os.path.dirname(__file__), "grammar", name), encoding="utf-8") as f:
        return f.read()


@functools.lru_cache(maxsize=2)
def _lark(escape: str) -> Lark:
    """The parser for one escape character, built (or loaded from the disk cache) once
    per process. lark-cython runs lark's LALR parser and contextual lexer compiled: the
    same tables and regexes, so the same tokens, about 1.5x faster per token."""
    import lark_cython

    names = ["dockerfile.lark"] + (["escape_backtick.lark"] if escape == "`" else [])
    text = "\n".join(_grammar(name) for name in names)
    return cached_lark(text, parser="lalr", lexer="contextual", transformer=_Lines(),
                       maybe_placeholders=False, _plugins=lark_cython.plugins)


@dataclass(slots=True)
class _Node:
    """A line as BuildKit's parser leaves it (its parser.Node)."""

    keyword: str
    flags: list[str]
    args: list[str]
    json: bool
    original: str
    child: _Node | None = None
    heredocs: tuple[ast.Heredoc, ...] = ()
    heredoc_contents: tuple[str, ...] = ()  # as read, before `<<-` strips tabs
    column: int = 1  # where the arguments start in the trimmed line, for error carets
    keyword_column: int = 1  # where the keyword starts (not 1 for an ONBUILD trigger)


class _Failure(Exception):
    """A parser or instruction error; the caller adds file and line."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


def parse(text: str, file: str = "Dockerfile") -> ast.Dockerfile:
    """Parse a Dockerfile; raises DockerfileError (never a lark exception).

    BuildKit parses every line before it checks any instruction, so an error in how a
    line splits (its parser's) wins over an instruction error on an earlier line: one
    pass here does both, raising the former at once and keeping the first of the latter
    for the end."""
    lines = read_lines(text, _takes_heredocs, file)
    escape = lines.escape
    instructions: list[ast.Instruction] = []
    deferred: DockerfileError | None = None
    in_stage = False
    for line, node in zip(lines.lines, _raw_nodes(lines.lines, escape, file)):
        if deferred is not None:
            continue
        try:
            instruction = _instruction(node, line, escape)
        except _Failure as exc:
            deferred = _error(exc, file, line)
            continue
        if isinstance(instruction, ast.From):
            in_stage = True
        elif not in_stage and not isinstance(instruction, ast.Arg):
            deferred = DockerfileError("no build stage in current context", file=file,
                                       line=line.start, source_line=line.text.strip(GO_SPACE))
            continue
        instructions.append(instruction)
    if lines.error is not None:
        raise lines.error
    if not lines.lines:
        raise DockerfileError("file with no instructions", file=file,
                              line=text.count("\n") + (not text.endswith("\n") and text != ""))
    if deferred is not None:
        raise deferred
    return ast.Dockerfile(
        instructions, escape,
        [ast.Directive(d.name, d.value, d.line) for d in lines.directives],
        [ast.ParseWarning(w.rule, w.message, w.line) for w in lines.warnings], file)


def parse_file(path: str) -> ast.Dockerfile:
    """Read and parse a Dockerfile; bytes that are not UTF-8 are kept (surrogateescape)
    so that RUN lines reach the shell unchanged."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise DockerfileError(f"cannot read Dockerfile: {exc.strerror}", file=path) from None
    return parse(data.decode("utf-8", "surrogateescape"), file=path)


def _error(exc: _Failure, file: str, line: LogicalLine) -> DockerfileError:
    return DockerfileError(exc.message, file=file, line=line.start, column=exc.column,
                           source_line=line.text.strip(GO_SPACE))


def _takes_heredocs(text: str, escape: str) -> bool:
    """Whether BuildKit reads heredoc bodies after this line: RUN, COPY or ADD (also as
    an ONBUILD trigger) in shell form."""
    stripped = text.strip(GO_SPACE)
    if not stripped:
        return False
    keyword = _ASCII_BLANKS.split(stripped, maxsplit=1)[0].lower()
    if keyword != "onbuild":
        if keyword not in _HEREDOC_INSTRUCTIONS:
            return False
        if "[" not in stripped:  # no JSON, so shell form
            return True
    try:
        item = _line_items(_lark(escape).parse(stripped + "\n"))[0]
        if type(item) is tuple:
            node = _plain_node(item[0], item[1], stripped, text, escape)
        else:
            node = _node(item, stripped, text, escape)
    except _Failure:
        # The line is an error either way, reported when the line itself is parsed.
        return False
    if node.keyword.lower() == "onbuild" and node.child is not None:
        node = node.child
    return node.keyword.lower() in _HEREDOC_INSTRUCTIONS and not node.json


def _raw_nodes(lines: list[LogicalLine], escape: str, file: str) -> list[_Node]:
    """The node of each logical line; the first parser error is raised, with its line."""
    texts = [line.text.strip(GO_SPACE) for line in lines]
    text = "\n".join(filter(None, texts))
    items = iter(_line_items(_lark(escape).parse(text + "\n")) if text else ())
    nodes: list[_Node] = []
    for line, stripped in zip(lines, texts):
        if not stripped:
            nodes.append(_Node("", [], [], False, line.text))
            continue
        item = next(items)
        try:
            if type(item) is tuple:
                node = _plain_node(item[0], item[1], stripped, line.text, escape)
            else:
                node = _node(item, stripped, line.text, escape)
        except _Failure as exc:
            raise _error(exc, file, line) from None
        if line.heredocs:
            target = node.child if node.child is not None else node
            target.heredocs = tuple(
                ast.Heredoc(d.name, _LEADING_TABS.sub("", d.content) if d.chomp else d.content,
                            d.expand, d.chomp, d.fd) for d in line.heredocs)
            node.heredocs = target.heredocs
            node.heredoc_contents = tuple(d.content for d in line.heredocs)
        nodes.append(node)
    return nodes


def _line_items(parsed: list[Any]) -> list[_Rule | tuple[str, str]]:
    """One item per line: a _Rule for a line with flags (or ONBUILD, or an unknown
    keyword), a (keyword, arguments) pair for each line of a PLAINS token."""
    out: list[_Rule | tuple[str, str]] = []
    for item in parsed:
        if type(item) is _Rule:
            out.append(item)
        else:
            out += _PLAIN_LINE.findall(item.value)
    return out


def _plain_node(keyword: str, rest: str, line: str, original: str, escape: str) -> _Node:
    """A line without flags: `keyword` and `rest` come from _PLAIN_LINE, at the start
    of `line` or at its end (an ONBUILD trigger)."""
    lower = keyword.lower()
    if lower not in _KNOWN:
        return _Node(keyword, [], [], False, original)
    if rest:
        rest = rest.strip(GO_SPACE)
    column = len(line) - len(rest) + 1 if rest else len(line) + 1
    try:
        args, is_json = _split_args(lower, rest, escape)
    except _Failure as exc:
        exc.column = column
        raise
    return _Node(keyword, [], args, is_json, original, column=column)


def _node(rule: _Rule, line: str, original: str, escape: str) -> _Node:
    """`line` is the whole trimmed logical line (token columns index into it);
    `original` is this instruction's text as BuildKit keeps it."""
    children = rule.children
    keyword = children[0].value
    flags: list[str] = []
    rest = ""
    rest_column = len(line) + 1
    child_tokens = None
    for token in children[1:]:
        if type(token) is _Rule or token.type == "PLAIN":
            child_tokens = token
            continue
        if token.type == "FLAGS":
            value = token.value
            if "'" not in value and '"' not in value and escape not in value:
                # Nothing to unquote, so no flag can turn into "--".
                flags += _ASCII_BLANKS.split(value.lstrip(" \t\f\v\r"))
                continue
            end = _quoted_flags(value, escape, flags)
            if end is not None:
                # A flag that unquotes to "--" ends the flags like a bare "--" does.
                rest = line[token.column - 1 + end:].strip(GO_SPACE)
                rest_column = len(line) - len(rest) + 1 if rest else rest_column
                break
        elif token.type == "REST":
            value = token.value
            rest = value.strip(GO_SPACE)
            rest_column = token.column + len(value) - len(value.lstrip(GO_SPACE))
    if rule.kind == "onbuild":
        child = None
        if child_tokens is not None:
            if type(child_tokens) is _Rule:
                rest_column = child_tokens.children[0].column
                child = _node(child_tokens, line, line[rest_column - 1:], escape)
            else:
                rest_column = child_tokens.column
                keyword_rest = _PLAIN_LINE.match(child_tokens.value)
                assert keyword_rest is not None
                child = _plain_node(keyword_rest[1], keyword_rest[2], line,
                                    line[rest_column - 1:], escape)
            child.keyword_column = rest_column
        return _Node(keyword, flags, [child.keyword] if child else [], False, original,
                     child=child, column=rest_column)
    lower = keyword.lower()
    if rule.kind == "unknown" or lower not in _KNOWN:
        return _Node(keyword, flags, [], False, original, column=rest_column)
    try:
        args, is_json = _split_args(lower, rest, escape)
    except _Failure as exc:
        exc.column = rest_column
        raise
    return _Node(keyword, flags, args, is_json, original, column=rest_column)


def _quoted_flags(value: str, escape: str, flags: list[str]) -> int | None:
    """Append the flags of a FLAGS token that has quotes or escapes to `flags`, words
    split at blanks outside quotes as the grammar's FLAG splits them; if one unquotes to
    "--", stop there and return where it ends in `value`."""
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in " \t\f\v\r":
            i += 1
        start = i
        quote = ""
        while i < n:
            ch = value[i]
            if ch == escape:
                i += 2
                continue
            if quote:
                if ch == quote:
                    quote = ""
            elif ch == '"' or ch == "'":
                quote = ch
            elif ch in " \t\f\v\r":
                break
            i += 1
        i = min(i, n)
        word = _flag_word(value[start:i], escape)
        if word == "--":
            return i
        flags.append(word)
    return None


def _flag_word(raw: str, escape: str) -> str:
    """One flag word without its quotes and escapes (BuildKit's extractBuilderFlags)."""
    if "'" not in raw and '"' not in raw and escape not in raw:
        return raw
    out: list[str] = []
    quote = ""
    i, n = 0, len(raw)
    while i < n:
        ch = raw[i]
        if quote:
            if ch == quote:
                quote = ""
                i += 1
                continue
        elif ch in "'\"":
            quote = ch
            i += 1
            continue
        if ch == escape:
            if i + 1 == n:
                break
            i += 1
            ch = raw[i]
        out.append(ch)
        i += 1
    return "".join(out)


def _split_args(lower: str, rest: str, escape: str) -> tuple[list[str], bool]:
    if lower in ("run", "cmd", "entrypoint", "shell"):
        return _maybe_json(rest)
    if lower in ("copy", "add", "volume"):
        args, is_json = _maybe_json(rest)
        if is_json or not rest:
            return args, is_json
        return _ASCII_BLANKS.split(rest), False
    if lower in ("from", "expose"):
        return (_ASCII_BLANKS.split(rest) if rest else []), False
    if lower in ("env", "label"):
        return _name_values(rest, lower.upper(), escape), False
    if lower == "arg":
        return _words(rest, escape), False
    if lower == "healthcheck":
        return _health_config(rest)
    return ([rest] if rest else []), False


class _NotJSON(Exception):
    pass


def _reject_constant(name: str) -> Any:
    raise _NotJSON(name)


_SURROGATES = re.compile("[\ud800-\udfff]")
# Go's JSON has no NaN or Infinity; one decoder, because json.loads with an option
# builds a new one on every call.
_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def _maybe_json(rest: str) -> tuple[list[str], bool]:
    """BuildKit's parseMaybeJSON: a JSON array of strings is exec form, anything that
    is not JSON is shell form, JSON of anything else is an error."""
    if not rest:
        return [], False
    if not rest.lstrip(GO_SPACE).startswith("["):
        return [rest], False
    try:
        value = _JSON.decode(rest)
    except (ValueError, _NotJSON):
        return [rest], False
    if not isinstance(value, list):
        return [rest], False
    if not all(isinstance(v, str) for v in value):
        raise _Failure("when using JSON array syntax, arrays must be comprised of strings only")
    if rest.isascii() and "\\u" not in rest:
        return value, True  # no surrogate can be in it
    return [_SURROGATES.sub("\ufffd", v) for v in value], True


@functools.lru_cache(maxsize=2)
def _word_patterns(escape: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Regexes for the common case of parseWords: closed quotes, no escape at the end.

    The check of the whole text is possessive: a word splits into its pieces one way
    only, and backtracking over the ways to cut a run of pieces into words made a
    60-character ENV line with an open quote take minutes."""
    e = re.escape(escape)
    blank = f"[{GO_SPACE}]"
    piece = rf"[^{GO_SPACE}\"'{e}]|{e}[\s\S]|\"(?:[^\"{e}]|{e}[\s\S])*\"|'[^']*'"
    return re.compile(rf"(?:{piece})+"), re.compile(rf"(?:{blank}*+(?:{piece})++)*+{blank}*+")


def _words(rest: str, escape: str) -> list[str]:
    """BuildKit's parseWords: blank-separated words, quotes and escapes kept."""
    if "'" not in rest and '"' not in rest and escape not in rest:
        return _GO_BLANKS.split(rest.strip(GO_SPACE)) if rest.strip(GO_SPACE) else []
    word, whole = _word_patterns(escape)
    if whole.fullmatch(rest):
        return word.findall(rest)
    return _words_slowly(rest, escape)


def _words_slowly(rest: str, escape: str) -> list[str]:
    """parseWords character by character, for open quotes and a trailing escape."""
    words: list[str] = []
    word: list[str] = []
    in_word = False
    blank_ok = False
    quote = ""
    i, n = 0, len(rest)
    while i < n:
        ch = rest[i]
        if not in_word:
            if ch in GO_SPACE:
                i += 1
                continue
            in_word = True
        if not quote:
            if ch in GO_SPACE:
                if blank_ok or word:
                    words.append("".join(word))
                word, blank_ok, in_word = [], False, False
                i += 1
                continue
            if ch in "'\"":
                quote = ch
                blank_ok = True
            elif ch == escape:
                if i + 1 == n:
                    break
                word.append(ch)
                i += 1
                ch = rest[i]
            word.append(ch)
            i += 1
            continue
        if ch == quote:
            quote = ""
        elif ch == escape and quote != "'":
            if i + 1 == n:
                break
            word.append(ch)
            i += 1
            ch = rest[i]
        word.append(ch)
        i += 1
    if in_word and (blank_ok or word):
        words.append("".join(word))
    return words


def _name_values(rest: str, name: str, escape: str) -> list[str]:
    """ENV/LABEL (parseNameVal): `key value` (legacy, the value is the raw rest) or
    `key=value ...`; flattened as key, value, separator triples like BuildKit's."""
    words = _words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _ASCII_BLANKS.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _Failure(f"{name} must have two arguments")
        return [parts[0], parts[1], ""]
    out: list[str] = []
    for word in words:
        if "=" not in word:
            raise _Failure(f"Syntax error - can't find = in {_go_quote(word)}. "
                           "Must be of the form: name=value")
        key, _, value = word.partition("=")
        out += [key, value, "="]
    return out


def _health_config(rest: str) -> tuple[list[str], bool]:
    blanks = " \t\n\v\f\r\x85\xa0"
    sep = 0
    while sep < len(rest) and rest[sep] not in blanks:
        sep += 1
    if sep == 0:
        return [], False
    nxt = sep
    while nxt < len(rest) and rest[nxt] in blanks:
        nxt += 1
    command, is_json = _maybe_json(rest[nxt:])
    return [rest[:sep], *command], is_json


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


# --- step 3: instructions ------------------------------------------------------------

def _instruction(node: _Node, line: LogicalLine, escape: str) -> ast.Instruction:
    lower = node.keyword.lower()
    if node.keyword == "" or lower not in _KNOWN:
        raise _Failure(_unknown_message(node.keyword), column=node.keyword_column)
    builder = _BUILDERS[lower]
    common = {"keyword": node.keyword, "start_line": line.start, "end_line": line.end,
              "original": node.original, "comments": line.comments}
    try:
        return builder(node, common, escape)
    except FlagError as exc:
        raise _Failure(str(exc)) from None
    except _Failure as exc:
        if exc.column is None:
            exc.column = node.column
        raise


def _unknown_message(keyword: str) -> str:
    return f"unknown instruction: {keyword}" + did_you_mean(keyword, INSTRUCTIONS)


def _flags(node: _Node, name: str) -> tuple[ast.Flag, ...]:
    return parse_flags(node.flags, FLAGS.get(name, {})) if node.flags else ()


def _form(node: _Node) -> ast.Form:
    return "exec" if node.json else "shell"


def _build_from(node: _Node, common: dict[str, Any], escape: str) -> ast.From:
    args = node.args
    stage = as_keyword = stage_as_written = None
    if len(args) == 3 and args[1].lower() == "as":
        stage_as_written, as_keyword = args[2], args[1]
        stage = args[2].lower()
        if not _STAGE_NAME.fullmatch(stage):
            raise _Failure(f"invalid name for build stage: {_go_quote(args[2])}, "
                           "name can't start with a number or contain symbols")
    elif len(args) != 1:
        raise _Failure("FROM requires either one or three arguments")
    flags = _flags(node, "FROM")
    return ast.From(**common, flags=flags, image=args[0], stage=stage,
                    stage_as_written=stage_as_written, as_keyword=as_keyword,
                    platform=_last(flags, "platform"))


def _last(flags: tuple[ast.Flag, ...], name: str) -> str | None:
    value = None
    for f in flags:
        if f.name == name:
            value = f.value
    return value


def _build_run(node: _Node, common: dict[str, Any], escape: str) -> ast.Run:
    flags = _flags(node, "RUN")
    mounts = tuple(parse_mount(f.value or "") for f in flags if f.name == "mount")
    network, security = _last(flags, "network"), _last(flags, "security")
    if network is not None:
        check_network(network)
    if security is not None:
        check_security(security)
    return ast.Run(**common, flags=flags, form=_form(node), command=tuple(node.args),
                   heredocs=node.heredocs, mounts=mounts, network=network,
                   security=security)


def _build_cmd(node: _Node, common: dict[str, Any], escape: str) -> ast.Cmd:
    flags = _flags(node, "CMD")
    return ast.Cmd(**common, flags=flags, form=_form(node), command=tuple(node.args))


def _build_entrypoint(node: _Node, common: dict[str, Any], escape: str) -> ast.Entrypoint:
    flags = _flags(node, "ENTRYPOINT")
    return ast.Entrypoint(**common, flags=flags, form=_form(node), command=tuple(node.args))


def _build_shell(node: _Node, common: dict[str, Any], escape: str) -> ast.Shell:
    flags = _flags(node, "SHELL")
    if not node.args:
        raise _Failure("SHELL requires at least one argument")
    if not node.json:
        raise _Failure("SHELL requires the arguments to be in JSON form")
    return ast.Shell(**common, flags=flags, command=tuple(node.args))


def _transfer(node: _Node, name: str) -> tuple[tuple[ast.Flag, ...], list[str], str]:
    if len(node.args) < 2:
        raise _Failure(f"{name} requires at least two arguments, but only one was "
                       "provided. Destination could not be determined")
    flags = _flags(node, name)
    *sources, dest = node.args
    if _is_heredoc_word(dest):
        raise _Failure(f"{name} cannot accept a heredoc as a destination")
    for f in flags:
        if f.name == "chmod" and f.value:
            check_chmod(f.value)
    return flags, sources, dest


def _is_heredoc_word(word: str) -> bool:
    match = _HEREDOC_WORD.match(word)
    return bool(match and match.group(3) and heredoc_words(word))


def _build_copy(node: _Node, common: dict[str, Any], escape: str) -> ast.Copy:
    flags, sources, dest = _transfer(node, "COPY")
    return ast.Copy(**common, flags=flags, form=_form(node), sources=tuple(sources),
                    dest=dest, heredocs=node.heredocs, chown=_last(flags, "chown"),
                    chmod=_last(flags, "chmod"), link=bool(bool_flag(flags, "link")),
                    exclude=tuple(f.value or "" for f in flags if f.name == "exclude"),
                    from_=_last(flags, "from"), parents=bool(bool_flag(flags, "parents")))


def _build_add(node: _Node, common: dict[str, Any], escape: str) -> ast.Add:
    flags, sources, dest = _transfer(node, "ADD")
    checksum = _last(flags, "checksum")
    if checksum:
        check_checksum(checksum)
    return ast.Add(**common, flags=flags, form=_form(node), sources=tuple(sources),
                   dest=dest, heredocs=node.heredocs, chown=_last(flags, "chown"),
                   chmod=_last(flags, "chmod"), link=bool(bool_flag(flags, "link")),
                   exclude=tuple(f.value or "" for f in flags if f.name == "exclude"),
                   keep_git_dir=bool(bool_flag(flags, "keep-git-dir")), checksum=checksum,
                   unpack=bool_flag(flags, "unpack"))


def _pairs(node: _Node, name: str) -> tuple[ast.KeyValue, ...]:
    args = node.args
    if not args:
        raise _Failure(f"{name} requires at least one argument")
    pairs = []
    for i in range(0, len(args), 3):
        if not args[i]:
            raise _Failure(f"{name} names can not be blank")
        pairs.append(ast.KeyValue(args[i], args[i + 1], args[i + 2] == ""))
    return tuple(pairs)


def _build_env(node: _Node, common: dict[str, Any], escape: str) -> ast.Env:
    flags = _flags(node, "ENV")
    return ast.Env(**common, flags=flags, pairs=_pairs(node, "ENV"))


def _build_label(node: _Node, common: dict[str, Any], escape: str) -> ast.Label:
    flags = _flags(node, "LABEL")
    return ast.Label(**common, flags=flags, pairs=_pairs(node, "LABEL"))


def _build_arg(node: _Node, common: dict[str, Any], escape: str) -> ast.Arg:
    # BuildKit's ARG takes several names and never looks at its flags.
    if not node.args:
        raise _Failure("ARG requires at least one argument")
    decls = []
    for word in node.args:
        key, eq, value = word.partition("=")
        if eq and not key:
            raise _Failure("ARG names can not be blank")
        decls.append(ast.ArgDecl(key, value if eq else None))
    return ast.Arg(**common, flags=tuple(ast.Flag(*_split_flag(f)) for f in node.flags),
                   args=tuple(decls))


def _split_flag(word: str) -> tuple[str, str | None]:
    name, eq, value = word[2:].partition("=")
    return name, value if eq else None


def _exactly_one(node: _Node, name: str) -> str:
    if len(node.args) != 1:
        raise _Failure(f"{name} requires exactly one argument")
    return node.args[0]


def _build_workdir(node: _Node, common: dict[str, Any], escape: str) -> ast.Workdir:
    path = _exactly_one(node, "WORKDIR")
    return ast.Workdir(**common, flags=_flags(node, "WORKDIR"), path=path)


def _build_user(node: _Node, common: dict[str, Any], escape: str) -> ast.User:
    user = _exactly_one(node, "USER")
    return ast.User(**common, flags=_flags(node, "USER"), user=user)


def _build_maintainer(node: _Node, common: dict[str, Any], escape: str) -> ast.Maintainer:
    maintainer = _exactly_one(node, "MAINTAINER")
    return ast.Maintainer(**common, flags=_flags(node, "MAINTAINER"), maintainer=maintainer)


_SIGNALS = frozenset("ABRT ALRM BUS CHLD CLD CONT FPE HUP ILL INT IO IOT KILL PIPE POLL "
                     "PROF PWR QUIT SEGV STKFLT STOP SYS TERM TRAP TSTP TTIN TTOU URG USR1 "
                     "USR2 VTALRM WINCH XCPU XFSZ".split())


def _build_stopsignal(node: _Node, common: dict[str, Any], escape: str) -> ast.StopSignal:
    # BuildKit's STOPSIGNAL never looks at its flags; the signal is checked when the
    # image config is written, which is done here for signals without variables.
    signal = _exactly_one(node, "STOPSIGNAL")
    if "$" not in signal and not _valid_signal(signal):
        raise _Failure(f"invalid signal: {signal}")
    return ast.StopSignal(**common, flags=tuple(ast.Flag(*_split_flag(f)) for f in node.flags),
                          signal=signal)


def _valid_signal(signal: str) -> bool:
    """moby's signal.ParseSignal: a non-zero number (Go's Atoi), or a Linux signal name
    with or without SIG, any case."""
    if re.fullmatch(r"[+-]?[0-9]+", signal):
        return int(signal) != 0
    name = signal.upper().removeprefix("SIG")
    if name in _SIGNALS:
        return True
    match = re.fullmatch(r"RTMIN(?:\+([0-9]+))?|RTMAX(?:-([0-9]+))?", name)
    return bool(match) and int(match.group(1) or match.group(2) or 0) <= 15


def _build_volume(node: _Node, common: dict[str, Any], escape: str) -> ast.Volume:
    if not node.args:
        raise _Failure("VOLUME requires at least one argument")
    flags = _flags(node, "VOLUME")
    paths = tuple(p.strip(GO_SPACE) for p in node.args)
    if any(not p for p in paths):
        raise _Failure("VOLUME specified can not be an empty string")
    return ast.Volume(**common, flags=flags, form=_form(node), paths=paths)


_PORT = re.compile(r"(?P<start>[0-9]+)(?:-(?P<end>[0-9]+))?(?:/(?P<proto>[^/]*))?")


def _build_expose(node: _Node, common: dict[str, Any], escape: str) -> ast.Expose:
    if not node.args:
        raise _Failure("EXPOSE requires at least one argument")
    flags = _flags(node, "EXPOSE")
    for port in node.args:
        if "$" not in port:
            _check_port(port)
    return ast.Expose(**common, flags=flags, ports=tuple(node.args))


def _check_port(port: str) -> None:
    match = _PORT.fullmatch(port)
    if match is None:
        raise _Failure(f"invalid containerPort: {port.partition('/')[0]}")
    start, end = int(match["start"]), int(match["end"] or match["start"])
    if start > 65535 or end > 65535 or end < start:
        raise _Failure(f"invalid containerPort: {port.partition('/')[0]}")
    proto = (match["proto"] or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise _Failure(f"invalid proto: {match['proto']}")


def _build_healthcheck(node: _Node, common: dict[str, Any], escape: str) -> ast.Healthcheck:
    if not node.args:
        raise _Failure("HEALTHCHECK requires at least one argument")
    kind = node.args[0].upper()
    rest = node.args[1:]
    if kind == "NONE":
        # BuildKit ignores the flags of HEALTHCHECK NONE.
        if rest:
            raise _Failure("HEALTHCHECK NONE takes no arguments")
        return ast.Healthcheck(**common, flags=tuple(ast.Flag(*_split_flag(f)) for f in node.flags),
                               test=("NONE",))
    flags = _flags(node, "HEALTHCHECK")
    if kind != "CMD":
        raise _Failure(f"Unknown type {_go_quote(kind)} in HEALTHCHECK (try CMD)")
    if not rest:
        raise _Failure("Missing command after HEALTHCHECK CMD")
    test = ("CMD", *rest) if node.json else ("CMD-SHELL", *rest)
    durations: dict[str, Any] = {}
    for flag_name, attr in (("interval", "interval"), ("timeout", "timeout"),
                            ("start-period", "start_period"),
                            ("start-interval", "start_interval")):
        value = _last(flags, flag_name)
        if value:
            durations[attr] = value
            durations[attr + "_ns"] = check_interval(flag_name, value)
    retries = _last(flags, "retries")
    return ast.Healthcheck(**common, flags=flags, test=test, form=_form(node),
                           retries=parse_retries(retries) if retries else None, **durations)


def _build_onbuild(node: _Node, common: dict[str, Any], escape: str) -> ast.Onbuild:
    if node.child is None:
        raise _Failure("ONBUILD requires at least one argument")
    flags = _flags(node, "ONBUILD")
    trigger_name = node.child.keyword.upper()
    if trigger_name == "ONBUILD":
        raise _Failure("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger_name in ("MAINTAINER", "FROM"):
        raise _Failure(f"{trigger_name} isn't allowed as an ONBUILD trigger")
    line = LogicalLine(node.child.original, common["start_line"], common["end_line"], ())
    trigger = _instruction(node.child, line, escape)
    expression = _ONBUILD_PREFIX.sub("", node.original, count=1)
    for doc, content in zip(node.heredocs, node.heredoc_contents):
        expression += "\n" + content + doc.name
    return ast.Onbuild(**common, flags=flags, trigger=trigger, expression=expression)


_BUILDERS = {
    "from": _build_from, "run": _build_run, "cmd": _build_cmd,
    "entrypoint": _build_entrypoint, "shell": _build_shell, "copy": _build_copy,
    "add": _build_add, "env": _build_env, "label": _build_label, "arg": _build_arg,
    "workdir": _build_workdir, "user": _build_user, "maintainer": _build_maintainer,
    "stopsignal": _build_stopsignal, "volume": _build_volume, "expose": _build_expose,
    "healthcheck": _build_healthcheck, "onbuild": _build_onbuild,
}
