"""`docker import --change` / `docker commit --change`: the few Dockerfile instructions
dockerd accepts there, applied to an image's container config as dockerd's
`BuildFromConfig` applies them (the classic builder's dispatchers on Linux).

The lines are read as one small Dockerfile: `\\` continues a line, `#` starts a comment,
a leading `# escape=` directive is honoured. Every line is checked before any is applied.
ENV, LABEL, USER, WORKDIR, VOLUME, STOPSIGNAL and EXPOSE expand `$VAR` / `${VAR}` (with
`:-` `-` `:+` `+` `:?` `?`) from the config's Env; CMD, ENTRYPOINT, ONBUILD and HEALTHCHECK
keep their text. Self-contained on purpose: the Dockerfile language proper lives in
`builder/`, and this must stay importable without it."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Sequence, TypeVar

from oci.config import ContainerConfig, HealthConfig, ImageConfig
from oci.errors import InvalidChange

VALID_COMMANDS = (
    "cmd", "entrypoint", "healthcheck", "env", "expose", "label", "onbuild",
    "stopsignal", "user", "volume", "workdir",
)
# Instructions a Dockerfile knows, for ONBUILD's trigger check.
_DOCKERFILE_INSTRUCTIONS = VALID_COMMANDS + (
    "add", "arg", "copy", "from", "maintainer", "run", "shell",
)
DEFAULT_SHELL = ("/bin/sh", "-c")
MINIMUM_DURATION_NS = 1_000_000  # Docker's container.MinimumDuration, 1ms

ConfigT = TypeVar("ConfigT", ImageConfig, ContainerConfig)


class _ChangeError(Exception):
    """Raised inside; turned into InvalidChange naming the line."""


@dataclass
class _Line:
    text: str  # the logical line as written, continuations joined
    command: str  # lower-case instruction
    flags: dict[str, str | None]
    rest: str


def apply_changes(config: ConfigT, lines: Sequence[str]) -> ConfigT:
    if not lines:
        return copy.deepcopy(config)
    escape, logical = _logical_lines("\n".join(lines))
    for line in logical:
        if line.command not in VALID_COMMANDS:
            raise InvalidChange(f"{line.command} is not a valid change command: {line.text!r}")
    parsed = []
    for line in logical:
        try:
            parsed.append((line, _parse(line, escape)))
        except _ChangeError as e:
            raise InvalidChange(f"--change {line.text!r}: {e}") from None
    result = copy.deepcopy(config)
    container = result.config if isinstance(result, ImageConfig) else result
    state = _State(container, escape)
    for line, command in parsed:
        try:
            state.dispatch(line.command, command)
        except _ChangeError as e:
            raise InvalidChange(f"--change {line.text!r}: {e}") from None
    return result


# ---- reading lines -------------------------------------------------------------------

_ESCAPE_DIRECTIVE = re.compile(r"#\s*escape\s*=\s*(\S)\s*$", re.IGNORECASE)


def _logical_lines(text: str) -> tuple[str, list[_Line]]:
    physical = text.split("\n")
    escape = "\\"
    if physical and (m := _ESCAPE_DIRECTIVE.match(physical[0].strip())):
        if m.group(1) in ("\\", "`"):
            escape = m.group(1)
    out: list[_Line] = []
    pending = ""
    for raw in physical:
        stripped = raw.strip()
        if stripped.startswith("#"):
            continue  # comments, also between continued lines
        if not stripped and not pending:
            continue
        joined = pending + raw
        trimmed = joined.rstrip()
        if trimmed.endswith(escape):
            pending = trimmed[: -len(escape)]
            continue
        pending = ""
        if trimmed.strip():
            out.append(_split_command(joined))
    if pending.strip():
        out.append(_split_command(pending))
    return escape, out


def _split_command(original: str) -> _Line:
    parts = original.split(None, 1)
    rest = parts[1].strip() if len(parts) == 2 else ""
    try:
        flags, rest = _extract_flags(rest)
    except _ChangeError as e:
        raise InvalidChange(f"--change {original!r}: {e}") from None
    return _Line(text=original, command=parts[0].lower(), flags=flags, rest=rest)


def _extract_flags(rest: str) -> tuple[dict[str, str | None], str]:
    """Leading `--name=value` words, as BuildKit's parser takes them off every line."""
    flags: dict[str, str | None] = {}
    while rest.startswith("--"):
        word, *after = rest.split(None, 1)
        rest = after[0] if after else ""
        if word == "--":
            break
        name, eq, value = word[2:].partition("=")
        if name in flags:
            raise _ChangeError(f"Duplicate flag specified: {name}")
        flags[name] = value if eq else None
    return flags, rest


