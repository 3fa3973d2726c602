"""Running the registry: one listening socket bound by the parent, then N worker
processes forked before any thread or event loop exists, each running its own aiohttp
loop and SQLite connection over the shared store. The parent only supervises: it restarts
a worker that dies and stops them all on SIGTERM/SIGINT."""

from __future__ import annotations

import importlib
import os
import signal
import socket
import sys
import time
from pathlib import Path

from oci.errors import UserError
from registry_server.config import ServerConfig

LISTEN_BACKLOG = 1024
# A worker that dies sooner than this after its start is not restarted (it would loop).
MIN_WORKER_LIFETIME = 2.0


class BadAddress(UserError):
    """An --addr that is not HOST:PORT."""


def parse_addr(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise BadAddress(f"--addr {addr!r}: expected HOST:PORT, e.g. 127.0.0.1:5000")
    return host.strip("[]") or "127.0.0.1", int(port)


def bind(addr: str) -> socket.socket:
    host, port = parse_addr(addr)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BadAddress(f"--addr {addr}: cannot listen there: {exc.strerror}") from None
    sock.listen(LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


def run_worker(sock: socket.socket, root: Path, config: ServerConfig) -> None:
    from registry_server import shutdown
    from registry_server.app import make_app
    from registry_server.tls import server_context

    # On SIGTERM: stop accepting, let requests in progress finish for up to
    # shutdown_timeout seconds, then cancel what is left.
    shutdown.run(make_app(root, config), sock, server_context(config.tls, root),
                 config.shutdown_timeout)


def _spawn(sock: socket.socket, root: Path, config: ServerConfig, gc: bool = False) -> int:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            if gc:
                from registry_server.gc_loop import run_gc_loop

                sock.close()
                run_gc_loop(root, config.gc)
            else:
                run_worker(sock, root, config)
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    return pid


def _create_databases(root: Path) -> None:
    """Creates the SQLite schemas (and switches them to WAL) once, before the workers
    exist: workers opening a brand-new database together race on `journal_mode = WAL`
    and one of them fails with "database is locked"."""
    from registry_server.accounts import Accounts
    from registry_server.search_index import SearchIndex
    from registry_server.storage import Storage

    Storage(root).close()
    SearchIndex(root / "registry.db").close()
    Accounts.in_root(root).close()


def serve(addr: str, root: Path, workers: int, config: ServerConfig | None = None) -> None:
    from registry_server.auth import AuthConfig
    from registry_server.ops import clear_snapshots
    from registry_server.tls import server_context

    config = config or ServerConfig()
    # Checked here so that a bad [auth] setting is one error line, not one per worker.
    AuthConfig.from_env(base=config.auth)
    root.mkdir(parents=True, exist_ok=True)
    # Made (and checked) once here: a bad key is one error line, not one per worker, and
    # a self-signed certificate is generated before the workers race to make it.
    tls = server_context(config.tls, root)
    clear_snapshots(root)
    _create_databases(root)
    sock = bind(addr)
    host, port = sock.getsockname()[:2]
    print(f"pybuild registry listening on {'https' if tls else 'http'}://{host}:{port} "
          f"(root {root}, {workers} worker{'s' if workers != 1 else ''})", file=sys.stderr, flush=True)
    scheduled_gc = config.gc.interval > 0
    if workers <= 1 and not scheduled_gc:
        run_worker(sock, root, config)
        return
    # Imported before forking so the workers share these pages instead of each importing.
    importlib.import_module("registry_server.app")

    children: dict[int, float] = {}
    stopping = False

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(workers):
        children[_spawn(sock, root, config)] = time.monotonic()
    gc_pid = _spawn(sock, root, config, gc=True) if scheduled_gc else None
    if gc_pid is not None:
        children[gc_pid] = time.monotonic()
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        started = children.pop(pid, None)
        if started is None or stopping:
            continue
        if time.monotonic() - started < MIN_WORKER_LIFETIME:
            print(f"registry worker {pid} died at start (status {status}); stopping",
                  file=sys.stderr, flush=True)
            stop(signal.SIGTERM, None)
            continue
        print(f"registry worker {pid} exited (status {status}); starting another",
              file=sys.stderr, flush=True)
        if pid == gc_pid:
            gc_pid = _spawn(sock, root, config, gc=True)
            children[gc_pid] = time.monotonic()
        else:
            children[_spawn(sock, root, config)] = time.monotonic()
    sock.close()
