"""Makes the base images `busybox:latest` and `debian:bookworm` without Docker Hub.

- busybox: the binary of Debian's busybox-static package, a symlink for every applet
  (`busybox --list-full`), /etc/passwd and /etc/group, /tmp (1777), /root, and empty
  /proc /sys /dev for the runtime to mount over. About 2 MB; made in a second.
- debian: `debootstrap --variant=minbase SUITE DIR MIRROR`, MIRROR taken from the host's
  apt sources, then apt's package cache and lists removed as the Docker Hub image does.
  About 120 MB; takes ~30 s, so it is made once per machine.

Each root filesystem is written as a tar into a cache directory (PYBUILD_BASE_CACHE, else
/var/cache/pybuild-base as root, else ~/.cache/pybuild-base) under a lock, so parallel
test sessions share one copy, and then imported with `pybuild import TAR NAME --change
'CMD [...]'` into the store PYBUILD_ROOT names (pybuild's default otherwise).

    .venv/bin/python scripts/base_images.py               # both, made if missing, imported
    .venv/bin/python scripts/base_images.py busybox       # only busybox
    .venv/bin/python scripts/base_images.py --no-import   # only the cached tars (prints paths)

The test fixtures (tests/peers.py) and the benchmarks load this file as a module.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MIRROR = "http://deb.debian.org/debian"

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""

GROUP = """\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
wheel:x:10:root
www-data:x:33:
users:x:100:
nogroup:x:65534:
"""


@dataclass(frozen=True)
class BaseImage:
    name: str  # what a user types after FROM
    changes: tuple[str, ...]  # `pybuild import --change` lines


BUSYBOX = BaseImage("busybox:latest", ('CMD ["sh"]',))
DEBIAN = BaseImage("debian:bookworm", ('CMD ["bash"]',))


def default_cache_dir() -> Path:
    if env := os.environ.get("PYBUILD_BASE_CACHE"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/cache/pybuild-base")
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pybuild-base"


@contextlib.contextmanager
def cache_lock(cache: Path, name: str) -> Iterator[None]:
    """Serialises the making of one cached tar across processes (parallel test runs)."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def package_version(package: str) -> str:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Version}_${Architecture}", package],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"base_images: the Debian package {package} is not installed "
                         f"(apt-get install {package}, or run scripts/install.sh)")
    return result.stdout.replace(":", "-")


def write_tar(rootfs: Path, out: Path, *extra: str) -> None:
    """Writes rootfs as out, entries named without a leading './' and sorted, owners numeric.
    The tar appears whole or not at all (temp file in the same directory, fsync, rename)."""
    names = sorted(os.listdir(rootfs))
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    os.close(fd)
    os.chmod(tmp, 0o644)
    try:
        subprocess.run(["tar", "--sort=name", "--numeric-owner", *extra,
                        "-C", str(rootfs), "-cf", tmp, "--", *names], check=True)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise


def busybox_tar(cache: Path | None = None) -> Path:
    """The busybox rootfs tar, made once per busybox-static version."""
    cache = cache or default_cache_dir()
    out = cache / f"busybox-{package_version('busybox-static')}.tar"
    with cache_lock(cache, "busybox"):
        if not out.exists():
            with tempfile.TemporaryDirectory(dir=cache, prefix=".busybox-") as tmp:
                make_busybox_rootfs(Path(tmp) / "rootfs")
                # The binary's mtime comes from the package, so the tar is the same bytes
                # on every machine with the same busybox-static.
                mtime = int(Path("/bin/busybox").stat().st_mtime)
                write_tar(Path(tmp) / "rootfs", out, "--owner=0", "--group=0", f"--mtime=@{mtime}")
    return out


def make_busybox_rootfs(root: Path) -> None:
    for d, mode in [("bin", 0o755), ("sbin", 0o755), ("usr/bin", 0o755), ("usr/sbin", 0o755),
                    ("etc", 0o755), ("home", 0o755), ("var/www", 0o755), ("root", 0o700),
                    ("tmp", 0o1777), ("var/tmp", 0o1777), ("proc", 0o555), ("sys", 0o555),
                    ("dev", 0o755)]:
        (root / d).mkdir(parents=True, exist_ok=True)
        os.chmod(root / d, mode)
    os.chmod(root / "usr", 0o755)
    os.chmod(root / "var", 0o755)
    shutil.copy2("/bin/busybox", root / "bin/busybox")
    os.chmod(root / "bin/busybox", 0o755)
    # --list-full gives each applet's installed path (bin/sh, usr/bin/env, ...): the same
    # layout as `busybox --install -s` in a chroot, without needing one.
    applets = subprocess.run(["/bin/busybox", "--list-full"], check=True,
                             capture_output=True, text=True).stdout.split()
    for applet in applets:
        link = root / applet
        if link.name != "busybox" and not link.exists():
            link.symlink_to("/bin/busybox")
    for name, text in [("passwd", PASSWD), ("group", GROUP)]:
        (root / "etc" / name).write_text(text)
        os.chmod(root / "etc" / name, 0o644)