# ---- parsing instructions ------------------------------------------------------------

@dataclass
class _CmdLine:
    args: list[str] | None
    prepend_shell: bool


@dataclass
class _Parsed:
    cmd_line: _CmdLine | None = None
    pairs: list[tuple[str, str]] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    text: str = ""
    health: HealthConfig | None = None


def _parse(line: _Line, escape: str) -> _Parsed:
    allowed_flags = {"healthcheck": ("interval", "timeout", "start-period", "start-interval", "retries")}
    for name in line.flags:
        if name not in allowed_flags.get(line.command, ()):
            raise _ChangeError(f"Unknown flag: {name}")
    rest = line.rest
    cmd = line.command
    if cmd in ("cmd", "entrypoint"):
        args, is_json = _maybe_json(rest)
        if not is_json:
            args = [rest] if rest else []
        if cmd == "entrypoint" and not args:
            return _Parsed(cmd_line=_CmdLine(None, not is_json))
        return _Parsed(cmd_line=_CmdLine(args, not is_json))
    if cmd in ("env", "label"):
        return _Parsed(pairs=_name_values(rest, cmd.upper(), escape))
    if cmd == "expose":
        words = rest.split()
        if not words:
            raise _ChangeError("EXPOSE requires at least one argument")
        return _Parsed(words=words)
    if cmd == "volume":
        words, is_json = _maybe_json(rest)
        if not is_json:
            words = rest.split()
        if not words:
            raise _ChangeError("VOLUME requires at least one argument")
        for word in words:
            if not word.strip():
                raise _ChangeError("VOLUME specified can not be an empty string")
        return _Parsed(words=words)
    if cmd in ("user", "workdir", "stopsignal"):
        if not rest:
            raise _ChangeError(f"{cmd.upper()} requires exactly one argument")
        return _Parsed(text=rest)
    if cmd == "onbuild":
        return _Parsed(text=_onbuild_expression(line))
    return _Parsed(health=_healthcheck(line))


def _maybe_json(rest: str) -> tuple[list[str], bool]:
    """Exec form if `rest` is a JSON array of strings; shell form otherwise."""
    if not rest.startswith("["):
        return [], False
    try:
        value = json.loads(rest)
    except ValueError:
        return [], False
    if not isinstance(value, list):
        return [], False
    if not all(isinstance(item, str) for item in value):
        raise _ChangeError("when using JSON array syntax, arrays must be comprised of strings only")
    return value, True


