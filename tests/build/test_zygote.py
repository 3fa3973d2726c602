"""RUN containers forked by the build's zygote (builder/zygote.py): output reaches the
descriptor given, exit codes, start errors and cancelling come back as the runner
reports them, and the zygote ends with the build. Run in a fresh interpreter, since a
zygote starts only in a process with one thread."""

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

PROBE = r"""
import os, sys, threading, time
from builder.zygote import Zygote
from runner import ContainerError, RunSpec

layer, scratch = sys.argv[1], sys.argv[2]
zygote = Zygote.start()
threading.Thread(target=lambda: None).start()  # the build's threads start after the fork

def run(argv, name, kill_after=None, **fields):
    r, w = os.pipe()
    spec = RunSpec(layers=[layer], argv=argv, network="none", scratch=os.path.join(scratch, name), **fields)
    started = time.monotonic()
    try:
        handle = zygote.run(spec, w)
    finally:
        os.close(w)
    if kill_after is not None:
        time.sleep(kill_after)
        handle.kill()
    try:
        result = handle.wait()
        outcome = (result.exit_code, result.canceled)
    except ContainerError as exc:
        outcome = ("error", exc.exit_code)
    with os.fdopen(r) as f:
        output = f.read()
    return outcome, output, round(time.monotonic() - started)

print(run(["sh", "-c", "echo out; echo err >&2; exit 3"], "a"))
print(run(["sh", "-c", "sleep 30"], "b", kill_after=0.5))
print(run(["true"], "c", user="nosuchuser"))
zygote.close()
try:
    os.kill(zygote.pid, 0)
    print("zygote alive")
except ProcessLookupError:
    print("zygote gone")
"""


@pytest.fixture(scope="module")
def busybox_layer(busybox_rootfs_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    target = tmp_path_factory.mktemp("busybox-layer")
    target.chmod(0o755)
    with tarfile.open(busybox_rootfs_tar) as tar:
        tar.extractall(target, numeric_owner=True, filter="fully_trusted")
    return str(target)


def test_runs_through_the_zygote_report_output_exit_codes_errors_and_cancelling(busybox_layer: str, tmp_path: Path):
    out = subprocess.run([sys.executable, "-c", PROBE, busybox_layer, str(tmp_path)], capture_output=True, text=True,
                         timeout=60, cwd=Path(__file__).resolve().parents[2], env={**os.environ, "PYTHONPATH": "."})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "((3, False), 'out\\nerr\\n', 0)"
    assert lines[1].startswith("((137, True), '', ") and int(lines[1].rstrip(")").rsplit(", ", 1)[1]) < 10
    assert lines[2].startswith("(('error', 125), ")
    assert lines[3] == "zygote gone"
