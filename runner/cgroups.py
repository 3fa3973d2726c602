"""One cgroup per container and per limited controller, removed when the container ends.

Each cgroup is made a child of the caller's own cgroup in that hierarchy, so a container
never escapes limits the caller itself runs under. cgroup v1 controllers (this machine's
hybrid layout: /sys/fs/cgroup/memory, /pids, /cpu) are used when mounted; otherwise the
controller is looked for in the unified (v2) hierarchy, where it must already be enabled
in the parent's cgroup.subtree_control (the runner never changes the host's controller
setup).
"""

import os
import time

_CONTROLLERS = ("memory", "pids", "cpu", "devices")

# runc's default device rules, which Docker uses: any node may be created (mknod) but
# only these may be opened; without them container root could mknod a host disk and read it
DEVICE_RULES = ("c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
                "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm")


class CgroupError(Exception):
    """A requested limit that this machine's cgroup setup cannot enforce."""


def _hierarchies() -> tuple[dict[str, str], str | None]:
    """{v1 controller: mount point}, v2 mount point."""
    v1: dict[str, str] = {}
    v2 = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype, _source, options = (right.split() + ["", ""])[:3]
            mount_point = left.split()[4].replace("\\040", " ")
            if fstype == "cgroup2":
                v2 = v2 or mount_point
            elif fstype == "cgroup":
                for option in options.split(","):
                    if option in _CONTROLLERS:
                        v1.setdefault(option, mount_point)
    return v1, v2


def _own_paths() -> tuple[dict[str, str], str]:
    v1: dict[str, str] = {}
    v2 = "/"
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if not controllers:
                v2 = path
            for controller in controllers.split(","):
                v1[controller] = path
    return v1, v2


def _write(directory: str, name: str, value: str) -> None:
    fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _settings(controller: str, v2: bool, limits: dict) -> list[tuple[str, str]]:
    if controller == "memory":
        memory = str(limits["memory"])
        if v2:
            return [("memory.max", memory), ("memory.swap.max?", "0")]
        return [("memory.limit_in_bytes", memory), ("memory.memsw.limit_in_bytes?", memory)]
    if controller == "pids":
        return [("pids.max", str(limits["pids"]))]
    if controller == "devices":
        return [("devices.deny", "a")] + [("devices.allow", rule) for rule in DEVICE_RULES]
    period = 100000
    quota = max(1000, int(limits["cpus"] * period))
    if v2:
        return [("cpu.max", f"{quota} {period}")]
    return [("cpu.cfs_period_us", str(period)), ("cpu.cfs_quota_us", str(quota))]


def create(name: str, limits: dict) -> tuple[list[str], bool]:
    """Make the cgroups `limits` ({memory, pids, cpus}) need, and the device cgroup where
    cgroup v1 has one; returns their directories and whether devices are confined (cgroup
    v2 does device control with eBPF programs, which the runner does not load)."""
    v1_mounts, v2_mount = _hierarchies()
    v1_paths, v2_path = _own_paths()
    wanted = [c for c, key in zip(_CONTROLLERS, ("memory", "pids", "cpus")) if limits.get(key)]
    devices_confined = "devices" in v1_mounts
    if devices_confined:
        wanted.append("devices")
    made: list[str] = []
    try:
        for controller in wanted:
            if controller in v1_mounts:
                parent, v2 = v1_mounts[controller] + v1_paths.get(controller, "/"), False
            elif v2_mount:
                parent, v2 = v2_mount + v2_path, True
                with open(os.path.join(parent, "cgroup.subtree_control")) as f:
                    if controller not in f.read().split():
                        raise CgroupError(f"cgroup controller {controller!r} is not enabled in {parent}")
            else:
                raise CgroupError(f"no cgroup hierarchy has the {controller!r} controller")
            directory = os.path.join(parent.rstrip("/"), name)
            if directory not in made:
                os.mkdir(directory, 0o755)
                made.append(directory)
            for filename, value in _settings(controller, v2, limits):
                optional = filename.endswith("?")
                filename = filename.rstrip("?")
                if optional and not os.path.exists(os.path.join(directory, filename)):
                    continue
                _write(directory, filename, value)
    except BaseException:
        remove(made)
        raise
    return made, devices_confined


def join(directories: list[str], pid: int = 0) -> None:
    """Move process `pid` (0: the caller) into every cgroup."""
    for directory in directories:
        _write(directory, "cgroup.procs", str(pid))


def oom_killed(directories: list[str]) -> bool:
    for directory in directories:
        for filename in ("memory.oom_control", "memory.events"):
            try:
                with open(os.path.join(directory, filename)) as f:
                    for line in f:
                        key, _, value = line.partition(" ")
                        if key == "oom_kill" and int(value) > 0:
                            return True
            except FileNotFoundError:
                continue
    return False


def remove(directories: list[str]) -> None:
    """rmdir each cgroup; the kernel answers EBUSY for a moment after the last task
    exits, so retry briefly."""
    for directory in directories:
        deadline = time.monotonic() + 5
        while True:
            try:
                os.rmdir(directory)
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
