"""SIGINT and SIGTERM cancel a `pybuild build` as they cancel docker's: the running RUN
container is killed, nothing is committed or left behind, the exit code is 128+signal.
A RUN process killed by a signal of someone else's is a failed step, not a cancel.

Each build runs a real `pybuild build` subprocess; the RUN's `sleep` carries a nonce
(busybox adds up its arguments) so the test finds it through /proc. Both ways a RUN is
started are covered: a plain RUN forks from the build's zygote, a RUN with a mount
starts a fresh interpreter (builder/zygote.py)."""

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import peers
import pytest

RUNS = {
    "zygote": "RUN sleep $NAP {nonce}",
    "fresh-interpreter": "RUN --mount=type=tmpfs,target=/scratch sleep $NAP {nonce}",
}


def _pids_with(marker: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue  # it has just ended
            if marker.encode() in cmdline:
                pids.append(int(entry))
    return pids


def _mounts_under(root: Path) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(root) in line]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a non-interactive shell starts a `&` job


def _start(pybuild: peers.Pybuild, context: Path, *, sigint_ignored: bool = False) -> tuple[subprocess.Popen, str]:
    """A build of `context` tagged cancel:test, once its RUN's sleep is running; the
    sleep's marker."""
    nonce = "0.0" + str(uuid.uuid4().int)[:12]  # a fraction of a second, unique
    dockerfile = context / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().format(nonce=nonce))
    proc = subprocess.Popen([*pybuild.command, "build", "--progress=plain", "--build-arg", "NAP=30",
                             "-t", "cancel:test", str(context)], env=pybuild.env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=_ignore_sigint if sigint_ignored else None)
    try:
        peers.wait_until(lambda: any(_pids_with("sleep\x0030\x00" + nonce)), 20, "the RUN's sleep",
                         alive=lambda: proc.poll() is None)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    return proc, nonce


def _stderr_at_exit(proc: subprocess.Popen) -> str:
    try:
        return proc.communicate(timeout=20)[1]
    except subprocess.TimeoutExpired:
        proc.kill()  # it went on building: stop it before it commits into the next test
        proc.communicate()
        raise


@pytest.mark.parametrize("path", RUNS)
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_run_cancels_the_build_and_leaves_nothing(pybuild, busybox_image, context, store_root,
                                                                  path, sig, code):
    ctx = context(f"FROM {busybox_image}\nARG NAP\n{RUNS[path]}\n")
    proc, nonce = _start(pybuild, ctx)
    started = time.monotonic()
    proc.send_signal(sig)
    stderr = _stderr_at_exit(proc)

    assert proc.returncode == code, stderr
    assert time.monotonic() - started < 10  # the sleep was killed, not waited for
    assert stderr.rstrip().splitlines()[-1] == "ERROR: canceled"
    assert "CANCELED" in stderr and "exporting to image" not in stderr
    assert "cancel" not in pybuild("images").stdout
    assert _pids_with(nonce) == []
    assert _mounts_under(store_root) == []
    assert list((store_root / "tmp").iterdir()) == []

    rerun = pybuild("build", "--progress=plain", "--build-arg", "NAP=0", "-t", "cancel:test", ctx)
    # No cache record of the canceled step: the rerun's miss is not "ARG NAP changed".
    assert "not built before" in rerun.stderr
    assert "cancel" in pybuild("images").stdout


def test_sigint_cancels_a_build_started_with_sigint_ignored(pybuild, busybox_image, context, store_root):
    # docker's CLI handles SIGINT however it was started; `pybuild build … &` in a script
    # used to let the RUN finish and commit the image with exit code 0.
    ctx = context(f"FROM {busybox_image}\nARG NAP\n{RUNS['zygote']}\n")
    proc, nonce = _start(pybuild, ctx, sigint_ignored=True)
    proc.send_signal(signal.SIGINT)
    stderr = _stderr_at_exit(proc)

    assert proc.returncode == 130, stderr
    assert stderr.rstrip().splitlines()[-1] == "ERROR: canceled"
    assert "cancel" not in pybuild("images").stdout
    assert _pids_with(nonce) == []
    assert list((store_root / "tmp").iterdir()) == []


@pytest.mark.parametrize("path", RUNS)
def test_a_run_process_killed_by_another_signal_fails_the_step(pybuild, busybox_image, context, store_root, path):
    ctx = context(f"FROM {busybox_image}\nARG NAP\n{RUNS[path]}\n")
    proc, nonce = _start(pybuild, ctx)
    for pid in _pids_with("sleep\x0030\x00" + nonce):
        os.kill(pid, signal.SIGKILL)
    stderr = _stderr_at_exit(proc)

    assert proc.returncode == 1, stderr
    assert "did not complete successfully" in stderr and "exit code 137" in stderr
    assert "ERROR: canceled" not in stderr
    assert "cancel" not in pybuild("images").stdout
    assert list((store_root / "tmp").iterdir()) == []
