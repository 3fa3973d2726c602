"""Contract: cgroup limits (memory with the OOM kill reported, pids, cpu) in a cgroup of
the container's own that is removed afterwards."""

import glob
import os
import time

from runner.container import Container
from runner.spec import Limits, RunSpec, parse_size


def _cgroup_dirs(container: Container) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/*/**/pybuild-{container.id}", recursive=True)


def test_memory_hog_is_oom_killed_and_reported(sh):
    ran = sh("dd if=/dev/zero of=/dev/null bs=64M count=1", limits=Limits(memory=parse_size("32m")))
    assert ran.result.oom_killed
    assert ran.exit_code == 137
    assert ran.result.describe() == "container killed: out of memory (exit code 137)"


def test_within_the_memory_limit_nothing_is_reported(sh):
    ran = sh("dd if=/dev/zero of=/dev/null bs=1M count=1 2>/dev/null", limits=Limits(memory=parse_size("32m")))
    assert (ran.exit_code, ran.result.oom_killed) == (0, False)


def test_fork_bomb_is_stopped_by_the_pids_limit(layers):
    container = Container(RunSpec(layers=layers, argv=["sh", "-c", "b() { b | b & }; b; sleep 30"],
                                  limits=Limits(pids=20)))
    container.start()
    deadline = time.monotonic() + 10
    refused = 0
    while time.monotonic() < deadline and not refused:
        for directory in _cgroup_dirs(container):
            if directory.startswith("/sys/fs/cgroup/pids/"):
                assert int(open(os.path.join(directory, "pids.current")).read()) <= 20
                refused = int(open(os.path.join(directory, "pids.events")).read().split()[1])
        time.sleep(0.02)
    container.kill()
    result = container.wait(timeout=10)
    assert refused > 0  # forks were refused at the limit
    assert result.canceled and result.exit_code == 137
    assert _cgroup_dirs(container) == []


def test_cpu_quota_and_cgroups_removed_after_exit(layers):
    container = Container(RunSpec(layers=layers, argv=["sleep", "30"],
                                  limits=Limits(cpus=0.5, memory=parse_size("64m"), pids=50)))
    container.start()
    deadline = time.monotonic() + 10
    dirs: dict[str, str] = {}
    while time.monotonic() < deadline:
        dirs = {d.split("/")[4]: d for d in _cgroup_dirs(container)}
        if len(dirs) == 4 and all(open(d + "/cgroup.procs").read() for d in dirs.values()):
            break
        time.sleep(0.01)
    assert open(dirs["cpu"] + "/cpu.cfs_quota_us").read().strip() == "50000"
    assert open(dirs["memory"] + "/memory.limit_in_bytes").read().strip() == str(64 << 20)
    assert open(dirs["pids"] + "/pids.max").read().strip() == "50"
    assert "c 1:3 rwm" in open(dirs["devices"] + "/devices.list").read().splitlines()
    # the container's process is in them; the caller is not
    assert str(os.getpid()) not in open(dirs["pids"] + "/cgroup.procs").read().split()
    container.kill()
    container.wait(timeout=10)
    assert _cgroup_dirs(container) == []
