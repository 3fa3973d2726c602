"""Contract: the process: argv, env, cwd, user, umask, capabilities, no_new_privs,
rlimits, exit codes, signals, output streaming."""

import os
import resource
import signal
import threading
import time

import pytest

from runner.container import Container, ContainerError
from runner.spec import InvalidRunSpec, Limits, Mount, RunSpec


def test_argv_is_passed_verbatim(layers, run_spec):
    ran = run_spec(RunSpec(layers=layers, argv=["echo", "a b", "$HOME", "*"]))
    assert ran.stdout == "a b $HOME *\n"


def test_env_gets_docker_defaults_only_where_absent(sh):
    ran = sh("echo $PATH; echo $HOME; echo $HOSTNAME; echo $FOO", env={"FOO": "bar"}, hostname="h")
    assert ran.stdout.splitlines() == [
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "/root", "h", "bar"]
    ran = sh("echo $PATH $HOME", env={"PATH": "/bin", "HOME": "/x"})
    assert ran.stdout == "/bin /x\n"


def test_cwd_is_created_if_missing(sh):
    ran = sh("pwd; stat -c '%a %u' .", cwd="/srv/app/work")
    assert ran.stdout.splitlines() == ["/srv/app/work", "755 0"]


@pytest.mark.parametrize("user, expected", [
    ("", "uid=0(root) gid=0(root) groups=0(root),10(wheel)"),
    ("alice", "uid=1000(alice) gid=1000(alice) groups=50(staff),1000(alice)"),
    ("1000", "uid=1000(alice) gid=1000(alice) groups=50(staff),1000(alice)"),
    ("www-data", "uid=33(www-data) gid=33(www-data) groups=33(www-data),50(staff)"),
    ("alice:bin", "uid=1000(alice) gid=2(bin) groups=2(bin)"),
    ("1000:50", "uid=1000(alice) gid=50(staff) groups=50(staff)"),
    ("4242", "uid=4242 gid=0(root) groups=0(root)"),
    ("4242:4243", "uid=4242 gid=4243 groups=4243"),
])
def test_user_forms_resolve_against_the_images_passwd_and_group(sh, user, expected):
    ran = sh("id; echo $HOME", user=user)
    assert ran.stdout.splitlines()[0] == expected


def test_home_comes_from_passwd(sh):
    assert sh("echo $HOME", user="alice").stdout == "/home/alice\n"


def test_unknown_user_or_group_fails_with_125(sh):
    with pytest.raises(ContainerError, match="unable to find user bob: no matching entries in passwd file") as e:
        sh("true", user="bob")
    assert e.value.exit_code == 125
    with pytest.raises(ContainerError, match="unable to find group nope"):
        sh("true", user="alice:nope")


def test_umask_is_0022(sh):
    ran = sh("umask; touch /tmp/f; mkdir /tmp/d; stat -c %a /tmp/f /tmp/d")
    assert ran.stdout.split() == ["0022", "644", "755"]


def test_capabilities_are_dockers_default_set(sh):
    root = sh("grep Cap /proc/self/status").stdout.split()
    assert root == ["CapInh:", "0000000000000000", "CapPrm:", "00000000a80425fb", "CapEff:", "00000000a80425fb",
                    "CapBnd:", "00000000a80425fb", "CapAmb:", "0000000000000000"]
    user = sh("grep Cap /proc/self/status", user="alice").stdout.split()
    assert user == ["CapInh:", "0000000000000000", "CapPrm:", "0000000000000000", "CapEff:", "0000000000000000",
                    "CapBnd:", "00000000a80425fb", "CapAmb:", "0000000000000000"]


def test_capabilities_outside_the_set_are_refused(sh):
    ran = sh("mkdir /m; mount -t tmpfs none /m 2>&1; hostname x 2>&1; chown 1000 /tmp && echo chown-ok")
    lines = ran.stdout.splitlines()
    assert "permission denied" in lines[0].lower()
    assert "Operation not permitted" in lines[1]
    assert lines[2] == "chown-ok"


def test_no_new_privs_blocks_setuid(sh):
    """/usr/local/bin/euid is setuid root and exits with its effective uid."""
    ran = sh("grep NoNewPrivs /proc/self/status; /usr/local/bin/euid; echo $?", user="123")
    assert ran.stdout.split() == ["NoNewPrivs:", "1", "123"]


def test_rlimits_are_applied(sh):
    ran = sh("ulimit -n; ulimit -Hn", limits=Limits(rlimits={"nofile": (256, 512)}))
    assert ran.stdout.split() == ["256", "512"]


def test_rlimit_above_the_machines_hard_limit_is_refused(sh):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with pytest.raises(InvalidRunSpec, match="rlimit nofile"):
        sh("true", limits=Limits(rlimits={"nofile": (hard + 1, hard + 1)}))


def test_exit_code_is_the_processes(sh):
    assert sh("exit 3").exit_code == 3


def test_killed_process_exits_128_plus_signal(layers):
    container = Container(RunSpec(layers=layers, argv=["sleep", "30"]))
    container.start()
    time.sleep(0.2)
    container.signal(signal.SIGKILL)
    result = container.wait(timeout=10)
    assert (result.exit_code, result.signal, result.canceled) == (137, 9, False)


def test_missing_executable_is_127_and_not_executable_is_126(layers, run_spec):
    with pytest.raises(ContainerError, match='exec: "nosuch": executable file not found in \\$PATH') as e:
        run_spec(RunSpec(layers=layers, argv=["nosuch"]))
    assert e.value.exit_code == 127
    with pytest.raises(ContainerError, match='exec: "/etc/passwd": permission denied') as e:
        run_spec(RunSpec(layers=layers, argv=["/etc/passwd"]))
    assert e.value.exit_code == 126


def test_signals_reach_pid_1(layers, tmp_path):
    out = open(tmp_path / "out", "w+b")
    container = Container(RunSpec(layers=layers, argv=[
        "sh", "-c", "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.05; done"]),
        stdout=out.fileno())
    container.start()
    deadline = time.monotonic() + 10
    while b"ready" not in (tmp_path / "out").read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)
    container.signal(signal.SIGTERM)
    result = container.wait(timeout=10)
    assert (result.exit_code, (tmp_path / "out").read_text()) == (7, "ready\ngot-term\n")


def test_output_is_streamed_while_the_process_runs(layers, tmp_path):
    """The process blocks after its first line until the test has read it."""
    read_fd, write_fd = os.pipe()
    container = Container(RunSpec(layers=layers, argv=[
        "sh", "-c", "echo first; while [ ! -e /sync/go ]; do sleep 0.02; done; echo second"],
        mounts=[Mount(target="/sync", source=str(tmp_path))]), stdout=write_fd)
    container.start()
    os.close(write_fd)
    assert os.read(read_fd, 100) == b"first\n"
    (tmp_path / "go").touch()
    result = container.wait(timeout=20)
    assert os.read(read_fd, 100) == b"second\n" and result.exit_code == 0
    os.close(read_fd)


def test_stderr_is_separate(sh):
    ran = sh("echo out; echo err >&2")
    assert (ran.stdout, ran.stderr) == ("out\n", "err\n")


def test_runs_in_parallel_threads_do_not_disturb_each_other(sh):
    results: dict[int, str] = {}

    def one(i: int) -> None:
        results[i] = sh(f"echo {i}; hostname", hostname=f"h{i}").stdout

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: f"{i}\nh{i}\n" for i in range(6)}
