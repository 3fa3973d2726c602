"""Helpers for the operations tests: start `pybuild registry serve` with any flags."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


import peers


class Served:
    def __init__(self, root: Path, args: list[str], env: dict | None = None, scheme: str = "http",
                 verify: bool | str = True) -> None:
        import os

        import requests

        self.root = root
        self.port = peers.free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.log = root.parent / f"{root.name}.log"
        self.proc = subprocess.Popen(
            [str(peers.VENV_BIN / "python"), "-m", "pybuild", "registry", "serve",
             "--addr", f"127.0.0.1:{self.port}", "--root", str(root), *args],
            stdout=open(self.log, "wb"), stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

        def ready() -> bool:
            try:
                return requests.get(f"{self.url}/healthz", timeout=1, verify=verify).status_code == 200
            except requests.ConnectionError:
                return False

        peers.wait_until(ready, 30, "pybuild registry", alive=lambda: self.proc.poll() is None, log=self.log)

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    started: list[Served] = []

    def start(*args: str, env: dict | None = None, **kwargs) -> Served:
        server = Served(tmp_path / f"root{len(started)}", list(args), env, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.stop()
