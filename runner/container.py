"""The caller's side of a container run: prepare scratch space, start the init, stream,
wait, time out, cancel.

Safe from any thread: the init is a new interpreter started with subprocess (vfork/exec,
no Python code between fork and exec), and every pipe is close-on-exec except the ones
passed to it by number.
"""

import marshal
import os
import resource
import secrets
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from oci.errors import UserError
from runner.caps import DOCKER_DEFAULT_MASK
from runner.spec import DEFAULT_PATH, InvalidRunSpec, RunSpec

_PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# -I: no PYTHON* variables, no user site; -S: skip site (the editable-install finder alone
# costs ~11 ms), so the project root is put on sys.path by hand
_BOOT = f"import sys; sys.path.insert(0, {_PROJECT_ROOT!r}); from runner.init import main; main()"

LOCALHOST_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


class ContainerError(UserError):
    """The container could not start its process (unknown user, missing executable, a
    mount or limit the machine refuses). `exit_code` is Docker's: 125, 126 or 127."""

    def __init__(self, message: str, exit_code: int = 125) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class RunResult:
    exit_code: int  # the process's, or 128+signal when it was killed
    signal: int | None
    oom_killed: bool
    timed_out: bool
    canceled: bool
    upper: str | None  # the upper dir, when the spec asked to keep it

    def describe(self) -> str:
        """One line for a user when the run did not simply exit."""
        if self.oom_killed:
            return f"container killed: out of memory (exit code {self.exit_code})"
        if self.timed_out:
            return f"container killed: timed out (exit code {self.exit_code})"
        if self.canceled:
            return f"container killed: canceled (exit code {self.exit_code})"
        if self.signal:
            return f"container process killed by signal {self.signal} (exit code {self.exit_code})"
        return f"exit code {self.exit_code}"


def validate(spec: RunSpec) -> None:
    if os.geteuid() != 0:
        limits = spec.limits
        if limits.memory or limits.pids or limits.cpus:
            raise InvalidRunSpec("memory, pids and cpu limits need root: a non-root caller's "
                                 "container has no cgroup of its own")
        if spec.network not in ("host", "none"):
            raise InvalidRunSpec(f"joining the network namespace {spec.network} needs root")
    if not spec.argv:
        raise InvalidRunSpec("no command specified")
    for layer in spec.layers:
        if not os.path.isdir(layer):
            raise InvalidRunSpec(f"layer directory does not exist: {layer}")
    if spec.network not in ("host", "none") and not os.path.exists(spec.network):
        raise InvalidRunSpec(f"network must be host, none or a network namespace path: {spec.network}")
    for mount in spec.mounts:
        if not mount.target.startswith("/"):
            raise InvalidRunSpec(f"invalid mount config: mount path must be absolute: {mount.target}")
        if mount.type == "bind" and not os.path.exists(mount.source):
            raise InvalidRunSpec(f'invalid mount config for type "bind": bind source path does not exist: {mount.source}')
        if mount.type not in ("bind", "tmpfs"):
            raise InvalidRunSpec(f"invalid mount type {mount.type!r} for {mount.target} (bind or tmpfs)")
    for name, (soft, hard) in spec.limits.rlimits.items():
        key = getattr(resource, "RLIMIT_" + name.upper(), None)
        if key is None:
            raise InvalidRunSpec(f"unknown rlimit {name!r}")
        allowed = resource.getrlimit(key)[1]
        if soft > hard or (allowed != resource.RLIM_INFINITY and hard > allowed):
            raise InvalidRunSpec(f"rlimit {name}={soft}:{hard} is not allowed here (hard limit {allowed})")


def _write_etc(directory: str, spec: RunSpec, hostname: str) -> None:
    """The files bind-mounted over the image's /etc/{resolv.conf,hosts,hostname}."""
    os.mkdir(directory)
    if spec.network == "host":
        with open("/etc/hosts") as f:
            hosts = f.read()
    else:
        hosts = LOCALHOST_HOSTS + f"127.0.1.1\t{hostname}\n"
    hosts += "".join(f"{address}\t{name}\n" for name, address in spec.extra_hosts.items())
    try:
        with open("/etc/resolv.conf") as f:
            resolv = f.read()
    except FileNotFoundError:
        resolv = ""
    for name, text in (("hosts", hosts), ("resolv.conf", resolv), ("hostname", hostname + "\n")):
        with open(os.path.join(directory, name), "w") as f:
            f.write(text)


