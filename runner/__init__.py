"""Run a process in an isolated root, like `runc run` with Docker's default spec.

Use: `runner.run(RunSpec(layers=[...], argv=[...]), timeout=...) -> RunResult`, or
`Container(spec)` for `start()` / `signal()` / `kill()` / `wait()`.

Contract (each line has a test in tests/runner/):
- Namespaces: new mount, PID, UTS and IPC namespaces; the process is PID 1; the hostname
  is the spec's, or the first 12 hex digits of the container id.
- Network: `host` shares the caller's network namespace (builds' default); `none` gets a
  new one holding only the loopback interface, up; a path (e.g. /run/netns/NAME) joins
  that namespace.
- Root: an overlay of the read-only `layers` (bottom first; none gives an empty root)
  plus a fresh upper and work dir under `scratch`; the layers are never written; `pivot_root` (never chroot) with the
  old root detached, so no host mount is visible.
- /proc: runc's masked paths (/proc/kcore, keys, timer_list, sched_debug, scsi, acpi,
  asound, latency_stats, timer_stats, /sys/firmware, /sys/devices/virtual/powercap: an
  empty read-only tmpfs or /dev/null over them) and read-only paths (/proc/sys,
  sysrq-trigger, irq, bus, fs).
- /dev: a tmpfs with null, zero, full, random, urandom, tty, pts (devpts newinstance) and
  the ptmx link, shm, mqueue, and the fd, stdin, stdout, stderr links.
- /sys is sysfs, read-only.
- /etc/resolv.conf, /etc/hosts and /etc/hostname are bind mounts of files the runner
  writes; mount-point stubs it creates are removed from a kept upper dir, so they never
  reach a layer.
- Mounts: bind mounts (read-write or read-only) and tmpfs mounts; targets are resolved
  inside the root, so a symlink in the image never leads a mount outside it.
- Process: argv, env (PATH, HOSTNAME and HOME filled in when absent, as Docker does),
  cwd (created if missing).
- User: `name`, `uid`, `uid:gid`, `name:group` resolved against the root's /etc/passwd
  and /etc/group with supplementary groups (runc's rules); unknown names fail with 125.
- umask 0022.
- Capabilities: bounding set = Docker's default 14; root gets them as effective and
  permitted, other users none; inheritable and ambient empty.
- no_new_privs is set: a setuid binary does not raise privileges.
- rlimits from the spec; one above this machine's hard limit is refused before start.
- cgroups: memory (no swap on top), pids and cpu limits in a cgroup of the container's
  own, removed afterwards; an OOM kill is reported as such (exit 137, oom_killed).
- Devices: a device cgroup lets the process create nodes but open only the default
  devices, so a node made for a host disk cannot be read.
- Exit: the process's exit code, 128+signal when killed; failures to start are
  ContainerError with Docker's codes (125 setup, 126 not executable, 127 not found).
- Signals sent with Container.signal() reach PID 1.
- stdout and stderr are the caller's file descriptors, written to as the process runs.
- A timeout, Container.kill() and Ctrl-C in wait() kill every process of the container.
- Nothing is left behind after any exit, also when the caller is SIGKILLed: no mount,
  process, cgroup or scratch directory (the upper dir stays when `keep_upper`).
- Only stdin, stdout and stderr reach the process: no descriptor leaks in from the caller.
- Safe from a threaded caller: each container's init is a fresh interpreter (no fork of
  the caller), so runs in parallel threads do not disturb each other. A single-threaded
  caller may ask for `fork=True` (the init is then a fork of it, which saves an
  interpreter's start; `pybuild run` does this); it is refused while another thread runs.
- Non-root callers get a user namespace mapping their uid and gid to 0, an overlay with
  `userxattr` (whiteouts and opaque dirs as `user.overlay.*`), host device nodes bound
  in, no CAP_MKNOD; cgroup limits, joining a network namespace and any user but root are
  refused with a clear error (docs/runner.md).
"""

_EXPORTS = {
    "run": "runner.container", "Container": "runner.container", "ContainerError": "runner.container",
    "RunResult": "runner.container", "RunSpec": "runner.spec", "Mount": "runner.spec",
    "Limits": "runner.spec", "InvalidRunSpec": "runner.spec", "parse_size": "runner.spec",
}


def __getattr__(name: str):
    # lazy: the container init imports this package and must not pay for the caller's side
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'runner' has no attribute {name!r}")
