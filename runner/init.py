"""The container init: a fresh single-threaded interpreter started by `runner.container`
(never a fork of a caller that may be a threaded builder), or a fork of a caller that
asked for one and has no other thread (the `pybuild run` command: it saves the
interpreter's start-up).

It reads the run spec from a pipe (marshal: a builtin module, where json costs ~6 ms to
import, and both ends are the same interpreter), creates the cgroups, unshares the PID,
UTS, IPC and (unless `host`) network namespaces and forks; the child is PID 1 of the new
PID namespace: while the init moves it into the cgroups, it unshares its own mount
namespace (so pivot_root leaves this process's root alone), builds the root filesystem
and drops privileges; it execs the payload once the init says it is in the cgroups. This process stays outside, forwards signals, kills PID 1 (and so the whole PID
namespace) on cancel or when the caller's control pipe closes (the caller died), then
removes the cgroups and scratch directories and writes the outcome on the status pipe.

Imports are kept to what a start needs: `python -X importtime` budget ~10 ms.
"""

import marshal
import os
import select
import stat
import sys

# the C module under `signal`: `signal` itself imports enum, ~5 ms of every start
import _signal as signal

from runner import caps, cgroups, libc

FORWARDED_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1,
                     signal.SIGUSR2, signal.SIGWINCH, signal.SIGCONT)


class SetupError(Exception):
    """A failure the user caused (unknown user, missing executable); `code` is the exit
    status Docker gives for it."""

    def __init__(self, message: str, code: int = 125) -> None:
        super().__init__(message)
        self.code = code


def _report(fd: int, message: dict) -> None:
    data = marshal.dumps(message)
    os.write(fd, len(data).to_bytes(4, "little") + data)


def _exec(argv: list[str], env: dict[str, str]) -> None:
    try:
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        where = "no such file or directory" if "/" in argv[0] else "executable file not found in $PATH"
        raise SetupError(f'exec: "{argv[0]}": {where}', 127) from None
    except PermissionError:
        raise SetupError(f'exec: "{argv[0]}": permission denied', 126) from None
    except OSError as exc:
        raise SetupError(f'exec: "{argv[0]}": {exc.strerror}', 126) from None


def container_main(spec: dict, joined_fd: int, report_fd: int) -> None:
    """PID 1 of the container, up to exec. Never returns. The init moves it into the
    cgroups meanwhile and says so on `joined_fd`, which PID 1 waits for before exec."""
    code = 125
    try:
        libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores these; exec keeps that
            signal.signal(sig, signal.SIG_DFL)
        libc.unshare(libc.CLONE_NEWNS)
        libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last_cap = int(f.read())

        # everything used after pivot_root must be imported now: the interpreter's
        # stdlib is out of reach from inside the container (os.execvpe imports warnings)
        import warnings  # noqa: F401

        from runner import rootfs, users

        if spec["limits"]["rlimits"]:
            import resource

        os.umask(0)
        stubs: list[str] = []
        try:
            rootfs.build(spec, stubs)
        finally:
            _report(report_fd, {"stubs": stubs})
        rootfs.pivot(spec["rootfs"])
        rootfs.protect_kernel_paths()
        libc.sethostname(spec["hostname"])
        try:
            user = users.resolve_user(spec["user"])
        except users.UnknownUser as exc:
            raise SetupError(str(exc)) from None
        env = dict(spec["env"])
        env.setdefault("PATH", spec["default_path"])
        env.setdefault("HOSTNAME", spec["hostname"])
        env.setdefault("HOME", user.home)
        os.umask(0o022)
        os.makedirs(spec["cwd"], 0o755, exist_ok=True)
        os.chdir(spec["cwd"])
        if spec["limits"]["rlimits"]:
            for name, (soft, hard) in spec["limits"]["rlimits"].items():
                resource.setrlimit(getattr(resource, "RLIMIT_" + name.upper()), (soft, hard))
        if spec["rootless"] and (user.uid, user.gid) != (0, 0):
            raise SetupError(f"user {spec['user']!r} is not mapped: a non-root caller's container "
                             "runs as root (uid 0, gid 0) only")
        caps.drop_bounding_set(last_cap, spec["caps"])
        if not spec["rootless"]:  # setgroups is denied in a user namespace of one's own
            # the primary group first, as Docker does since CVE-2023-25173
            os.setgroups(list(dict.fromkeys((user.gid, *user.groups))))
        os.setresgid(user.gid, user.gid, user.gid)
        os.setresuid(user.uid, user.uid, user.uid)
        caps.limit_process_caps(user.uid, spec["caps"])
        libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
        if os.read(joined_fd, 1) != b"j":
            raise SetupError("container setup failed: the init could not place it in its cgroups")
        # only stdio reaches the payload; the report pipe is close-on-exec
        os.closerange(3, report_fd)
        os.closerange(report_fd + 1, 1 << 20)
        _exec(spec["argv"], env)
    except SetupError as exc:
        code = exc.code
        _report(report_fd, {"error": str(exc), "code": code})
    except BaseException as exc:  # any other setup failure: report it, never run the payload
        _report(report_fd, {"error": f"container setup failed: {exc}", "code": 125})
    os._exit(code)


