"""The server's settings: built-in defaults, then a TOML file (`--config FILE`), then
`PYBUILD_REGISTRY_*` environment variables, then command-line flags, each overriding the
one before. A file looks like this (every key optional):

    addr = "127.0.0.1:5000"
    root = "/srv/registry"
    workers = 4
    shutdown_timeout = 10        # seconds in-flight requests get after SIGTERM

    [tls]
    cert = "/etc/registry/cert.pem"
    key = "/etc/registry/key.pem"
    self_signed = false          # true: make (once) a certificate for 127.0.0.1/localhost

    [log]
    access = "-"                 # access log: "-" for stderr, a file path, or "" (off)

    [gc]
    interval = 0                 # minutes between online collections; 0: never
    grace = 60                   # minutes during which new blobs are kept
    upload_ttl = 24              # hours after which an untouched upload is removed
    delete_untagged = false

    [auth]                       # read by registry_server/auth.py (AuthConfig)

Environment variables name the key, with the table as a prefix:
`PYBUILD_REGISTRY_ADDR`, `PYBUILD_REGISTRY_WORKERS`, `PYBUILD_REGISTRY_TLS_SELF_SIGNED`,
`PYBUILD_REGISTRY_LOG_ACCESS`, `PYBUILD_REGISTRY_GC_INTERVAL`; `PYBUILD_REGISTRY_AUTH_*`
are applied by AuthConfig.from_env over the `[auth]` table."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from oci.errors import UserError

ENV_PREFIX = "PYBUILD_REGISTRY_"


class BadConfig(UserError):
    """A configuration file or variable the server cannot use."""


@dataclass(frozen=True)
class TlsConfig:
    cert: Path | None = None
    key: Path | None = None
    self_signed: bool = False

    @property
    def enabled(self) -> bool:
        return self.self_signed or self.cert is not None


@dataclass(frozen=True)
class LogConfig:
    access: str = ""


@dataclass(frozen=True)
class GcConfig:
    interval: float = 0.0
    grace: float = 60.0
    upload_ttl: float = 24.0
    delete_untagged: bool = False


@dataclass(frozen=True)
class ServerConfig:
    addr: str = "127.0.0.1:5000"
    root: Path | None = None
    workers: int | None = None
    shutdown_timeout: float = 10.0
    tls: TlsConfig = field(default_factory=TlsConfig)
    log: LogConfig = field(default_factory=LogConfig)
    gc: GcConfig = field(default_factory=GcConfig)
    # The `[auth]` table as written; auth.py validates it.
    auth: Mapping[str, Any] = field(default_factory=dict)


_TABLES = {"tls": TlsConfig, "log": LogConfig, "gc": GcConfig}


def _convert(value: Any, annotation: str, where: str) -> Any:
    """A TOML or environment value as the type a field declares."""
    try:
        if annotation == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError
        if "Path" in annotation:
            return Path(value) if value not in (None, "") else None
        if annotation.startswith("int"):
            if isinstance(value, bool):
                raise ValueError
            number = int(value)
            if number < 1:
                raise ValueError
            return number
        if annotation == "float":
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if number < 0:
                raise ValueError
            return number
        if annotation == "str":
            if not isinstance(value, str):
                raise ValueError
            return value
    except (TypeError, ValueError):
        pass
    raise BadConfig(f"{where} = {value!r}: expected {annotation.replace(' | None', '')}"
                    f"{' (positive)' if annotation.startswith('int') else ''}")


def _apply(obj: Any, values: Mapping[str, Any], source: str, table: str = "") -> Any:
    known = {f.name: f for f in fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        where = f"{source}: {table + '.' if table else ''}{key}"
        spec = known.get(key)
        if spec is None or key == "auth":
            raise BadConfig(f"{where}: unknown setting")
        if key in _TABLES:
            if not isinstance(value, Mapping):
                raise BadConfig(f"{where}: expected a table [{key}]")
            changes[key] = _apply(getattr(obj, key), value, source, key)
        else:
            changes[key] = _convert(value, str(spec.type), where)
    return replace(obj, **changes)


def load_file(path: Path) -> ServerConfig:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise BadConfig(f"{path}: cannot read the configuration: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadConfig(f"{path}: {exc}") from None
    auth = data.pop("auth", {})
    if not isinstance(auth, Mapping):
        raise BadConfig(f"{path}: auth: expected a table [auth]")
    config = _apply(ServerConfig(), data, str(path))
    return replace(config, auth=dict(auth))


def _from_env(config: ServerConfig, environ: Mapping[str, str]) -> ServerConfig:
    values: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX):].lower()
        table, _, rest = key.partition("_")
        if table == "auth":
            continue
        if table in _TABLES and rest:
            tables.setdefault(table, {})[rest] = value
        elif key in {f.name for f in fields(ServerConfig)} and key not in _TABLES:
            values[key] = value
        else:
            raise BadConfig(f"environment: {name}: unknown setting")
    return _apply(config, {**values, **tables}, "environment")


def load(path: Path | None = None, environ: Mapping[str, str] = os.environ,
         **flags: Any) -> ServerConfig:
    """The settings from `path` (if given), the environment and `flags` (None: not given)."""
    config = load_file(path) if path is not None else ServerConfig()
    config = _from_env(config, environ)
    tls_flags = {k.removeprefix("tls_"): v for k, v in flags.items() if k.startswith("tls_")}
    top = {k: v for k, v in flags.items() if not k.startswith("tls_")}
    tls = replace(config.tls, **{k: v for k, v in tls_flags.items() if v not in (None, False)})
    if "gc_interval" in top:
        interval = top.pop("gc_interval")
        if interval is not None:
            config = replace(config, gc=replace(config.gc, interval=interval))
    if "access_log" in top:
        access = top.pop("access_log")
        if access is not None:
            config = replace(config, log=replace(config.log, access=access))
    config = replace(config, tls=tls, **{k: v for k, v in top.items() if v is not None})
    return check(config)


def check(config: ServerConfig) -> ServerConfig:
    tls = config.tls
    if tls.self_signed and (tls.cert or tls.key):
        raise BadConfig("TLS: give either a certificate and key or self-signed, not both")
    if (tls.cert is None) != (tls.key is None):
        raise BadConfig("TLS: a certificate needs its key (--tls-cert with --tls-key)")
    return config