def _parse_words(rest: str, escape: str) -> list[str]:
    """Whitespace-separated words, quotes and escapes kept for the later expansion."""
    words: list[str] = []
    word = ""
    quote = ""
    in_word = False
    blank_ok = False
    i = 0
    while i < len(rest):
        ch = rest[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'" and i + 1 < len(rest):
                word += ch
                i += 1
                ch = rest[i]
            word += ch
        elif ch.isspace():
            if in_word and (word or blank_ok):
                words.append(word)
            word, in_word, blank_ok = "", False, False
        else:
            in_word = True
            if ch in "'\"":
                quote = ch
                blank_ok = True
            elif ch == escape and i + 1 < len(rest):
                word += ch
                i += 1
                ch = rest[i]
            word += ch
        i += 1
    if in_word and (word or blank_ok):
        words.append(word)
    return words


def _name_values(rest: str, instruction: str, escape: str) -> list[tuple[str, str]]:
    words = _parse_words(rest, escape)
    if not words:
        raise _ChangeError(f"{instruction} requires at least one argument")
    if "=" not in words[0]:
        # The legacy form `ENV name value with spaces`.
        parts = rest.split(None, 1)
        if len(parts) < 2:
            raise _ChangeError(f"{instruction} must have two arguments")
        pairs = [(parts[0], parts[1])]
    else:
        pairs = []
        for word in words:
            if "=" not in word:
                raise _ChangeError(
                    f'Syntax error - can\'t find = in "{word}". Must be of the form: name=value'
                )
            key, _, value = word.partition("=")
            pairs.append((key, value))
    if instruction == "ENV":
        for key, _ in pairs:
            if not key:
                raise _ChangeError("ENV names can not be blank")
    return pairs


def _onbuild_expression(line: _Line) -> str:
    trigger = line.rest.split(None, 1)[0].upper() if line.rest else ""
    if not trigger:
        raise _ChangeError("ONBUILD requires at least one argument")
    if trigger == "ONBUILD":
        raise _ChangeError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise _ChangeError(f"{trigger} isn't allowed as an ONBUILD trigger")
    if trigger.lower() not in _DOCKERFILE_INSTRUCTIONS:
        raise _ChangeError(f"unknown instruction: {trigger}")
    # Docker keeps the trigger's text as written, trailing blanks included.
    return re.sub(r"(?i)^\s*ONBUILD\s*", "", line.text)


def _healthcheck(line: _Line) -> HealthConfig:
    parts = line.rest.split(None, 1)
    if not parts:
        raise _ChangeError("HEALTHCHECK requires at least one argument")
    kind = parts[0].upper()
    rest = parts[1] if len(parts) == 2 else ""
    if kind == "NONE":
        if rest:
            raise _ChangeError("HEALTHCHECK NONE takes no arguments")
        return HealthConfig(test=["NONE"])
    if kind != "CMD":
        raise _ChangeError(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    for name, value in line.flags.items():
        if value is None:
            raise _ChangeError(f"Missing a value on flag: {name}")
    args, is_json = _maybe_json(rest)
    if not is_json:
        args = [rest] if rest else []
    if not args:
        raise _ChangeError("Missing command after HEALTHCHECK CMD")
    health = HealthConfig(test=["CMD" if is_json else "CMD-SHELL", *args])
    for flag, attr in (
        ("interval", "interval"),
        ("timeout", "timeout"),
        ("start-period", "start_period"),
        ("start-interval", "start_interval"),
    ):
        setattr(health, attr, _interval(flag, line.flags.get(flag) or ""))
    retries = line.flags.get("retries") or ""
    if retries:
        if not re.fullmatch(r"[+-]?[0-9]+", retries) or not -(2**31) <= int(retries) < 2**31:
            raise _ChangeError(f'strconv.ParseInt: parsing "{retries}": invalid syntax')
        if int(retries) < 0:
            raise _ChangeError(f"--retries cannot be negative ({int(retries)})")
        health.retries = int(retries)
    return health


def _interval(flag: str, value: str) -> int:
    if not value:
        return 0
    duration = parse_duration(value)
    if duration == 0:
        return 0
    if duration < MINIMUM_DURATION_NS:
        raise _ChangeError(f'Interval "{flag}" cannot be less than 1ms')
    return duration


_DURATION_UNITS = {
    "ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
    "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds: `1h30m`, `1.5s`, `300ms`."""
    sign = -1 if text.startswith("-") else 1
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0
    total = 0
    pos = 0
    while pos < len(body) or pos == 0:
        m = _DURATION_PART.match(body, pos)
        if not m or not (m.group(1) or m.group(2)):
            raise _ChangeError(f'time: invalid duration "{text}"')
        unit = _DURATION_UNITS[m.group(3)]
        fraction = m.group(2) or ""
        total += int(m.group(1) or 0) * unit
        if fraction:
            total += int(fraction) * unit // 10 ** len(fraction)
        pos = m.end()
    return sign * total


# ---- variable expansion --------------------------------------------------------------

class _Expander:
    """The part of BuildKit's shell lexer a change needs: quotes, escapes, `$VAR`."""

    def __init__(self, env: list[str], escape: str):
        self.env: dict[str, str] = {}
        for entry in env:
            key, _, value = entry.partition("=")
            self.env[key] = value
        self.escape = escape

    def word(self, text: str) -> str:
        return "".join(self._process(text, split=False)[0])

    def words(self, text: str) -> list[str]:
        return self._process(text, split=True)[0]

    def _process(self, text: str, *, split: bool, stop: str = "") -> tuple[list[str], int]:
        words: list[str] = []
        current = ""
        started = False
        i = 0
        while i < len(text):
            ch = text[i]
            if stop and ch == stop:
                break
            if ch == self.escape:
                i += 1
                if i < len(text):
                    current += text[i]
                    started = True
                i += 1
            elif ch == "'":
                end = text.find("'", i + 1)
                if end < 0:
                    raise _ChangeError("unexpected end of statement while looking for matching single-quote")
                current += text[i + 1 : end]
                started = True
                i = end + 1
            elif ch == '"':
                value, i = self._double_quoted(text, i + 1)
                current += value
                started = True
            elif ch == "$":
                value, i = self._dollar(text, i + 1)
                if split:
                    pieces = value.split()
                    if pieces and value[:1].isspace() and started:
                        words.append(current)
                        current, started = "", False
                    for piece in pieces[:-1]:
                        words.append(current + piece)
                        current = ""
                    if pieces:
                        current += pieces[-1]
                        started = True
                        if value[-1:].isspace():
                            words.append(current)
                            current, started = "", False
                else:
                    current += value
                    started = started or bool(value)
            elif split and ch.isspace():
                if started:
                    words.append(current)
                current, started = "", False
                i += 1
            else:
                current += ch
                started = True
                i += 1
        if started or (not split and current):
            words.append(current)
        return words, i

    def _double_quoted(self, text: str, i: int) -> tuple[str, int]:
        out = ""
        while i < len(text):
            ch = text[i]
            if ch == '"':
                return out, i + 1
            if ch == "$":
                value, i = self._dollar(text, i + 1)
                out += value
                continue
            if ch == self.escape and i + 1 < len(text) and text[i + 1] in ('"', "$", self.escape):
                i += 1
                ch = text[i]
            out += ch
            i += 1
        raise _ChangeError("unexpected end of statement while looking for matching double-quote")

    def _name(self, text: str, i: int) -> str:
        """BuildKit's processName: digits, one special parameter, or a word."""
        m = _DIGITS.match(text, i) or _SPECIAL_PARAM.match(text, i) or _NAME.match(text, i)
        return m.group(0) if m else ""

    def _dollar(self, text: str, i: int) -> tuple[str, int]:
        """Expand what follows a `$` at `i`; return the value and the index after it."""
        if i < len(text) and text[i] == "{":
            return self._braced(text, i + 1)
        name = self._name(text, i)
        if not name:
            return "$", i
        return self.env.get(name, ""), i + len(name)

    def _braced(self, text: str, i: int) -> tuple[str, int]:
        if i >= len(text):
            raise _ChangeError("syntax error: missing '}'")
        if text[i] in "{}:":
            raise _ChangeError("syntax error: bad substitution")
        name = self._name(text, i)
        i += len(name)
        if i >= len(text):
            raise _ChangeError("syntax error: missing '}'")
        if text[i] == "}":
            return self.env.get(name, ""), i + 1
        colon = text[i] == ":"
        modifier = text[i + 1 : i + 2] if colon else text[i]
        if modifier not in ("-", "+", "?"):
            if not colon and modifier not in ("#", "%", "/"):
                raise _ChangeError("missing ':' in substitution")
            raise _ChangeError(f"unsupported modifier ({modifier}) in substitution")
        start = i + (2 if colon else 1)
        word_list, end = self._process(text[start:], split=False, stop="}")
        end += start
        if end >= len(text):
            raise _ChangeError("syntax error: missing '}'")
        word = "".join(word_list)
        value = self.env.get(name)
        # With a colon an empty value counts as unset, as in the shell.
        present = value is not None and (bool(value) or not colon)
        if modifier == "-":
            result = value if present else word
        elif modifier == "+":
            result = word if present else ""
        elif value is None:
            raise _ChangeError(f"{name}: {word or 'is not allowed to be unset'}")
        elif not present:
            raise _ChangeError(f"{name}: {word or 'is not allowed to be empty'}")
        else:
            result = value
        return result or "", end + 1


_DIGITS = re.compile(r"[0-9]+")
_SPECIAL_PARAM = re.compile(r"[@*#?\-$!0]")
_NAME = re.compile(r"[^\W\d]\w*")


# ---- applying ------------------------------------------------------------------------

_SIGNALS = {
    "ABRT": 6, "ALRM": 14, "BUS": 7, "CHLD": 17, "CLD": 17, "CONT": 18, "FPE": 8,
    "HUP": 1, "ILL": 4, "INT": 2, "IO": 29, "IOT": 6, "KILL": 9, "PIPE": 13, "POLL": 29,
    "PROF": 27, "PWR": 30, "QUIT": 3, "SEGV": 11, "STKFLT": 16, "STOP": 19, "SYS": 31,
    "TERM": 15, "TRAP": 5, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "USR1": 10,
    "USR2": 12, "VTALRM": 26, "WINCH": 28, "XCPU": 24, "XFSZ": 25,
    "RTMIN": 34, "RTMAX": 64,
    **{f"RTMIN+{n}": 34 + n for n in range(1, 16)},
    **{f"RTMAX-{n}": 64 - n for n in range(1, 15)},
}


def _check_signal(raw: str) -> None:
    """moby's signal.ParseSignal: a number, or a Linux name with or without SIG."""
    if re.fullmatch(r"[+-]?[0-9]+", raw):
        if int(raw) == 0 or not -(2**63) <= int(raw) < 2**63:
            raise _ChangeError(f"Invalid signal: {raw}")
        return
    name = raw.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name not in _SIGNALS:
        raise _ChangeError(f"Invalid signal: {raw}")


def _port_range(text: str) -> tuple[int, int] | None:
    start, dash, end = text.partition("-")
    if not re.fullmatch(r"[0-9]+", start) or (dash and not re.fullmatch(r"[0-9]+", end)):
        return None
    low, high = int(start), int(end) if dash else int(start)
    if high > 65535 or low > high:
        return None
    return low, high


def _port_spec(raw: str) -> list[str]:
    """go-connections nat.ParsePortSpec: `[ip:][hostPort:]containerPort[/proto]`, of
    which an image keeps the container ports (`80/tcp`)."""
    parts = raw.split(":")
    if len(parts) == 1:
        ip, host, container = "", "", parts[0]
    elif len(parts) == 2:
        ip, host, container = "", parts[0], parts[1]
    else:
        ip, host, container = ":".join(parts[:-2]), parts[-2], parts[-1]
    container, _, proto = container.partition("/")
    if not container:
        raise _ChangeError(f"no port specified: {raw}<empty>")
    proto = proto.lower() or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise _ChangeError(f"invalid proto: {proto}")
    if ip:
        import ipaddress

        try:
            ipaddress.ip_address(ip[1:-1] if ip.startswith("[") and ip.endswith("]") else ip)
        except ValueError:
            raise _ChangeError(f"invalid IP address: {ip}") from None
    ports = _port_range(container)
    if ports is None:
        raise _ChangeError(f"invalid containerPort: {container}")
    if host:
        host_ports = _port_range(host)
        if host_ports is None:
            raise _ChangeError(f"invalid hostPort: {host}")
        if ports[1] - ports[0] != host_ports[1] - host_ports[0] and ports[0] != ports[1]:
            raise _ChangeError(
                f"invalid ranges specified for container and host Ports: {container} and {host}"
            )
    return [f"{port}/{proto}" for port in range(ports[0], ports[1] + 1)]


def _clean_path(path: str) -> str:
    """Go's path.Clean for an absolute path."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


class _State:
    def __init__(self, config: ContainerConfig, escape: str):
        self.config = config
        self.escape = escape
        self.cmd_set = False  # a CMD with arguments came first: ENTRYPOINT keeps it

    def _expander(self) -> _Expander:
        return _Expander(self.config.env or [], self.escape)

    def _resolve(self, cmd_line: _CmdLine) -> list[str] | None:
        if cmd_line.args is None:
            return None
        if cmd_line.prepend_shell:
            return list(self.config.shell or DEFAULT_SHELL) + cmd_line.args
        return list(cmd_line.args)

    def dispatch(self, command: str, parsed: _Parsed) -> None:
        c = self.config
        if command == "cmd":
            assert parsed.cmd_line is not None
            c.cmd = self._resolve(parsed.cmd_line)
            c.args_escaped = None
            if parsed.cmd_line.args:
                self.cmd_set = True
        elif command == "entrypoint":
            assert parsed.cmd_line is not None
            c.entrypoint = self._resolve(parsed.cmd_line)
            c.args_escaped = None
            if not self.cmd_set:
                c.cmd = None
        elif command == "env":
            expand = self._expander()
            pairs = [(expand.word(k), expand.word(v)) for k, v in parsed.pairs]
            for key, value in pairs:
                c.set_env(key, value)
        elif command == "label":
            expand = self._expander()
            labels = c.labels if c.labels is not None else {}
            for key, value in parsed.pairs:
                labels[expand.word(key)] = expand.word(value)
            c.labels = labels
        elif command == "expose":
            expand = self._expander()
            ports = c.exposed_ports if c.exposed_ports is not None else {}
            for word in parsed.words:
                for spec in expand.words(word):
                    for port in _port_spec(spec):
                        ports[port] = {}
            c.exposed_ports = ports
        elif command == "volume":
            expand = self._expander()
            volumes = c.volumes if c.volumes is not None else {}
            for word in parsed.words:
                path = expand.word(word)
                if not path:
                    raise _ChangeError("VOLUME specified can not be an empty string")
                volumes[path] = {}
            c.volumes = volumes
        elif command == "user":
            c.user = self._expander().word(parsed.text)
        elif command == "workdir":
            requested = self._expander().word(parsed.text)
            if not requested:
                raise _ChangeError("cannot normalize nothing")
            if not requested.startswith("/"):
                requested = f"/{c.working_dir or ''}/{requested}"
            c.working_dir = _clean_path(requested)
        elif command == "stopsignal":
            signal = self._expander().word(parsed.text)
            _check_signal(signal)
            c.stop_signal = signal
        elif command == "onbuild":
            c.on_build = [*(c.on_build or []), parsed.text]
        elif command == "healthcheck":
            c.healthcheck = parsed.health
