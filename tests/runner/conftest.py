"""Two read-only layers for the containers under test: the shared busybox rootfs tar
(tests/conftest.py) unpacked, and a layer of this area's own with more users and groups
and a setuid-root probe program."""

import os
import struct
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.container import RunResult, run
from runner.spec import RunSpec

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
alice:x:1000:1000:Alice:/home/alice:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false
"""

GROUP = """root:x:0:
daemon:x:1:
bin:x:2:
tty:x:5:
wheel:x:10:root
staff:x:50:alice,www-data
www-data:x:33:
alice:x:1000:
nogroup:x:65534:
"""


def euid_probe_elf() -> bytes:
    """A static x86-64 program that exits with its effective uid (mod 256): a setuid-root
    copy run by uid 123 exits 0 if setuid took effect and 123 if it did not. Busybox cannot
    serve here: it drops setuid privileges by itself."""
    code = bytes.fromhex("b86b000000"  # mov eax, 107 (geteuid)
                         "0f05"  # syscall
                         "89c7"  # mov edi, eax
                         "b83c000000"  # mov eax, 60 (exit)
                         "0f05")  # syscall
    base, header_size = 0x400000, 64 + 56
    elf_header = struct.pack("<4sBBBBB7xHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, 2, 0x3E, 1,
                             base + header_size, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    size = header_size + len(code)
    program_header = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)
    return elf_header + program_header + code


@pytest.fixture(scope="session")
def busybox_layer(busybox_rootfs_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    target = tmp_path_factory.mktemp("busybox-layer")
    target.chmod(0o755)
    with tarfile.open(busybox_rootfs_tar) as tar:
        tar.extractall(target, numeric_owner=True, filter="fully_trusted")
    return str(target)


@pytest.fixture(scope="session")
def users_layer(tmp_path_factory: pytest.TempPathFactory) -> str:
    target = tmp_path_factory.mktemp("users-layer")
    target.chmod(0o755)
    (target / "etc").mkdir()
    (target / "etc/passwd").write_text(PASSWD)
    (target / "etc/group").write_text(GROUP)
    (target / "home/alice").mkdir(parents=True)
    os.chown(target / "home/alice", 1000, 1000)
    probe = target / "usr/local/bin/euid"
    probe.parent.mkdir(parents=True)
    probe.write_bytes(euid_probe_elf())
    os.chmod(probe, 0o4755)
    return str(target)


@pytest.fixture(scope="session")
def layers(busybox_layer: str, users_layer: str) -> list[str]:
    return [busybox_layer, users_layer]


class Ran:
    """A finished run with its output decoded."""

    def __init__(self, result: RunResult, stdout: str, stderr: str) -> None:
        self.result, self.stdout, self.stderr = result, stdout, stderr
        self.exit_code = result.exit_code

    def __repr__(self) -> str:
        return f"Ran({self.result}, stdout={self.stdout!r}, stderr={self.stderr!r})"


def capture(spec: RunSpec, timeout: float | None = 30) -> Ran:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        result = run(spec, timeout=timeout, stdout=out.fileno(), stderr=err.fileno())
        out.seek(0)
        err.seek(0)
        return Ran(result, out.read().decode(), err.read().decode())


@pytest.fixture
def sh(layers: list[str]) -> Callable[..., Ran]:
    """`sh("script", user=..., network=..., ...)` runs `sh -c script` in the test layers;
    keyword arguments are RunSpec fields."""

    def run_script(script: str, timeout: float | None = 30, **fields) -> Ran:
        return capture(RunSpec(layers=fields.pop("layers", layers), argv=["sh", "-c", script], **fields),
                       timeout)

    return run_script


@pytest.fixture
def run_spec() -> Callable[..., Ran]:
    """`run_spec(RunSpec(...), timeout=30)` runs it and captures its output."""
    return capture
