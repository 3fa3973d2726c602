"""The image config (OCI image-spec config.md) with Docker's extensions.

Field names follow Python; the JSON keys are the spec's (`created_by`, `diff_ids`) and
Docker's Go names inside `config` (`Env`, `Healthcheck`, `OnBuild`, ...). Keys this model
does not know (Docker's `container_config`, `Hostname`, vendor keys) are kept in `extra`
and written back, so reading and writing a config loses nothing. `None` means "absent";
Docker writes some absent lists as `null`, which reads back the same.

Healthcheck durations are integers in nanoseconds, as Docker stores them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Sequence, TypeVar

from oci.digest import is_digest
from oci.errors import InvalidImageConfig
from oci.manifest import canonical_json


def _check(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    wrong_bool = isinstance(value, bool) and kind is int
    if wrong_bool or not isinstance(value, kind):
        shown = json.dumps(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise InvalidImageConfig(f"image config {where or 'document'}: unexpected value {shown}")
    return value


def _path(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _opt(d: dict, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = d.get(key)
    return None if value is None else _check(value, kind, _path(where, key))


def _opt_strings(d: dict, key: str, where: str) -> list[str] | None:
    value = _opt(d, key, list, where)
    if value is not None:
        for i, item in enumerate(value):
            _check(item, str, f"{_path(where, key)}[{i}]")
        return list(value)
    return None


def _opt_string_map(d: dict, key: str, where: str) -> dict[str, str] | None:
    value = _opt(d, key, dict, where)
    if value is not None:
        for k, v in value.items():
            _check(v, str, f"{_path(where, key)}[{k!r}]")
        return dict(value)
    return None


def _opt_set(d: dict, key: str, where: str) -> dict[str, dict] | None:
    """Go's `map[string]struct{}` (ExposedPorts, Volumes): keys matter, values are {}."""
    value = _opt(d, key, dict, where)
    return None if value is None else {k: {} for k in value}


@dataclass
class HealthConfig:
    test: list[str] | None = None
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    _KEYS = (
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start_period", "StartPeriod"),
        ("start_interval", "StartInterval"),
        ("retries", "Retries"),
    )

    def to_dict(self) -> dict[str, Any]:
        # Docker's HealthConfig fields are all `omitempty`.
        out: dict[str, Any] = {}
        if self.test:
            out["Test"] = list(self.test)
        for attr, key in self._KEYS:
            if getattr(self, attr):
                out[key] = getattr(self, attr)
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "config.Healthcheck") -> HealthConfig:
        _check(d, dict, where)
        values = {attr: _opt(d, key, int, where) or 0 for attr, key in cls._KEYS}
        return cls(test=_opt_strings(d, "Test", where), **values)


_CONTAINER_KEYS = {
    "user": "User",
    "exposed_ports": "ExposedPorts",
    "env": "Env",
    "entrypoint": "Entrypoint",
    "cmd": "Cmd",
    "volumes": "Volumes",
    "working_dir": "WorkingDir",
    "labels": "Labels",
    "stop_signal": "StopSignal",
    "args_escaped": "ArgsEscaped",
    "healthcheck": "Healthcheck",
    "on_build": "OnBuild",
    "shell": "Shell",
}


@dataclass
class ContainerConfig:
    """The `config` object: what a container of this image runs with by default."""

    user: str | None = None
    exposed_ports: dict[str, dict] | None = None
    env: list[str] | None = None
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    volumes: dict[str, dict] | None = None
    working_dir: str | None = None
    labels: dict[str, str] | None = None
    stop_signal: str | None = None
    args_escaped: bool | None = None
    healthcheck: HealthConfig | None = None
    on_build: list[str] | None = None
    shell: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def get_env(self, name: str) -> str | None:
        for entry in self.env or ():
            key, _, value = entry.partition("=")
            if key == name:
                return value
        return None

    def set_env(self, name: str, value: str) -> None:
        """Replace the first entry of `name` in place, or append: Docker's ENV order."""
        entry = f"{name}={value}"
        env = self.env if self.env is not None else []
        for i, existing in enumerate(env):
            if existing.partition("=")[0] == name:
                env[i] = entry
                break
        else:
            env.append(entry)
        self.env = env

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.extra)
        for attr, key in _CONTAINER_KEYS.items():
            value = getattr(self, attr)
            if value is None:
                continue
            if attr == "healthcheck":
                value = value.to_dict()
            elif attr == "args_escaped" and not value:
                continue  # `omitempty` in Docker's struct
            elif isinstance(value, (list, dict)):
                value = type(value)(value)
            out[key] = value
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "config") -> ContainerConfig:
        _check(d, dict, where)
        health = d.get("Healthcheck")
        known = set(_CONTAINER_KEYS.values())
        return cls(
            user=_opt(d, "User", str, where),
            exposed_ports=_opt_set(d, "ExposedPorts", where),
            env=_opt_strings(d, "Env", where),
            entrypoint=_opt_strings(d, "Entrypoint", where),
            cmd=_opt_strings(d, "Cmd", where),
            volumes=_opt_set(d, "Volumes", where),
            working_dir=_opt(d, "WorkingDir", str, where),
            labels=_opt_string_map(d, "Labels", where),
            stop_signal=_opt(d, "StopSignal", str, where),
            args_escaped=_opt(d, "ArgsEscaped", bool, where),
            healthcheck=None if health is None else HealthConfig.from_dict(health, f"{where}.Healthcheck"),
            on_build=_opt_strings(d, "OnBuild", where),
            shell=_opt_strings(d, "Shell", where),
            extra={k: v for k, v in d.items() if k not in known},
        )