class Container:
    """One run of `spec`: `start()`, then `wait()`; `signal()` and `kill()` from anywhere."""

    def __init__(self, spec: RunSpec, *, stdin: int | None = None, stdout: int | None = None,
                 stderr: int | None = None) -> None:
        self.spec = spec
        self.id = secrets.token_hex(32)
        self.hostname = spec.hostname or self.id[:12]
        self._stdio = (subprocess.DEVNULL if stdin is None else stdin, stdout, stderr)
        self._proc: subprocess.Popen | None = None
        self._ctl_w = self._status_r = -1
        self._scratch = ""
        self._timed_out = False

    def start(self) -> None:
        spec = self.spec
        validate(spec)
        owns_scratch = spec.scratch is None
        if spec.scratch is None:
            scratch = tempfile.mkdtemp(prefix="pybuild-run-")
        else:
            scratch = spec.scratch
            os.makedirs(scratch, exist_ok=True)
        self._scratch = scratch
        paths = {name: os.path.join(scratch, name) for name in ("upper", "work", "rootfs", "etc", "empty")}
        try:
            # overlay needs a lowerdir: an image without layers (FROM scratch) gets an empty one
            for name in ("upper", "work", "rootfs") + (() if spec.layers else ("empty",)):
                os.mkdir(paths[name], 0o755)
            _write_etc(paths["etc"], spec, self.hostname)
            self._spawn(paths, owns_scratch)
        except BaseException:
            import shutil

            for path in paths.values():
                shutil.rmtree(path, ignore_errors=True)
            if owns_scratch:
                shutil.rmtree(scratch, ignore_errors=True)
            raise

    def _spawn(self, paths: dict[str, str], owns_scratch: bool) -> None:
        spec, scratch = self.spec, self._scratch
        init_spec = {
            "id": self.id, "layers": [os.path.abspath(p) for p in spec.layers], "argv": spec.argv,
            "env": spec.env, "cwd": spec.cwd, "user": spec.user, "hostname": self.hostname,
            "network": spec.network, "default_path": DEFAULT_PATH,
            "mounts": [{"target": m.target, "type": m.type, "source": os.path.abspath(m.source) if m.source else "",
                        "readonly": m.readonly, "options": m.options} for m in spec.mounts],
            "limits": {"memory": spec.limits.memory, "pids": spec.limits.pids, "cpus": spec.limits.cpus,
                       "rlimits": spec.limits.rlimits},
            "scratch": scratch, "owns_scratch": owns_scratch, "keep_upper": spec.keep_upper,
            "rootfs": paths["rootfs"], "upper": paths["upper"], "work": paths["work"],
            "etc": paths["etc"], "empty_layer": paths["empty"], "caps": DOCKER_DEFAULT_MASK,
            "rootless": os.geteuid() != 0,
        }
        spec_r, spec_w = os.pipe()
        ctl_r, self._ctl_w = os.pipe()
        self._status_r, status_w = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _BOOT, str(spec_r), str(ctl_r), str(status_w)],
                pass_fds=(spec_r, ctl_r, status_w), stdin=self._stdio[0], stdout=self._stdio[1],
                stderr=self._stdio[2], start_new_session=True, env={})
        finally:
            for fd in (spec_r, ctl_r, status_w):
                os.close(fd)
        with os.fdopen(spec_w, "wb") as f:
            f.write(marshal.dumps(init_spec))

    def signal(self, sig: int) -> None:
        """Forward `sig` to the container's PID 1 (which, like any PID 1, ignores signals
        it has no handler for)."""
        if sig == signal.SIGKILL:  # the init cannot catch it to forward it: ask it instead
            self._control(b"K")
        elif self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(sig)

    def _control(self, message: bytes) -> None:
        try:
            os.write(self._ctl_w, message)
        except OSError:
            pass  # the init has finished: there is nothing left to signal

    def kill(self) -> None:
        """Cancel: SIGKILL every process of the container; wait() then reports it."""
        self._control(b"k")

    def wait(self, timeout: float | None = None) -> RunResult:
        try:
            return self._wait(timeout)
        except KeyboardInterrupt:
            self.kill()
            self._wait(None)
            raise

    def _wait(self, timeout: float | None) -> RunResult:
        assert self._proc is not None, "start() first"
        deadline = None if timeout is None else time.monotonic() + timeout
        chunks = []
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self._status_r], [], [], remaining)
            if not ready:
                self._timed_out = True
                self.kill()
                deadline = None
                continue
            data = os.read(self._status_r, 65536)
            if not data:
                break
            chunks.append(data)
        self._proc.wait()
        os.close(self._status_r)
        os.close(self._ctl_w)
        if not chunks:
            raise RuntimeError(f"container init exited with {self._proc.returncode} without a status")
        outcome = marshal.loads(b"".join(chunks))
        if outcome.get("error"):
            raise ContainerError(outcome["error"], outcome["exit_code"])
        keep = self.spec.keep_upper
        return RunResult(exit_code=outcome["exit_code"], signal=outcome["signal"],
                         oom_killed=outcome["oom_killed"], timed_out=self._timed_out,
                         canceled=outcome["canceled"] and not self._timed_out,
                         upper=os.path.join(self._scratch, "upper") if keep else None)


def run(spec: RunSpec, *, timeout: float | None = None, stdin: int | None = None,
        stdout: int | None = None, stderr: int | None = None) -> RunResult:
    """Run `spec` to completion; stdout/stderr are file descriptors the process writes to
    directly (inherit the caller's when None)."""
    container = Container(spec, stdin=stdin, stdout=stdout, stderr=stderr)
    container.start()
    return container.wait(timeout)
