"""Contract: timeout, cancel and Ctrl-C kill the whole container; nothing is left behind
after any exit, even a SIGKILL of the caller; escapes are refused."""

import glob
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from runner.container import Container
from runner.spec import Limits, RunSpec

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _processes_with(marker: str) -> list[int]:
    found = []
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            if open(path, "rb").read() == b"sleep\0" + marker.encode() + b"\0":
                found.append(int(path.split("/")[2]))
        except OSError:
            continue
    return found


def _mounts_mentioning(text: str) -> list[str]:
    hits = []
    for path in glob.glob("/proc/[0-9]*/mountinfo"):
        try:
            hits += [line for line in open(path) if text in line]
        except OSError:
            continue
    return hits


def _wait_for(predicate, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _assert_nothing_left(marker: str, scratch: str, container_id: str) -> None:
    assert _wait_for(lambda: not _processes_with(marker)), _processes_with(marker)
    assert _wait_for(lambda: not _mounts_mentioning(scratch)), _mounts_mentioning(scratch)
    assert _wait_for(lambda: not glob.glob(f"/sys/fs/cgroup/*/**/pybuild-{container_id}", recursive=True))
    assert _wait_for(lambda: not os.path.exists(os.path.join(scratch, "upper")))


def _marker() -> str:
    return f"{uuid.uuid4().int % 1000 + 1000}.{uuid.uuid4().int % 10**6}"  # a unique sleep time


def test_normal_exit_leaves_nothing_behind(layers, tmp_path):
    marker = _marker()
    scratch = str(tmp_path / "scratch")
    container = Container(RunSpec(layers=layers, argv=["sh", "-c", f"sleep {marker} & sleep {marker} & true"],
                                  scratch=scratch, limits=Limits(pids=30)))
    container.start()
    assert container.wait(timeout=20).exit_code == 0
    # the background sleeps died with PID 1; checked right at return, without waiting
    assert _processes_with(marker) == []
    assert _mounts_mentioning(scratch) == []
    assert glob.glob(f"/sys/fs/cgroup/*/**/pybuild-{container.id}", recursive=True) == []
    assert os.listdir(scratch) == []


def test_timeout_kills_the_whole_container(layers, tmp_path):
    marker = _marker()
    scratch = str(tmp_path / "scratch")
    container = Container(RunSpec(layers=layers, argv=["sh", "-c", f"sleep {marker} & sleep {marker}"],
                                  scratch=scratch, limits=Limits(pids=30)))
    started = time.monotonic()
    container.start()
    result = container.wait(timeout=0.5)
    assert time.monotonic() - started < 5
    assert (result.timed_out, result.exit_code, result.canceled) == (True, 137, False)
    assert result.describe() == "container killed: timed out (exit code 137)"
    _assert_nothing_left(marker, scratch, container.id)


def test_cancel_from_another_thread_kills_the_whole_container(layers, tmp_path):
    marker = _marker()
    scratch = str(tmp_path / "scratch")
    container = Container(RunSpec(layers=layers, argv=["sh", "-c", f"sleep {marker} & sleep {marker}"],
                                  scratch=scratch))
    container.start()
    threading.Timer(0.3, container.kill).start()
    result = container.wait(timeout=20)
    assert (result.canceled, result.exit_code) == (True, 137)
    _assert_nothing_left(marker, scratch, container.id)


def test_ctrl_c_in_wait_kills_the_container_and_propagates(layers, tmp_path):
    marker = _marker()
    scratch = str(tmp_path / "scratch")
    container = Container(RunSpec(layers=layers, argv=["sleep", marker], scratch=scratch))
    container.start()
    main = threading.main_thread().ident
    threading.Timer(0.3, lambda: signal.pthread_kill(main, signal.SIGINT)).start()
    with pytest.raises(KeyboardInterrupt):
        container.wait(timeout=20)
    _assert_nothing_left(marker, scratch, container.id)


CALLER = """
import sys
sys.path.insert(0, sys.argv[1])
from runner.container import Container
from runner.spec import Limits, RunSpec
c = Container(RunSpec(layers=sys.argv[4:], argv=["sh", "-c", "sleep %s & sleep %s" % (sys.argv[2], sys.argv[2])],
                      scratch=sys.argv[3], keep_upper=True, limits=Limits(pids=30, memory=64 << 20)))
c.start()
print(c.id, flush=True)
c.wait()
"""


def test_sigkill_of_the_caller_leaves_nothing_behind(layers, tmp_path):
    marker = _marker()
    scratch = str(tmp_path / "scratch")
    caller = subprocess.Popen([sys.executable, "-c", CALLER, REPO, marker, scratch, *layers],
                              stdout=subprocess.PIPE, text=True)
    try:
        container_id = caller.stdout.readline().strip()
        assert _wait_for(lambda: len(_processes_with(marker)) == 2)
        assert glob.glob(f"/sys/fs/cgroup/*/**/pybuild-{container_id}", recursive=True)
    finally:
        caller.kill()
        caller.wait()
    # even keep_upper is dropped: nobody is left to use it
    _assert_nothing_left(marker, scratch, container_id)
    assert _wait_for(lambda: not os.path.exists(scratch) or os.listdir(scratch) == [])


def test_leaked_host_descriptor_does_not_reach_the_process(sh):
    fd = os.open("/etc", os.O_RDONLY | os.O_DIRECTORY)
    os.set_inheritable(fd, True)
    try:
        ran = sh(f"ls /proc/self/fd; cat /proc/self/fd/{fd}/hostname 2>&1; ls /proc/1/fd; exit 0")
    finally:
        os.close(fd)
    lines = ran.stdout.splitlines()
    assert lines[:4] == ["0", "1", "2", "3"]  # stdio, and ls's own directory
    assert "No such file or directory" in lines[4]
    assert lines[5:] == ["0", "1", "2"]  # PID 1 (the shell) holds nothing else


def _sha(path: str) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_proc_self_exe_cannot_reach_the_host_or_the_layers(sh, layers):
    """CVE-2019-5736: the runtime's own binary is never a process of the container, and
    what /proc/*/exe points to is the container's busybox in the overlay."""
    host_python = os.path.realpath(sys.executable)
    before = (_sha(host_python), _sha(os.path.join(layers[0], "bin/busybox")))
    ran = sh("ls -l /proc/[0-9]*/exe > /tmp/exes; { echo evil > /proc/self/exe; } 2>&1;"
             "{ echo evil > /proc/1/exe; } 2>&1; cp /proc/self/exe /tmp/copy && echo copied; cat /tmp/exes")
    lines = ran.stdout.splitlines()
    assert all("Text file busy" in line for line in lines[0:2]), lines
    assert lines[2] == "copied"
    assert lines[3:] and all(line.endswith("-> /bin/busybox") for line in lines[3:])  # no runtime binary
    assert (_sha(host_python), _sha(os.path.join(layers[0], "bin/busybox"))) == before


def test_device_nodes_made_with_mknod_cannot_open_host_devices(sh):
    """CAP_MKNOD is in Docker's set; the device cgroup is what keeps container root from
    making a node for a host block device (here loop0) and reading it."""
    ran = sh("mknod /dev/hostdisk b 7 0 && head -c 1 /dev/hostdisk; mknod /tmp/n c 1 3 && echo ok > /tmp/n && echo null-ok")
    assert "/dev/hostdisk: Operation not permitted" in ran.stderr
    assert ran.stdout == "null-ok\n"
