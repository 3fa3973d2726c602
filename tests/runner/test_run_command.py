"""`pybuild run`: Docker's CMD/ENTRYPOINT/Env/WorkingDir/User rules and flags."""

import pytest

from runner.image import process_from_image
from runner.spec import InvalidRunSpec

IMAGE = {"Entrypoint": ["/entry"], "Cmd": ["default"], "Env": ["PATH=/bin", "A=1"],
         "WorkingDir": "/app", "User": "www-data"}


def test_arguments_replace_cmd_and_keep_entrypoint():
    argv, env, cwd, user = process_from_image(IMAGE, command=["x", "y"])
    assert (argv, env, cwd, user) == (["/entry", "x", "y"], {"PATH": "/bin", "A": "1"}, "/app", "www-data")


def test_image_defaults_without_arguments():
    assert process_from_image(IMAGE, command=[])[0] == ["/entry", "default"]


def test_entrypoint_flag_drops_the_images_cmd_and_empty_clears_it():
    assert process_from_image(IMAGE, command=[], entrypoint="sh")[0] == ["sh"]
    assert process_from_image(IMAGE, command=["ls"], entrypoint="")[0] == ["ls"]


def test_env_flags_override_and_pass_through(monkeypatch):
    monkeypatch.setenv("FROM_HOST", "h")
    monkeypatch.delenv("NOT_SET", raising=False)
    env = process_from_image(IMAGE, command=[], env=["A=2", "FROM_HOST", "NOT_SET", "B="])[1]
    assert env == {"PATH": "/bin", "A": "2", "FROM_HOST": "h", "B": ""}


def test_no_command_at_all_is_an_error():
    with pytest.raises(InvalidRunSpec, match="no command specified"):
        process_from_image({}, command=[])


def test_relative_workdir_is_refused():
    with pytest.raises(InvalidRunSpec, match="needs to be an absolute path"):
        process_from_image(IMAGE, command=[], workdir="rel")


def test_run_prints_output_and_returns_the_exit_code(pybuild, busybox_image, tmp_path):
    (tmp_path / "f").write_text("from host\n")
    tmp_path.chmod(0o755)  # readable by the container's nobody
    out = pybuild("run", "--rm", "-e", "K=V", "-w", "/w", "-u", "nobody", "--network", "none",
                  "-h", "box", "-v", f"{tmp_path}:/data:ro", busybox_image,
                  "sh", "-c", "echo $K; pwd; id -u; hostname; cat /data/f; exit 5", check=False)
    assert out.stdout.splitlines() == ["V", "/w", "65534", "box", "from host"]
    assert out.returncode == 5


def test_run_uses_the_images_cmd(pybuild, busybox_image):
    out = pybuild("run", "--rm", busybox_image, check=False, input="echo from-stdin\n")
    assert out.returncode == 0  # CMD ["sh"] with stdin at /dev/null, as docker run without -i


def test_run_reports_oom_and_start_errors_like_docker(pybuild, busybox_image):
    oom = pybuild("run", "--rm", "-m", "32m", busybox_image, "dd", "if=/dev/zero", "of=/dev/null",
                  "bs=64M", "count=1", check=False)
    assert oom.returncode == 137 and "out of memory" in oom.stderr
    missing = pybuild("run", "--rm", busybox_image, "nosuch", check=False)
    assert missing.returncode == 127
    assert missing.stderr.strip() == 'Error: exec: "nosuch": executable file not found in $PATH'
    bad_user = pybuild("run", "--rm", "-u", "bob", busybox_image, "true", check=False)
    assert bad_user.returncode == 125 and "unable to find user bob" in bad_user.stderr


def _sleeps(marker: str) -> list[str]:
    import glob

    found = []
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            if open(path, "rb").read() == b"sleep\0" + marker.encode() + b"\0":
                found.append(path)
        except OSError:
            continue
    return found


def _start(pybuild, *args, marker: str):
    """Starts `pybuild args…` and returns once a `sleep MARKER` runs in the container."""
    import subprocess
    import time

    proc = subprocess.Popen([*pybuild.command, *args], env=pybuild.env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not _sleeps(marker):
        time.sleep(0.02)
    return proc


def test_ctrl_c_kills_the_container_and_exits_130(pybuild, busybox_image):
    import signal
    import time

    marker = "1234.5678"
    proc = _start(pybuild, "run", "--rm", busybox_image, "sleep", marker, marker=marker)
    try:
        assert _sleeps(marker)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 130
    finally:
        proc.kill()
    deadline = time.monotonic() + 10
    while _sleeps(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _sleeps(marker) == []


def test_sigterm_is_forwarded_to_the_container(pybuild, busybox_image):
    import signal

    # the shell runs its trap between two short foreground sleeps; the long one only
    # tells the test that the container is up
    proc = _start(pybuild, "run", "--rm", busybox_image, "sh", "-c",
                  "trap 'echo terminated; exit 3' TERM; sleep 4321.5 & while true; do sleep 0.05; done",
                  marker="4321.5")
    try:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert (proc.returncode, out) == (3, "terminated\n")


def test_host_network_container_has_the_hosts_name_like_docker(pybuild, busybox_image):
    import os

    assert pybuild("run", "--rm", busybox_image, "hostname").stdout == os.uname().nodename + "\n"
    own = pybuild("run", "--rm", "--network", "none", busybox_image, "hostname").stdout.strip()
    assert len(own) == 12 and own != os.uname().nodename