def _rmtree(path: str) -> None:
    """shutil.rmtree without shutil's import cost; never follows symlinks."""
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return
    except NotADirectoryError:
        os.unlink(path)
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            _rmtree(entry.path)
        else:
            os.unlink(entry.path)
    os.rmdir(path)


def _remove_stubs(upper: str, stubs: list[str]) -> None:
    """Mount points the runner created must not end up in a layer (BuildKit does the
    same): empty files and empty directories it made are removed, deepest first."""
    for stub in reversed(stubs):
        path = upper + stub
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        try:
            if stat.S_ISDIR(st.st_mode):
                os.rmdir(path)
            elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
                os.unlink(path)
        except OSError:
            continue  # the payload put something in it: it is content now


class Supervisor:
    def __init__(self, spec: dict, ctl_fd: int) -> None:
        self.spec = spec
        self.ctl_fd = ctl_fd
        self.orphaned = False
        self.canceled = False
        self.stubs: list[str] = []
        self.error: dict | None = None

    def enter_namespaces(self) -> None:
        if self.spec["rootless"]:
            self._enter_user_namespace()
        flags = libc.CLONE_NEWPID | libc.CLONE_NEWUTS | libc.CLONE_NEWIPC
        network = self.spec["network"]
        if network == "none":
            flags |= libc.CLONE_NEWNET
        elif network != "host":
            fd = os.open(network, os.O_RDONLY | os.O_CLOEXEC)
            try:
                libc.setns(fd, libc.CLONE_NEWNET)
            finally:
                os.close(fd)
        libc.unshare(flags)
        if network == "none":
            from runner import network as net

            net.loopback_up()

    @staticmethod
    def _enter_user_namespace() -> None:
        """A user namespace mapping the caller's own uid and gid to 0: the one mapping an
        unprivileged process may write itself (no newuidmap, no /etc/subuid range)."""
        uid, gid = os.geteuid(), os.getegid()
        libc.unshare(libc.CLONE_NEWUSER)
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            fd = os.open(f"/proc/self/{name}", os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)

    def run(self, groups: list[str]) -> int:
        """Start PID 1 and wait for it; returns its wait status."""
        report_r, report_w = os.pipe()
        joined_r, joined_w = os.pipe()
        # a signal sent to this process before the forwarding handlers exist is held
        # back, not lost (nor fatal to the init)
        signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
        pid = os.fork()
        if pid == 0:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED_SIGNALS)  # exec keeps the mask
            os.close(report_r)
            os.close(joined_w)
            container_main(self.spec, joined_r, report_w)
        os.close(report_w)
        os.close(joined_r)
        for sig in FORWARDED_SIGNALS:
            signal.signal(sig, lambda s, _f: os.kill(pid, s))
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED_SIGNALS)
        # Moved from here, as runc does, while PID 1 builds its root: a cgroup v1
        # migration waits for an RCU grace period (8-20 ms under load) and PID 1 has
        # work to do meanwhile. It execs nothing before the "j".
        join_error = None
        try:
            cgroups.join(groups, pid)
            os.write(joined_w, b"j")
        except (BrokenPipeError, ProcessLookupError):
            pass  # PID 1 has ended on its own already (e.g. an unknown user): its report says why
        except OSError as exc:
            join_error = {"error": f"container start failed: cannot join its cgroups: {exc}", "code": 125}
            os.kill(pid, signal.SIGKILL)
        finally:
            os.close(joined_w)
        pidfd = os.pidfd_open(pid)
        watched = [pidfd, self.ctl_fd]
        while True:
            ready, _, _ = select.select(watched, [], [])
            if self.ctl_fd in ready:
                data = os.read(self.ctl_fd, 64)
                if not data:
                    self.orphaned = True
                    watched.remove(self.ctl_fd)
                # EOF: the caller died; k: cancel; K: the caller's SIGKILL, which only
                # this process can deliver (it cannot be caught to be forwarded)
                if not data or b"k" in data:
                    self.canceled = True
                if not data or b"k" in data or b"K" in data:
                    os.kill(pid, signal.SIGKILL)  # PID 1 dying takes its namespace with it
            if pidfd in ready:
                break
        _, status = os.waitpid(pid, 0)
        for sig in FORWARDED_SIGNALS:  # the pid may be reused from now on
            signal.signal(sig, signal.SIG_IGN)
        os.close(pidfd)
        with os.fdopen(report_r, "rb") as f:
            reports = f.read()
        while reports:
            size = int.from_bytes(reports[:4], "little")
            message = marshal.loads(reports[4:4 + size])
            reports = reports[4 + size:]
            self.stubs = message.get("stubs", self.stubs)
            if "error" in message:
                self.error = message
        self.error = join_error or self.error
        return status

    def clean_scratch(self) -> None:
        spec = self.spec
        keep = spec["keep_upper"] and not self.orphaned
        if keep:
            _remove_stubs(spec["upper"], self.stubs)
        for path in (spec["work"], spec["rootfs"], spec["etc"], spec["empty_layer"]):
            _rmtree(path)
        if spec["run_dir"]:
            _rmtree(spec["run_dir"])
        if not keep:
            _rmtree(spec["upper"])
            if spec["owns_scratch"]:
                _rmtree(spec["scratch"])