@dataclass
class HistoryEntry:
    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("created", "created_by", "author", "comment"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.empty_layer:
            out["empty_layer"] = True
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str) -> HistoryEntry:
        _check(d, dict, where)
        return cls(
            created=_opt(d, "created", str, where),
            created_by=_opt(d, "created_by", str, where),
            author=_opt(d, "author", str, where),
            comment=_opt(d, "comment", str, where),
            empty_layer=bool(_opt(d, "empty_layer", bool, where)),
        )


_IMAGE_KEYS = (
    "created", "author", "architecture", "os", "os.version", "os.features", "variant",
    "config", "rootfs", "history",
)


@dataclass
class ImageConfig:
    architecture: str = ""
    os: str = ""
    created: str | None = None  # RFC 3339, kept as the text it was
    author: str | None = None
    variant: str | None = None
    os_version: str | None = None
    os_features: list[str] | None = None
    config: ContainerConfig = field(default_factory=ContainerConfig)
    diff_ids: list[str] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def chain_ids(self) -> list[str]:
        return chain_ids(self.diff_ids)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.extra)
        if self.created is not None:
            out["created"] = self.created
        if self.author is not None:
            out["author"] = self.author
        out["architecture"] = self.architecture
        out["os"] = self.os
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        container = self.config.to_dict()
        if container:
            out["config"] = container
        out["rootfs"] = {"type": "layers", "diff_ids": list(self.diff_ids)}
        if self.history:
            out["history"] = [h.to_dict() for h in self.history]
        return out

    def to_json(self) -> bytes:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, d: Any) -> ImageConfig:
        _check(d, dict, "")
        rootfs = d.get("rootfs")
        if rootfs is None:
            # Docker refuses these too ("invalid image JSON, no RootFS key").
            raise InvalidImageConfig("image config has no rootfs")
        _check(rootfs, dict, "rootfs")
        if rootfs.get("type") != "layers":
            raise InvalidImageConfig(f"image config rootfs.type: expected \"layers\", got {rootfs.get('type')!r}")
        diff_ids = _opt_strings(rootfs, "diff_ids", "rootfs") or []
        for i, diff_id in enumerate(diff_ids):
            if not is_digest(diff_id):
                raise InvalidImageConfig(f"image config rootfs.diff_ids[{i}]: {diff_id!r} is not a digest")
        history = _opt(d, "history", list, "") or []
        container = d.get("config")
        return cls(
            architecture=_opt(d, "architecture", str, "") or "",
            os=_opt(d, "os", str, "") or "",
            created=_opt(d, "created", str, ""),
            author=_opt(d, "author", str, ""),
            variant=_opt(d, "variant", str, ""),
            os_version=_opt(d, "os.version", str, ""),
            os_features=_opt_strings(d, "os.features", ""),
            config=ContainerConfig() if container is None else ContainerConfig.from_dict(container),
            diff_ids=diff_ids,
            history=[HistoryEntry.from_dict(h, f"history[{i}]") for i, h in enumerate(history)],
            extra={k: v for k, v in d.items() if k not in _IMAGE_KEYS},
        )

    @classmethod
    def from_json(cls, data: bytes) -> ImageConfig:
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, ValueError) as e:
            raise InvalidImageConfig(f"image config is not valid JSON: {e}") from None
        return cls.from_dict(doc)


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    out: list[str] = []
    for diff_id in diff_ids:
        if out:
            chained = hashlib.sha256(f"{out[-1]} {diff_id}".encode()).hexdigest()
            out.append("sha256:" + chained)
        else:
            out.append(diff_id)
    return out


ConfigT = TypeVar("ConfigT", ImageConfig, ContainerConfig)


def apply_change(config: ConfigT, line: str) -> ConfigT:
    """One `docker import/commit --change` line applied; see `apply_changes`."""
    return apply_changes(config, [line])


def apply_changes(config: ConfigT, lines: Sequence[str]) -> ConfigT:
    """A copy of `config` with the `--change` lines applied as dockerd applies them."""
    from oci.changes import apply_changes as apply

    return apply(config, lines)
