"""Helpers for the tests of registry accounts, tokens and search: a real registry server
with authentication and search on, its users, and token-carrying requests."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import requests

import peers

USERS = {"alice": ("alice-secret", "user"), "bob": ("bob-secret", "user"),
         "root": ("root-secret", "admin")}


@dataclass
class AuthServer:
    url: str
    root: Path
    proc: subprocess.Popen
    log: Path
    passwords: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return self.url.removeprefix("http://")

    def token(self, user: str | None, *scopes: str, **params: str) -> dict:
        auth = (user, self.passwords[user]) if user else None
        r = requests.get(f"{self.url}/token", params={"service": "pybuild-registry",
                                                      "scope": list(scopes), **params}, auth=auth)
        assert r.status_code == 200, r.text
        return r.json()

    def bearer(self, user: str | None, *scopes: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user, *scopes)['token']}"}

    def push_blob(self, name: str, data: bytes, headers: dict[str, str]) -> requests.Response:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        return requests.post(f"{self.url}/v2/{name}/blobs/uploads/", params={"digest": digest},
                             data=data, headers=headers)


def _jwt_part(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def claims(token: str) -> dict:
    return _jwt_part(token, 1)


def jwt_header(token: str) -> dict:
    return _jwt_part(token, 0)


def add_users(root: Path, users: dict[str, tuple[str, str]]) -> dict[str, str]:
    from registry_server.accounts import Accounts, Role

    accounts = Accounts(root / "accounts.db", rounds=4)  # cheap hashes keep the tests fast
    for name, (password, role) in users.items():
        accounts.add(name, password, Role(role))
    accounts.close()
    return {name: password for name, (password, _) in users.items()}


def start_auth_server(root: Path, users: dict[str, tuple[str, str]] = USERS, workers: int = 2,
                      **settings: str) -> AuthServer:
    """`pybuild registry serve` over `root` with `users` (none: an open registry, as the
    default `auto` mode makes it) and two workers, so a test's requests land in both
    processes; `settings` are [auth] keys passed as PYBUILD_REGISTRY_AUTH_* variables."""
    root.mkdir(parents=True, exist_ok=True)
    passwords = add_users(root, users)
    # The store is made here, not by two workers racing to create it: on a fresh store
    # the second worker's `PRAGMA journal_mode = WAL` can fail with "database is locked"
    # (reported to the server's owner; serve should make the store before forking).
    from registry_server.search_index import SearchIndex
    from registry_server.storage import Storage

    storage = Storage(root)
    SearchIndex(root / "registry.db").close()
    storage.close()
    port = peers.free_port()
    log = root.parent / f"{root.name}.log"
    env = {**os.environ, **{f"PYBUILD_REGISTRY_AUTH_{k.upper()}": v for k, v in settings.items()}}
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            [str(peers.VENV_BIN / "python"), "-m", "pybuild", "registry", "serve",
             "--addr", f"127.0.0.1:{port}", "--root", str(root), "--workers", str(workers)],
            stdout=log_file, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return requests.get(f"{url}/v2/", timeout=1).status_code == (401 if users else 200)
        except requests.ConnectionError:
            return False

    peers.wait_until(ready, 30, "pybuild registry", alive=lambda: proc.poll() is None, log=log)
    return AuthServer(url, root, proc, log, passwords)


def stop_auth_server(server: AuthServer) -> None:
    peers.stop_process(server.proc)
    log = server.log.read_text()
    assert "Traceback" not in log, log[-3000:]