def main() -> None:
    """The init interpreter's entry: the spec comes on a pipe, the descriptors in argv."""
    spec_fd, ctl_fd, status_fd = (int(a) for a in sys.argv[1:4])
    with os.fdopen(spec_fd, "rb") as f:
        spec = marshal.loads(f.read())
    supervise(spec, ctl_fd, status_fd)


def supervise(spec: dict, ctl_fd: int, status_fd: int) -> None:
    """Run the container of `spec`, clean up, write the outcome on `status_fd` and end
    this process (never returns): the init's work, in an interpreter of its own or in a
    child forked from a single-threaded caller."""
    supervisor = Supervisor(spec, ctl_fd)
    outcome: dict = {"exit_code": None, "signal": None, "oom_killed": False}
    groups: list[str] = []
    try:
        if spec["rootless"]:  # no cgroup of its own to write to, hence no limits (refused before)
            groups, devices_confined = [], False
        else:
            groups, devices_confined = cgroups.create("pybuild-" + spec["id"], spec["limits"])
        if not devices_confined:  # no device cgroup: then no mknod either
            spec["caps"] &= ~(1 << caps.CAP_MKNOD)
        supervisor.enter_namespaces()
        status = supervisor.run(groups)
        if os.WIFSIGNALED(status):
            outcome["signal"] = os.WTERMSIG(status)
            outcome["exit_code"] = 128 + outcome["signal"]
        else:
            outcome["exit_code"] = os.WEXITSTATUS(status)
        outcome["oom_killed"] = cgroups.oom_killed(groups)
        if supervisor.error and not supervisor.canceled:
            outcome["error"], outcome["exit_code"] = supervisor.error["error"], supervisor.error["code"]
    except (cgroups.CgroupError, OSError) as exc:
        outcome["error"], outcome["exit_code"] = f"container start failed: {exc}", 125
    finally:
        try:
            cgroups.remove(groups)
            supervisor.clean_scratch()
        finally:  # a cleanup failure keeps its traceback, but the caller still hears how the run ended
            outcome["canceled"] = supervisor.canceled
            try:
                os.write(status_fd, marshal.dumps(outcome))
            except BrokenPipeError:
                pass  # the caller is gone; cleaning up was all that was left to do
    # nothing is buffered: skip the interpreter's shutdown, a few ms the caller waits for
    os._exit(0)


if __name__ == "__main__":
    main()
