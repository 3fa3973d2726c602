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


def run_worker(sock: socket.socket, root: Path) -> None:
    from aiohttp import web

    from registry_server.app import make_app

    web.run_app(make_app(root), sock=sock, print=None, access_log=None,
                handle_signals=True, shutdown_timeout=10)


def _spawn(sock: socket.socket, root: Path) -> int:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            run_worker(sock, root)
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    return pid


def serve(addr: str, root: Path, workers: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    sock = bind(addr)
    host, port = sock.getsockname()[:2]
    print(f"pybuild registry listening on http://{host}:{port} "
          f"(root {root}, {workers} worker{'s' if workers != 1 else ''})", file=sys.stderr, flush=True)
    if workers <= 1:
        run_worker(sock, root)
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
        children[_spawn(sock, root)] = time.monotonic()
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
        children[_spawn(sock, root)] = time.monotonic()
    sock.close()
