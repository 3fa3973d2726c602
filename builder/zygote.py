"""RUN containers forked from a process made before the build starts its threads.

The solver is threaded, so the runner cannot fork a container's init from it and spawns
a fresh interpreter for every RUN instead (~14 ms of CPU, ~30 ms on a loaded machine:
half of what a `RUN true` step costs). A zygote, forked from the build while it still
has one thread, is single-threaded for good: for each RUN it forks a child that runs
`runner.Container(fork=True)` (whose init is then a fork too) and sends back how the run
ended. The RUN's output goes to the descriptor the solver passes along.

The zygote lives in the mount namespace the build started in, so it serves only the
steps whose mounts need nothing of the step's private namespace (see Solver._run).
Cancelling (`kill`) signals the child, which cancels its container. The zygote ends
when the build closes it or dies (its socket then reads end-of-file).
"""

from __future__ import annotations

import marshal
import os
import signal
import socket
import struct
import threading

__all__ = ["Zygote", "ZygoteRun"]

_PID = struct.Struct("=i")


class Zygote:
    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self._sock = sock
        self._lock = threading.Lock()

    @classmethod
    def start(cls) -> Zygote | None:
        """Fork the zygote; None when this process already runs other threads (a fork
        would copy their locks mid-use)."""
        import _thread

        if _thread._count() or threading.active_count() > 1:
            return None
        from runner import init  # noqa: F401 - imported once, for every fork
        from runner.container import Container  # noqa: F401

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            try:
                ours.close()
                _serve(theirs)
            finally:
                os._exit(0)
        theirs.close()
        return cls(pid, ours)

    def run(self, spec, output_fd: int) -> ZygoteRun:
        """Start `spec` (a runner.RunSpec) with stdout and stderr on `output_fd`."""
        import pickle

        result_r, result_w = os.pipe()
        try:
            with self._lock:
                socket.send_fds(self._sock, [pickle.dumps(spec)], [output_fd, result_w])
                reply = self._sock.recv(_PID.size)
        finally:
            os.close(result_w)
        if len(reply) != _PID.size:
            os.close(result_r)
            raise RuntimeError("the build's RUN zygote has ended")
        return ZygoteRun(_PID.unpack(reply)[0], result_r)

    def close(self) -> None:
        self._sock.close()  # the zygote reads end-of-file and exits
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


class ZygoteRun:
    """A RUN container started by the zygote: `wait()` gives its runner.RunResult (or
    raises runner.ContainerError), `kill()` cancels it."""

    def __init__(self, pid: int, result_fd: int) -> None:
        self.pid = pid
        self._result_fd = result_fd
        self._done = False

    def kill(self) -> None:
        if not self._done:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass  # it has finished already

    def wait(self):
        from runner import ContainerError, RunResult

        chunks = []
        try:
            while chunk := os.read(self._result_fd, 65536):
                chunks.append(chunk)
        finally:
            os.close(self._result_fd)
            self._done = True
        if not chunks:
            raise RuntimeError("a RUN container's process ended without a result")
        outcome = marshal.loads(b"".join(chunks))
        if outcome[0] == "error":
            raise ContainerError(outcome[1], outcome[2])
        return RunResult(*outcome[1:])


def _serve(sock: socket.socket) -> None:
    # Children are reaped by the kernel: the zygote waits for nothing.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    # Ctrl-C is the build's to handle (it cancels the containers). A handler, not
    # SIG_IGN, which the RUN commands would inherit through exec.
    signal.signal(signal.SIGINT, lambda *_: None)
    # The build's own SIGTERM handler (pybuild/commands/build.py) is not for forks: the
    # cancel's SIGTERM ends a RUN child that has no container yet.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(sock, 1 << 20, 2)
        except OSError:
            return
        if not message:
            return
        output_fd, result_w = fds
        pid = os.fork()
        if pid == 0:
            try:
                sock.close()
                _run_child(message, output_fd, result_w)
            finally:
                os._exit(0)
        os.close(output_fd)
        os.close(result_w)
        sock.send(_PID.pack(pid))


def _run_child(message: bytes, output_fd: int, result_w: int) -> None:
    import pickle

    from runner import Container, ContainerError

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the runner waits for its init
    outcome: tuple
    try:
        container = Container(pickle.loads(message), stdout=output_fd, stderr=output_fd, fork=True)
        canceled = []

        def cancel(*_: object) -> None:
            canceled.append(True)
            container.kill()  # lost while start() has no control pipe yet: see below

        signal.signal(signal.SIGTERM, cancel)
        container.start()
        if canceled:
            container.kill()
        os.close(output_fd)
        r = container.wait()
        outcome = ("ok", r.exit_code, r.signal, r.oom_killed, r.timed_out, r.canceled, r.upper)
    except ContainerError as exc:
        outcome = ("error", str(exc), exc.exit_code)
    except BaseException as exc:  # noqa: BLE001 - reported to the build as a failed start
        outcome = ("error", f"container start failed: {type(exc).__name__}: {exc}", 125)
    data = memoryview(marshal.dumps(outcome))
    while data:
        data = data[os.write(result_w, data):]
    os.close(result_w)
