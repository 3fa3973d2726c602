"""The real programs pybuild is tested against, started and stopped by PID.

Everything here starts real processes (dockerd, the CNCF registry) or runs real CLIs
(docker, skopeo, umoci, pybuild): no mocks. tests/conftest.py turns these into pytest
fixtures; bench/_peers.py reuses them for the benchmarks.

dockerd follows /work/shared/PEERS.md: no bridge, no iptables or forwarding changes, its
own data root, exec root, pidfile, config file and socket, so it neither touches the host's
network nor meets another test run's daemon.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent  # the venv running the tests: its pybuild, its python


def _load_base_images() -> ModuleType:
    spec = importlib.util.spec_from_file_location("base_images", REPO / "scripts" / "base_images.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# scripts/base_images.py is the one place that knows how base rootfs tars are made.
base_images = _load_base_images()


class CommandFailed(AssertionError):
    """A peer command that exited non-zero; the message carries its output for pytest."""


def run(cmd: Sequence[str | os.PathLike], *, check: bool = True, env: dict[str, str] | None = None,
        input: str | bytes | None = None, text: bool = True, timeout: float = 300,
        cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """Runs cmd with its output captured; with check, a failure raises with that output."""
    result = subprocess.run([str(c) for c in cmd], capture_output=True, env=env, input=input,
                            text=text, timeout=timeout, cwd=cwd)
    if check and result.returncode != 0:
        raise CommandFailed(f"{' '.join(map(str, cmd))} exited {result.returncode}\n"
                            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(ready, timeout: float, what: str, alive=lambda: True, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if not alive():
            break
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not become ready within {timeout:.0f} s\n{tail}")


def stop_process(proc: subprocess.Popen, grace: float = 30) -> None:
    """SIGTERM, wait, then SIGKILL: only the process this module started."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Pybuild:
    """Runs the pybuild CLI (the venv's entry point beside this interpreter) as a
    subprocess against one store root."""

    root: Path
    command: list[str] = field(default_factory=base_images.pybuild_command)

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYBUILD_ROOT": str(self.root)}

    def __call__(self, *args: str | os.PathLike, check: bool = True, input: str | None = None,
                 cwd: str | os.PathLike | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        return run([*self.command, *args], check=check, env=self.env(), input=input,
                   cwd=cwd, timeout=timeout)

    def inspect(self, image: str) -> dict:
        return json.loads(self("inspect", image).stdout)[0]


def import_base_image(pybuild: Pybuild, tar: Path, image: base_images.BaseImage) -> str:
    """Imports a base rootfs tar as scripts/base_images.py does; returns the image name."""
    changes = [arg for change in image.changes for arg in ("--change", change)]
    pybuild("import", *changes, tar, image.name)
    return image.name


@dataclass(frozen=True)
class DockerCLIs:
    """The two docker CLIs of this kind of machine, chosen deliberately.

    `debian` is docker.io's 20.10 CLI, the daemon's own version: with DOCKER_BUILDKIT=1 it
    reaches the daemon's built-in BuildKit (give `build` a `--network`). `newest` is the
    first docker on PATH (28.x here): it speaks to the 20.10 daemon by API negotiation but
    only builds with the legacy builder. Where there is only one, both name it.
    """

    debian: Path
    newest: Path

    @classmethod
    def find(cls) -> DockerCLIs:
        debian = Path("/usr/bin/docker")
        if not debian.exists():
            raise RuntimeError("docker.io's CLI /usr/bin/docker is missing: run scripts/test.sh")
        newest = Path(shutil.which("docker") or debian)
        return cls(debian=debian, newest=newest)


@dataclass
class Dockerd:
    """A dockerd of our own, reached through its unix socket."""

    home: Path
    proc: subprocess.Popen
    clis: DockerCLIs

    @property
    def socket(self) -> Path:
        return self.home / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def data_root(self) -> Path:
        return self.home / "data"

    def env(self, buildkit: bool = False) -> dict[str, str]:
        # DOCKER_CONFIG keeps `docker login` in tests away from root's ~/.docker.
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER_CONFIG": str(self.home / "config"),
                "DOCKER_BUILDKIT": "1" if buildkit else "0"}

    def docker(self, *args: str | os.PathLike, buildkit: bool = False, cli: Path | None = None,
               check: bool = True, input: str | None = None, timeout: float = 300,
               cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
        """Runs a docker CLI against this daemon: docker.io's 20.10 CLI unless cli says
        otherwise; buildkit picks BuildKit (DOCKER_BUILDKIT=1) over the legacy builder."""
        return run([cli or self.clis.debian, *args], env=self.env(buildkit), check=check,
                   input=input, timeout=timeout, cwd=cwd)

    def image_id(self, image: str) -> str:
        return self.docker("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()

    def ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(str(self.socket))
                s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                return s.recv(64).split(b" ")[1:2] == [b"200"]
        except OSError:
            return False

    @classmethod
    def start(cls, base: Path | None = None, timeout: float = 60) -> Dockerd:
        # A short path: containerd's sockets live under the exec root and unix socket
        # paths are limited to 108 bytes.
        home = Path(tempfile.mkdtemp(prefix="pbdockerd-", dir=base))
        (home / "config").mkdir()
        (home / "daemon.json").write_text("{}")
        log = open(home / "dockerd.log", "wb")
        proc = subprocess.Popen(
            ["dockerd", "--bridge=none", "--iptables=false", "--ip6tables=false",
             "--ip-forward=false", "--ip-masq=false",
             "--data-root", str(home / "data"), "--exec-root", str(home / "exec"),
             "--pidfile", str(home / "dockerd.pid"), "--config-file", str(home / "daemon.json"),
             "-H", f"unix://{home / 'docker.sock'}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        daemon = cls(home=home, proc=proc, clis=DockerCLIs.find())
        try:
            wait_until(daemon.ping, timeout, "dockerd", alive=lambda: proc.poll() is None,
                       log=home / "dockerd.log")
        except BaseException:
            daemon.stop()
            raise
        return daemon

    def stop(self) -> None:
        """Stops dockerd (which stops its containerd), then the containerd it started if
        dockerd could not, unmounts what they left under home and removes it."""
        containerd_pid = self.home / "exec" / "containerd" / "containerd.pid"
        pid = int(containerd_pid.read_text()) if containerd_pid.exists() else None
        stop_process(self.proc)
        if pid is not None and _is_child_containerd(pid, self.home):
            os.kill(pid, signal.SIGKILL)
        base_images.remove_tree(self.home)


def _is_child_containerd(pid: int, home: Path) -> bool:
    """True while pid is still the containerd started for this daemon (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(str(home).encode() in arg for arg in cmdline)


@dataclass
class Registry:
    """The CNCF registry (`docker-registry serve`) on 127.0.0.1, storage in a temp dir."""

    home: Path
    proc: subprocess.Popen
    port: int
    user: str | None = None
    password: str | None = None

    @property
    def address(self) -> str:  # what goes in an image reference: 127.0.0.1:PORT
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def get(self, path: str) -> int:
        """The HTTP status of GET path (no credentials)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: {self.address}\r\n\r\n".encode())
            return int(s.recv(64).split(b" ")[1])

    def ready(self) -> bool:
        try:
            return self.get("/v2/") in (200, 401)
        except OSError:
            return False

    @classmethod
    def start(cls, base: Path | None = None, htpasswd: bool = False, timeout: float = 30) -> Registry:
        home = Path(tempfile.mkdtemp(prefix="pbregistry-", dir=base))
        user = password = None
        auth = ""
        if htpasswd:
            user, password = "tester", secrets.token_hex(8)
            entry = run(["htpasswd", "-Bbn", user, password]).stdout.strip()
            (home / "htpasswd").write_text(entry + "\n")
            auth = f"auth:\n  htpasswd:\n    realm: pybuild-test\n    path: {home / 'htpasswd'}\n"
        for attempt in range(5):  # the free port may be taken between probe and bind
            port = free_port()
            (home / "config.yml").write_text(
                "version: 0.1\nlog:\n  level: warn\n"
                f"storage:\n  filesystem:\n    rootdirectory: {home / 'data'}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: 127.0.0.1:{port}\n  secret: {secrets.token_hex(16)}\n" + auth)
            log = open(home / "registry.log", "wb")
            proc = subprocess.Popen(["docker-registry", "serve", str(home / "config.yml")],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
            log.close()
            registry = cls(home=home, proc=proc, port=port, user=user, password=password)
            try:
                wait_until(registry.ready, timeout, "docker-registry", alive=lambda: proc.poll() is None,
                           log=home / "registry.log")
                return registry
            except RuntimeError:
                stop_process(proc)
                if attempt == 4:
                    shutil.rmtree(home, ignore_errors=True)
                    raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.home, ignore_errors=True)


@dataclass
class Skopeo:
    """skopeo with a policy of its own (accept anything), so no host file decides a test."""

    home: Path
    policy: Path = field(init=False)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.policy = self.home / "policy.json"
        self.policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))

    def __call__(self, *args: str | os.PathLike, check: bool = True) -> subprocess.CompletedProcess:
        return run(["skopeo", "--policy", self.policy, *args], check=check)


def umoci(*args: str | os.PathLike, check: bool = True) -> subprocess.CompletedProcess:
    return run(["umoci", *args], check=check)


def serve(peer: str) -> None:
    """Starts one peer for a person debugging a test, prints how to reach it, and stops it
    on Ctrl-C or SIGTERM: `.venv/bin/python tests/peers.py dockerd|registry`."""
    started = Dockerd.start() if peer == "dockerd" else Registry.start()
    if isinstance(started, Dockerd):
        print(f"export DOCKER_HOST={started.host} DOCKER_CONFIG={started.home / 'config'}"
              f"  # data root {started.data_root}", flush=True)
    else:
        print(f"registry at {started.url} (storage {started.home / 'data'})", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        signal.pause()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        started.stop()


if __name__ == "__main__":
    if sys.argv[1:] not in (["dockerd"], ["registry"]):
        sys.exit("usage: tests/peers.py dockerd|registry")
    serve(sys.argv[1])
