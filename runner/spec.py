"""What to run and how: plain data handed from the caller to the container init."""

from dataclasses import asdict, dataclass, field

from oci.errors import UserError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class InvalidRunSpec(UserError):
    """A run request that cannot be satisfied: bad mount, unknown network, bad limit."""

    exit_code = 125


def parse_size(text: str) -> int:
    """Docker's memory sizes: `256m`, `1g`, `512k`, `1048576` (binary units)."""
    value = text.strip().lower()
    if value.endswith("b") and len(value) > 1 and value[-2] in _SIZE_UNITS:
        value = value[:-1]
    unit = value[-1] if value and value[-1].isalpha() else ""
    number = value[: len(value) - len(unit)]
    if unit not in _SIZE_UNITS or not number.replace(".", "", 1).isdigit():
        raise InvalidRunSpec(f"invalid size: {text!r} (expected e.g. 256m, 1g, 512k)")
    return int(float(number) * _SIZE_UNITS[unit])


@dataclass(frozen=True)
class Mount:
    """A bind mount of a host path or a fresh tmpfs at `target` inside the container."""

    target: str
    type: str = "bind"  # "bind" | "tmpfs"
    source: str = ""
    readonly: bool = False
    options: str = ""  # tmpfs mount data, e.g. "size=64m,mode=1777"


@dataclass(frozen=True)
class Limits:
    memory: int | None = None  # bytes; swap is not allowed on top of it
    pids: int | None = None
    cpus: float | None = None  # CFS quota in CPUs
    rlimits: dict[str, tuple[int, int]] = field(default_factory=dict)  # "nofile": (soft, hard)


@dataclass
class RunSpec:
    """One container run. `layers` are read-only directories, bottom layer first (the
    order of an image's rootfs.diff_ids); the root is an overlay of them plus a fresh
    upper dir under `scratch`."""

    layers: list[str]
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "/"
    user: str = ""
    hostname: str = ""
    network: str = "host"  # "host" | "none" | path of a network namespace file
    mounts: list[Mount] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    scratch: str | None = None  # dir for upper/work; a temp dir when None
    keep_upper: bool = False
    extra_hosts: dict[str, str] = field(default_factory=dict)  # name -> address

    def to_dict(self) -> dict:
        return asdict(self)
