"""The caller's side of a container run: prepare scratch space, start the init, stream,
wait, time out, cancel.

Safe from any thread: the init is a new interpreter started with subprocess (vfork/exec,
no Python code between fork and exec), and every pipe is close-on-exec except the ones
passed to it by number. A single-threaded caller may ask for `fork=True` instead: the
init is then a fork of the caller, which saves an interpreter's start (~10 ms of the
~20 ms a run takes); that is what `pybuild run` does.

Imports stay light (no subprocess, tempfile or secrets at import time): `pybuild run`
pays for each of them on every start.
"""

import _signal as signal  # `signal` imports enum: ~5 ms of every `pybuild run`
import _thread
import marshal
import os
import resource
import select
import sys
import time

from oci.errors import UserError
from runner.caps import DOCKER_DEFAULT_MASK
from runner.spec import DEFAULT_PATH, InvalidRunSpec, RunSpec, Record

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


class RunResult(Record):
    __slots__ = ("exit_code", "signal", "oom_killed", "timed_out", "canceled", "upper")

    def __init__(self, exit_code: int, signal: int | None, oom_killed: bool, timed_out: bool, canceled: bool,
                 upper: str | None) -> None:
        self.exit_code = exit_code  # the process's, or 128+signal when it was killed
        self.signal = signal
        self.oom_killed = oom_killed
        self.timed_out = timed_out
        self.canceled = canceled
        self.upper = upper  # the upper dir, when the spec asked to keep it

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


def _make_temp_dir(base: str) -> str:
    """tempfile.mkdtemp's directory, without importing tempfile (random, shutil, ...)."""
    while True:
        path = os.path.join(base, "pybuild-run-" + os.urandom(6).hex())
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue


def run_dir_path(container_id: str) -> str:
    """`/dev/shm/pybuild-<id>`: a tmpfs directory for the small per-run things (the root's
    mount point, the /etc files, the empty layer). Deleting them from the disk costs ~1 ms
    each here (ext4 with `discard`, busy) and the caller waits for that cleanup; the upper
    and work dirs, where the payload writes, stay on the disk."""
    return "/dev/shm/pybuild-" + container_id[:24]


def _make_run_dir(container_id: str) -> str | None:
    """The run dir, made afresh (never one found there: /dev/shm is writable by anyone);
    None if /dev/shm is unusable, and the scratch dir serves instead."""
    path = run_dir_path(container_id)
    try:
        os.mkdir(path, 0o700)
    except OSError:
        return None
    return path


class _ForkedInit:
    """The part of subprocess.Popen's interface Container uses, for an init forked from
    the caller."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)


class Container:
    """One run of `spec`: `start()`, then `wait()`; `signal()` and `kill()` from anywhere.
    With `fork`, the init is a fork of this process (see the module docstring): refused
    while another thread runs."""

    def __init__(self, spec: RunSpec, *, stdin: int | None = None, stdout: int | None = None,
                 stderr: int | None = None, fork: bool = False) -> None:
        self.spec = spec
        self.id = os.urandom(32).hex()
        self.hostname = spec.hostname or self.id[:12]
        self._stdio = (stdin, stdout, stderr)
        self._fork = fork
        self._proc = None
        self._ctl_w = self._status_r = -1
        self._scratch = ""
        self._timed_out = False

    def start(self) -> None:
        spec = self.spec
        validate(spec)
        owns_scratch = spec.scratch is None
        if spec.scratch is None:
            scratch = _make_temp_dir(os.environ.get("TMPDIR") or "/tmp")
        else:
            scratch = spec.scratch
            os.makedirs(scratch, exist_ok=True)
        self._scratch = scratch
        run_dir = _make_run_dir(self.id)
        paths = {name: os.path.join(scratch, name) for name in ("upper", "work")}
        paths.update({name: os.path.join(run_dir or scratch, name) for name in ("rootfs", "etc", "empty")})
        try:
            # overlay needs a lowerdir: an image without layers (FROM scratch) gets an empty one
            for name in ("upper", "work", "rootfs") + (() if spec.layers else ("empty",)):
                os.mkdir(paths[name], 0o755)
            _write_etc(paths["etc"], spec, self.hostname)
            self._spawn(paths, owns_scratch, run_dir or "")
        except BaseException:
            import shutil

            for path in [*paths.values(), run_dir] + ([scratch] if owns_scratch else []):
                if path:
                    shutil.rmtree(path, ignore_errors=True)
            raise

    def _spawn(self, paths: dict[str, str], owns_scratch: bool, run_dir: str) -> None:
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
            "etc": paths["etc"], "empty_layer": paths["empty"], "run_dir": run_dir, "caps": DOCKER_DEFAULT_MASK,
            "rootless": os.geteuid() != 0,
        }
        if self._fork:
            self._fork_init(init_spec)
            return
        import subprocess

        spec_r, spec_w = os.pipe()
        ctl_r, self._ctl_w = os.pipe()
        self._status_r, status_w = os.pipe()
        stdin = subprocess.DEVNULL if self._stdio[0] is None else self._stdio[0]
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _BOOT, str(spec_r), str(ctl_r), str(status_w)],
                pass_fds=(spec_r, ctl_r, status_w), stdin=stdin, stdout=self._stdio[1],
                stderr=self._stdio[2], start_new_session=True, env={})
        finally:
            for fd in (spec_r, ctl_r, status_w):
                os.close(fd)
        with os.fdopen(spec_w, "wb") as f:
            f.write(marshal.dumps(init_spec))

    def _fork_init(self, init_spec: dict) -> None:
        if _thread._count():
            raise RuntimeError("Container(fork=True) from a process with other threads running: "
                               "a fork would copy their locks mid-use")
        from runner import init  # before the fork: both sides share the imported module

        stdin = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC) if self._stdio[0] is None else self._stdio[0]
        ctl_r, self._ctl_w = os.pipe()
        self._status_r, status_w = os.pipe()
        try:
            pid = os.fork()
            if pid == 0:
                try:
                    # what Popen(start_new_session=True, stdin=…, stdout=…, stderr=…) does;
                    # the caller's ends of the pipes must close here, or the init would
                    # not see the caller die
                    os.setsid()
                    os.close(self._ctl_w)
                    os.close(self._status_r)
                    for target, fd in enumerate((stdin, *self._stdio[1:])):
                        if fd is not None:
                            os.dup2(fd, target)
                    init.supervise(init_spec, ctl_r, status_w)
                finally:
                    os._exit(125)
            self._proc = _ForkedInit(pid)
        finally:
            for fd in (ctl_r, status_w) + ((stdin,) if self._stdio[0] is None else ()):
                os.close(fd)

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
        stdout: int | None = None, stderr: int | None = None, fork: bool = False) -> RunResult:
    """Run `spec` to completion; stdout/stderr are file descriptors the process writes to
    directly (inherit the caller's when None); `fork` as for Container."""
    container = Container(spec, stdin=stdin, stdout=stdout, stderr=stderr, fork=fork)
    container.start()
    return container.wait(timeout)