def host_mirror(suite: str, apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror the host's apt uses for suite (deb822 .sources or one-line .list)."""
    sources = apt_dir / "sources.list.d"
    for path in sorted(sources.glob("*.sources")) if sources.is_dir() else []:
        for stanza in path.read_text().split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith(("#", " ")):
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.split()
            if ("deb" in fields.get("types", []) and suite in fields.get("suites", [])
                    and fields.get("enabled", ["yes"]) != ["no"] and fields.get("uris")):
                return fields["uris"][0]
    lists = [apt_dir / "sources.list", *sorted(sources.glob("*.list"))]
    for path in lists:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            words = line.split("#", 1)[0].split()
            if words[:1] == ["deb"]:
                words = [w for w in words[1:] if not w.startswith("[") and not w.endswith("]")]
                if len(words) >= 2 and words[1] == suite:
                    return words[0]
    return DEFAULT_MIRROR


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below path, deepest first (the order to unmount them in)."""
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def remove_tree(path: Path) -> None:
    """rmtree that first detaches whatever is mounted inside (a failed debootstrap leaves
    /proc and /sys mounted; dockerd leaves overlays): rmtree must never reach the host's
    files through a mount."""
    for point in mounts_under(path):
        subprocess.run(["umount", "--lazy", point], check=False)
    if mounts_under(path):
        raise RuntimeError(f"cannot unmount everything under {path}; not removing it")
    shutil.rmtree(path, ignore_errors=True)


def debian_tar(cache: Path | None = None, suite: str = "bookworm", mirror: str | None = None) -> Path:
    """The debootstrap minbase rootfs tar of suite, made once per machine (~30 s)."""
    cache = cache or default_cache_dir()
    arch = subprocess.run(["dpkg", "--print-architecture"], check=True,
                          capture_output=True, text=True).stdout.strip()
    out = cache / f"debian-{suite}-{arch}.tar"
    with cache_lock(cache, f"debian-{suite}"):
        if not out.exists():
            work = Path(tempfile.mkdtemp(dir=cache, prefix=f".debian-{suite}-"))
            try:
                rootfs = work / "rootfs"
                result = subprocess.run(
                    ["debootstrap", "--variant=minbase", suite, str(rootfs), mirror or host_mirror(suite)],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                if result.returncode != 0:
                    raise SystemExit(f"base_images: debootstrap failed:\n{result.stdout[-3000:]}")
                trim_debian_rootfs(rootfs)
                write_tar(rootfs, out)
            finally:
                remove_tree(work)
    return out


def trim_debian_rootfs(root: Path) -> None:
    """Drops what the Docker Hub image drops: downloaded .debs, apt lists, and the build
    host's hostname and resolver (the runtime provides its own)."""
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    lists = root / "var/lib/apt/lists"
    for entry in lists.iterdir():
        if entry.is_file() and entry.name != "lock":
            entry.unlink()
    (root / "etc/hostname").unlink(missing_ok=True)
    (root / "etc/resolv.conf").write_text("")


def pybuild_command() -> list[str]:
    """The pybuild beside this interpreter (the venv's entry point), else `python -m pybuild`."""
    script = Path(sys.executable).parent / "pybuild"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pybuild"]


def import_image(tar: Path, image: BaseImage) -> bool:
    """Imports tar as image unless the store has an image of that name already (a second
    import would make a new image ID and leave the first one dangling); True if imported."""
    present = subprocess.run([*pybuild_command(), "inspect", image.name],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if present.returncode == 0:
        return False
    changes = [arg for change in image.changes for arg in ("--change", change)]
    subprocess.run([*pybuild_command(), "import", *changes, str(tar), image.name], check=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*", metavar="busybox|debian",
                        help="which base images (default: both)")
    parser.add_argument("--no-import", action="store_true", help="only make the cached tars")
    parser.add_argument("--cache", type=Path, default=None, help="cache directory for the tars")
    parser.add_argument("--mirror", default=None, help="Debian mirror (default: the host's)")
    args = parser.parse_args(argv)
    makers = {"busybox": (busybox_tar, BUSYBOX),
              "debian": (lambda cache: debian_tar(cache, mirror=args.mirror), DEBIAN)}
    wanted = args.images or list(makers)
    if unknown := set(wanted) - set(makers):
        parser.error(f"unknown base image: {', '.join(sorted(unknown))}")
    for name in wanted:
        make, image = makers[name]
        tar = make(args.cache)
        print(f"{image.name}: {tar} ({tar.stat().st_size / 1e6:.1f} MB)", flush=True)
        if not args.no_import and not import_image(tar, image):
            print(f"{image.name}: already in the store, not imported again")
    return 0


if __name__ == "__main__":
    sys.exit(main())
