"""Instruction flags (`--from=`, `--mount=`, ...): which instruction takes which, and the
checks on their values.

`parse_flags` is BuildKit's BFlags.Parse: unknown, duplicate and valueless flags are
errors with BuildKit's wording. The value checks are those BuildKit makes when it runs
the instruction; here they run at parse time on every value that has no `$` in it (a
value with a variable can only be checked once it is expanded, at plan time).
Errors are `FlagError`s; the parser adds the file and line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Literal

from builder.ast import Flag, Mount
from builder.suggest import did_you_mean

__all__ = ["FlagError", "FLAGS", "parse_flags", "bool_flag", "parse_duration",
           "check_interval", "parse_retries", "parse_mount", "check_chmod", "check_checksum",
           "check_network", "check_security"]

Kind = Literal["bool", "string", "strings"]

# instruction -> flag -> kind (BuildKit's AddBool / AddString / AddStrings)
FLAGS: dict[str, dict[str, Kind]] = {
    "FROM": {"platform": "string"},
    "RUN": {"mount": "strings", "network": "string", "security": "string"},
    "COPY": {"from": "string", "chown": "string", "chmod": "string", "link": "bool",
             "parents": "bool", "exclude": "strings"},
    "ADD": {"chown": "string", "chmod": "string", "link": "bool", "keep-git-dir": "bool",
            "checksum": "string", "unpack": "bool", "exclude": "strings"},
    "HEALTHCHECK": {"interval": "string", "timeout": "string", "start-period": "string",
                    "start-interval": "string", "retries": "string"},
}


class FlagError(ValueError):
    """A flag or flag value the instruction does not accept."""


def parse_flags(raw: Iterable[str], allowed: dict[str, Kind]) -> tuple[Flag, ...]:
    """`raw` are the flag words as the line splitter returns them (quotes removed, the
    leading `--` kept)."""
    flags: list[Flag] = []
    used: set[str] = set()
    for word in raw:
        name, eq, value = word[2:].partition("=")
        kind = allowed.get(name)
        if kind is None:
            raise FlagError(f"Unknown flag: {name}")
        if name in used and kind != "strings":
            raise FlagError(f"Duplicate flag specified: {name}")
        used.add(name)
        if kind == "bool":
            if eq and not value:
                raise FlagError(f"Missing a value on flag: {name}")
            if eq and value.lower() not in ("true", "false"):
                raise FlagError(f"Expecting boolean value for flag {name}, not: {value}")
            flags.append(Flag(name, value.lower() if eq else None))
        else:
            if not eq:
                raise FlagError(f"Missing a value on flag: {name}")
            flags.append(Flag(name, value))
    return tuple(flags)


def bool_flag(flags: tuple[Flag, ...], name: str) -> bool | None:
    """True/False when the flag is given (bare means true), None when absent."""
    value: bool | None = None
    for f in flags:
        if f.name == name:
            value = f.value in (None, "true")
    return value


_UNITS_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
             "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")
_MIN_DURATION_NS = 1_000_000


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds ("1m30s", "1.5h", "300ms", "0")."""
    s = text
    sign = 1
    if s[:1] in ("-", "+"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise FlagError(f'time: invalid duration "{text}"')
    total = 0
    pos = 0
    while pos < len(s):
        match = _DURATION_PART.match(s, pos)
        assert match is not None
        whole, frac, unit = match.group(1), match.group(2), match.group(3)
        if not whole and not frac:
            raise FlagError(f'time: invalid duration "{text}"')
        if not unit:
            raise FlagError(f'time: missing unit in duration "{text}"')
        if unit not in _UNITS_NS:
            raise FlagError(f'time: unknown unit "{unit}" in duration "{text}"')
        scale = _UNITS_NS[unit]
        total += int(whole or "0") * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
        pos = match.end()
    if total > (1 << 63) - 1:
        raise FlagError(f'time: invalid duration "{text}"')
    return sign * total


def check_interval(name: str, text: str) -> int:
    """A HEALTHCHECK duration: 0 (the default) or at least 1ms."""
    ns = parse_duration(text)
    if ns != 0 and ns < _MIN_DURATION_NS:
        raise FlagError(f'Interval "{name}" cannot be less than 1ms')
    return ns


def parse_retries(text: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise FlagError(f'strconv.ParseInt: parsing "{text}": invalid syntax')
    value = int(text)
    if not -(1 << 31) <= value < (1 << 31):
        raise FlagError(f'strconv.ParseInt: parsing "{text}": value out of range')
    if value < 0:
        raise FlagError(f"--retries cannot be negative ({value})")
    return value


_SYMBOLIC_MODE = re.compile(r"[ugoa]*(?:[-+=](?:[rwxXst]*|[ugo]))+(?:,[ugoa]*(?:[-+=](?:[rwxXst]*|[ugo]))+)*")


def check_chmod(value: str) -> None:
    if "$" in value:
        return
    if re.fullmatch(r"[0-7]+", value) and int(value, 8) <= 0o7777:
        return
    if _SYMBOLIC_MODE.fullmatch(value):
        return
    raise FlagError(f"invalid chmod parameter: {value}. it should be octal string and "
                    "between 0 and 07777")


_DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


def check_checksum(value: str) -> None:
    """`--checksum` is a digest (`sha256:<hex>`), or a commit for a Git source."""
    if "$" in value:
        return
    algorithm, colon, encoded = value.partition(":")
    if colon:
        if len(encoded) == _DIGEST_HEX_LENGTHS.get(algorithm) and re.fullmatch(r"[0-9a-f]+", encoded):
            return
    elif re.fullmatch(r"[0-9a-f]{7,64}", value):
        return
    raise FlagError(f"invalid checksum digest format: {value}")


def check_network(value: str) -> None:
    if "$" not in value and value not in ("default", "none", "host"):
        raise FlagError(f'invalid network mode "{value}"')


def check_security(value: str) -> None:
    if "$" not in value and value not in ("sandbox", "insecure"):
        raise FlagError(f'security "{value}" is not valid')


_MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_MOUNT_KEYS = {"type": "type", "from": "from", "source": "source", "src": "source",
               "target": "target", "dst": "target", "destination": "target",
               "readonly": "readonly", "ro": "readonly", "readwrite": "readwrite",
               "rw": "readwrite", "id": "id", "sharing": "sharing", "required": "required",
               "mode": "mode", "uid": "uid", "gid": "gid", "size": "size", "env": "env"}
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _go_bool(key: str, value: str) -> bool:
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    raise FlagError(f"invalid value for {key}: {value}")


def parse_mount(value: str) -> Mount:
    """`--mount=type=cache,target=/root/.cache,...` (a CSV record of key=value fields;
    `ro`, `rw` and `required` may stand alone)."""
    if '"' in value or "\r" in value or "\n" in value:
        try:
            rows = list(csv.reader([value], strict=True))
        except csv.Error as exc:
            raise FlagError(f"failed to parse csv mounts: {exc}") from None
        fields = rows[0] if rows else []
    else:
        # Without quotes or line breaks the CSV reader only splits at commas.
        fields = value.split(",") if value else []
    mount_type = "bind"
    options: dict[str, str | bool] = {}
    for item in fields:
        key, eq, val = item.partition("=")
        key = key.lower()
        if not eq:
            if key in ("readonly", "ro"):
                options["readonly"] = True
                continue
            if key in ("readwrite", "rw"):
                options["readonly"] = False
                continue
            if key == "required":
                if mount_type not in ("secret", "ssh"):
                    raise FlagError(f"unexpected key '{key}' for mount type '{mount_type}'")
                options["required"] = True
                continue
            raise FlagError(f"invalid field '{item}' must be a key=value pair")
        if key == "from" and re.search(r"\$.", val):
            raise FlagError(f"'{key}' doesn't support variable expansion, define alias stage instead")
        canonical = _MOUNT_KEYS.get(key)
        if canonical is None:
            raise FlagError(f"unexpected key '{key}' in '{item}'"
                            + did_you_mean(key, _MOUNT_KEYS, case_sensitive=True))
        if "$" in val:
            options[canonical] = val
            continue
        if canonical == "type":
            if val.lower() not in _MOUNT_TYPES:
                raise FlagError(f'unsupported mount type "{val}"'
                                + did_you_mean(val, _MOUNT_TYPES, case_sensitive=True))
            mount_type = val.lower()
        elif canonical == "readonly":
            options["readonly"] = _go_bool(key, val)
        elif canonical == "readwrite":
            options["readonly"] = not _go_bool(key, val)
        elif canonical == "required":
            if mount_type not in ("secret", "ssh"):
                raise FlagError(f"unexpected key '{key}' for mount type '{mount_type}'")
            options["required"] = _go_bool(key, val)
        elif canonical == "sharing":
            if val.lower() not in ("shared", "private", "locked"):
                raise FlagError(f'unsupported sharing value "{val}"')
            options["sharing"] = val.lower()
        elif canonical == "mode":
            if not re.fullmatch(r"[0-7]+", val) or int(val, 8) >= 1 << 32:
                raise FlagError(f"invalid value {val} for mode")
            options["mode"] = val
        elif canonical in ("uid", "gid"):
            if not re.fullmatch(r"[0-9]+", val) or int(val) >= 1 << 32:
                raise FlagError(f"invalid value {val} for {canonical}")
            options[canonical] = val
        else:
            options[canonical] = val
    if "type" in options:
        mount_type = str(options.pop("type"))
    _check_mount(mount_type, options)
    return Mount(mount_type, tuple(options.items()))


def _check_mount(mount_type: str, options: dict[str, str | bool]) -> None:
    file_info = mount_type in ("secret", "ssh", "cache")
    for key in ("mode", "uid", "gid"):
        if key in options and not file_info:
            raise FlagError(f'{key} not allowed for "{mount_type}" type mounts')
    if "size" in options and mount_type != "tmpfs":
        raise FlagError(f'size not allowed for "{mount_type}" type mounts')
    if "sharing" in options and mount_type != "cache":
        raise FlagError(f"invalid cache sharing set for {mount_type} mount")
    if mount_type == "secret":
        if "from" in options:
            raise FlagError("secret mount should not have a from")
        if not any(k in options for k in ("source", "target", "id", "env")):
            raise FlagError("invalid secret mount. one of source, target required")
        if "source" in options and "id" in options:
            raise FlagError("both source and id can't be set")
