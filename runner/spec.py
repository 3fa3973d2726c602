"""What to run and how: plain data handed from the caller to the container init."""

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


class Record:
    """The repr, equality and `to_dict` a dataclass would have. These are plain classes
    because importing dataclasses (it imports inspect, ast, dis, tokenize) costs ~8 ms of
    every `pybuild run`; runner/users.py does the same for the init."""

    __slots__ = ()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __hash__(self) -> int:  # a TypeError for a record holding a list or a dict, as before
        return hash(tuple(getattr(self, name) for name in self.__slots__))

    def to_dict(self) -> dict:
        def plain(value):
            if isinstance(value, Record):
                return value.to_dict()
            if isinstance(value, list):
                return [plain(v) for v in value]
            return value

        return {name: plain(getattr(self, name)) for name in self.__slots__}


class Mount(Record):
    """A bind mount of a host path or a fresh tmpfs at `target` inside the container."""

    __slots__ = ("target", "type", "source", "readonly", "options")

    def __init__(self, target: str, type: str = "bind", source: str = "", readonly: bool = False,
                 options: str = "") -> None:
        self.target = target
        self.type = type  # "bind" | "tmpfs"
        self.source = source
        self.readonly = readonly
        self.options = options  # tmpfs mount data, e.g. "size=64m,mode=1777"


class Limits(Record):
    __slots__ = ("memory", "pids", "cpus", "rlimits")

    def __init__(self, memory: int | None = None, pids: int | None = None, cpus: float | None = None,
                 rlimits: dict[str, tuple[int, int]] | None = None) -> None:
        self.memory = memory  # bytes; swap is not allowed on top of it
        self.pids = pids
        self.cpus = cpus  # CFS quota in CPUs
        self.rlimits = {} if rlimits is None else rlimits  # "nofile": (soft, hard)


class RunSpec(Record):
    """One container run. `layers` are read-only directories, bottom layer first (the
    order of an image's rootfs.diff_ids); the root is an overlay of them plus a fresh
    upper dir under `scratch`."""

    __slots__ = ("layers", "argv", "env", "cwd", "user", "hostname", "network", "mounts", "limits", "scratch",
                 "keep_upper", "extra_hosts")
    __hash__ = None  # it is changed in place (a dataclass without frozen=True)

    def __init__(self, layers: list[str], argv: list[str], env: dict[str, str] | None = None, cwd: str = "/",
                 user: str = "", hostname: str = "", network: str = "host", mounts: list[Mount] | None = None,
                 limits: Limits | None = None, scratch: str | None = None, keep_upper: bool = False,
                 extra_hosts: dict[str, str] | None = None) -> None:
        self.layers = layers
        self.argv = argv
        self.env = {} if env is None else env
        self.cwd = cwd
        self.user = user
        self.hostname = hostname
        self.network = network  # "host" | "none" | path of a network namespace file
        self.mounts = [] if mounts is None else mounts
        self.limits = Limits() if limits is None else limits
        self.scratch = scratch  # dir for upper/work; a temp dir when None
        self.keep_upper = keep_upper
        self.extra_hosts = {} if extra_hosts is None else extra_hosts  # name -> address
