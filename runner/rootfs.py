"""The container's filesystem, built by its PID 1 in its own mount namespace before exec.

The mount list, flags, devices and masked paths are those runc applies for Docker's
default spec (moby oci/defaults.go), so the view inside matches `docker run`.
"""

import os
import stat

from runner import libc
from runner.paths import ensure_in_root

NOSUID, NODEV, NOEXEC = libc.MS_NOSUID, libc.MS_NODEV, libc.MS_NOEXEC

# (target, fstype, flags, data)
SPECIAL_MOUNTS = (
    ("/proc", "proc", NOSUID | NOEXEC | NODEV, None),
    ("/dev", "tmpfs", NOSUID | libc.MS_STRICTATIME, "mode=755,size=65536k"),
    ("/dev/pts", "devpts", NOSUID | NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"),
    ("/sys", "sysfs", NOSUID | NOEXEC | NODEV | libc.MS_RDONLY, None),
    ("/dev/mqueue", "mqueue", NOSUID | NOEXEC | NODEV, None),
    ("/dev/shm", "tmpfs", NOSUID | NOEXEC | NODEV, "mode=1777,size=65536k"),
)

# name, major, minor: moby's default devices, all mode 0666 root:root
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
           ("urandom", 1, 9), ("tty", 5, 0))

DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
             ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"), ("core", "/proc/kcore"))

MASKED_PATHS = ("/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/firmware", "/sys/devices/virtual/powercap")

READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

_OVERLAY_DATA_MAX = 4000  # the mount data page is 4096 bytes


def _overlay_options(layers: list[str], upper: str, work: str, rootless: bool) -> str:
    """Overlay mount data; when the absolute lowerdir list would not fit in one page and
    all layers share a parent (the store's snapshots/), the caller chdirs there and the
    lowerdirs are given by name."""
    lowers = list(reversed(layers))
    # in a user namespace overlay keeps whiteouts' and opaque dirs' marks in user.overlay.*
    tail = f",upperdir={upper},workdir={work}" + (",userxattr" if rootless else "")
    options = f"lowerdir={':'.join(lowers)}{tail}"
    if len(options) > _OVERLAY_DATA_MAX and len({os.path.dirname(p) for p in lowers}) == 1:
        os.chdir(os.path.dirname(lowers[0]))
        options = f"lowerdir={':'.join(os.path.basename(p) for p in lowers)}{tail}"
    if len(options) > _OVERLAY_DATA_MAX:
        raise OSError(7, f"{len(lowers)} layers do not fit in one overlay mount")
    return options


def _bind(source: str, target: str, readonly: bool) -> None:
    libc.mount(source, target, None, libc.MS_BIND | libc.MS_REC)
    if readonly:
        # a read-only remount of a bind keeps the source mount's nosuid/nodev/noexec only
        # if they are passed again
        kept = os.statvfs(target).f_flag & (NOSUID | NODEV | NOEXEC)
        libc.mount(None, target, None, libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY | kept)


def build(spec: dict, created: list[str]) -> None:
    """Mount the overlay root and everything under it at spec["rootfs"] (a host path).
    Mount-point stubs it has to create are appended to `created`, relative to the root."""
    root = spec["rootfs"]
    layers = spec["layers"] or [spec["empty_layer"]]
    here = os.getcwd()
    rootless = spec["rootless"]
    libc.mount("overlay", root, "overlay", 0, _overlay_options(layers, spec["upper"], spec["work"], rootless))
    os.chdir(here)
    for target, fstype, flags, data in SPECIAL_MOUNTS:
        path = ensure_in_root(root, target, True, created)
        if rootless and fstype == "devpts":
            data = data.replace(",gid=5", "")  # only the caller's own gid is mapped
        if rootless and fstype == "sysfs" and spec["network"] == "host":
            # sysfs belongs to the network namespace's owner: bind the host's, read-only
            libc.mount("/sys", path, None, libc.MS_BIND | libc.MS_REC)
            libc.mount(None, path, None, libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY | flags)
            continue
        libc.mount(fstype, path, fstype, flags, data)
    dev = os.path.join(root, "dev")
    for name, major, minor in DEVICES:
        node = os.path.join(dev, name)
        if rootless:  # mknod needs CAP_MKNOD in the initial user namespace: bind the host's
            os.close(os.open(node, os.O_CREAT | os.O_WRONLY, 0o666))
            libc.mount("/dev/" + name, node, None, libc.MS_BIND)
        else:
            os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(major, minor))
    for name, target in DEV_LINKS:
        os.symlink(target, os.path.join(dev, name))
    for name in ("resolv.conf", "hostname", "hosts"):
        path = ensure_in_root(root, "/etc/" + name, False, created)
        _bind(os.path.join(spec["etc"], name), path, False)
    # parents before children, as Docker sorts them
    for m in sorted(spec["mounts"], key=lambda m: len([p for p in m["target"].split("/") if p])):
        if m["type"] == "tmpfs":
            path = ensure_in_root(root, m["target"], True, created)
            libc.mount("tmpfs", path, "tmpfs", NOSUID | NODEV, m["options"] or None)
            if m["readonly"]:
                libc.mount(None, path, None, libc.MS_REMOUNT | libc.MS_RDONLY | NOSUID | NODEV,
                           m["options"] or None)
        else:
            path = ensure_in_root(root, m["target"], os.path.isdir(m["source"]), created)
            _bind(m["source"], path, m["readonly"])


def pivot(root: str) -> None:
    """pivot_root into `root` and detach the old root, runc's way: pivot onto itself so no
    put_old directory is needed inside the image."""
    os.chdir(root)
    libc.pivot_root(".", ".")
    libc.umount2(".", libc.MNT_DETACH)
    os.chdir("/")


def protect_kernel_paths() -> None:
    """After pivot: runc's masked paths (empty read-only tmpfs over directories, /dev/null
    over files) and read-only paths."""
    for path in MASKED_PATHS:
        try:
            is_dir = stat.S_ISDIR(os.lstat(path).st_mode)
        except FileNotFoundError:
            continue
        if is_dir:
            libc.mount("tmpfs", path, "tmpfs", libc.MS_RDONLY, None)
        else:
            libc.mount("/dev/null", path, None, libc.MS_BIND)
    for path in READONLY_PATHS:
        if os.path.lexists(path):
            _bind(path, path, True)
