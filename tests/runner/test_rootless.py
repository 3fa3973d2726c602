"""Contract: a non-root caller gets a user namespace mapping its uid and gid to root,
an overlay with `userxattr`, and clear refusals for what it cannot have.

The caller here is Debian's /usr/bin/python3.11 run as uid 1234 (the venv's interpreter
lives under /root, which other users cannot enter), on a layer owned by that uid, as a
non-root user's store would unpack it."""

import json
import os
import shutil
import subprocess
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UID = 1234

CALLER = """
import json, sys
from runner.container import run
from runner.spec import Limits, RunSpec
args = json.loads(sys.argv[1])
limits = Limits(**args.pop("limits", {}))
try:
    result = run(RunSpec(limits=limits, **args))
    print(json.dumps({"exit_code": result.exit_code, "upper": result.upper}))
except Exception as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
"""


@pytest.fixture(scope="module")
def user_dir(busybox_layer):
    """A directory of uid 1234 holding its own copy of the busybox layer."""
    top = tempfile.mkdtemp(prefix="pybuild-rootless-")
    os.chmod(top, 0o755)
    shutil.copytree(busybox_layer, os.path.join(top, "layer"), symlinks=True)
    subprocess.run(["chown", "-R", "-h", f"{UID}:{UID}", top], check=True)
    yield top
    shutil.rmtree(top)


def as_user(user_dir: str, script: str, **fields) -> tuple[dict, str]:
    fields.setdefault("layers", [os.path.join(user_dir, "layer")])
    fields["argv"] = ["sh", "-c", script]
    out = subprocess.run(["/usr/bin/python3.11", "-c", CALLER, json.dumps(fields)], capture_output=True,
                         text=True, user=UID, group=UID, extra_groups=[], cwd="/",
                         env={"PYTHONPATH": REPO, "PATH": "/usr/bin:/bin"}, timeout=60)
    *output, outcome = out.stdout.splitlines() or [""]
    return json.loads(outcome), "\n".join(output)


def test_non_root_caller_runs_as_root_of_its_own_user_namespace(user_dir):
    outcome, output = as_user(user_dir, "id; echo $$; cat /proc/self/uid_map /proc/self/gid_map;"
                                        "grep CapBnd /proc/self/status; echo x > /tmp/new; hostname")
    lines = output.splitlines()
    assert outcome == {"exit_code": 0, "upper": None}, output
    assert lines[0] == "uid=0(root) gid=0(root)"
    assert lines[1] == "1"
    assert lines[2].split() == ["0", str(UID), "1"] and lines[3].split() == ["0", str(UID), "1"]
    assert lines[4] == "CapBnd:\t00000000a00425fb"  # Docker's set without MKNOD: no device cgroup
    assert len(lines[5]) == 12


def test_rootless_upper_dir_uses_user_xattrs_and_the_callers_uid(user_dir):
    scratch = os.path.join(user_dir, "scratch")
    outcome, output = as_user(user_dir, "echo x > /new; rm /bin/ls; rm -r /root && mkdir /root",
                              scratch=scratch, keep_upper=True)
    upper = outcome["upper"]
    assert outcome["exit_code"] == 0, output
    assert os.stat(os.path.join(upper, "new")).st_uid == UID
    whiteout = os.stat(os.path.join(upper, "bin/ls"))
    assert (whiteout.st_rdev, whiteout.st_uid) == (0, UID)
    assert os.getxattr(os.path.join(upper, "root"), "user.overlay.opaque") == b"y"


def test_rootless_network_none_has_loopback_up(user_dir):
    outcome, output = as_user(user_dir, "ls /sys/class/net; ping -c 1 -W 5 127.0.0.1 >/dev/null && echo ping-ok",
                              network="none")
    assert output.split() == ["lo", "ping-ok"]


@pytest.mark.parametrize("fields, message", [
    ({"limits": {"pids": 10}}, "InvalidRunSpec: memory, pids and cpu limits need root"),
    ({"network": "/run/netns/any"}, "InvalidRunSpec: joining the network namespace /run/netns/any needs root"),
    ({"user": "nobody"}, "ContainerError: user 'nobody' is not mapped"),
])
def test_what_a_non_root_caller_cannot_have_is_refused_clearly(user_dir, fields, message):
    outcome, _ = as_user(user_dir, "true", **fields)
    assert outcome["error"].startswith(message)
