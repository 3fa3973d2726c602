"""Logins in docker's `config.json`, so docker and pybuild share them.

The file is `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, in docker's
format: `auths` maps a registry to `{"auth": base64("user:password")}` (or an
`identitytoken`); `credsStore` names a helper for every registry and `credHelpers` one
per registry, both spoken to with the `docker-credential-<name> get|store|erase`
protocol (the server URL or a JSON object on stdin, JSON on stdout). Keys we do not
know are kept as they are when the file is rewritten."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

from oci.atomicfile import atomic_write
from registry_client.errors import CredentialsError

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
DOCKER_HUB_DOMAINS = ("docker.io", "index.docker.io", "registry-1.docker.io")
# A credential helper answers a username of "<token>" when the secret is an identity token.
TOKEN_USERNAME = "<token>"


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""  # an OAuth refresh token from a token server
    registry_token: str = ""  # a bearer token to send as it is

    @property
    def empty(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)


ANONYMOUS = Credentials()


def config_dir() -> Path:
    if env := os.environ.get("DOCKER_CONFIG"):
        return Path(env)
    return Path.home() / ".docker"


def config_key(registry: str) -> str:
    """The key docker files a registry under: Docker Hub's legacy URL, else the host."""
    return DOCKER_HUB_KEY if registry in DOCKER_HUB_DOMAINS else registry


def hostname_of_key(key: str) -> str:
    """docker's ConvertToHostname: `https://host:5000/v1/` → `host:5000`."""
    for prefix in ("http://", "https://"):
        if key.startswith(prefix):
            key = key[len(prefix):]
    return key.split("/", 1)[0]


def _same_registry(key: str, registry: str) -> bool:
    host = hostname_of_key(key)
    if registry in DOCKER_HUB_DOMAINS:
        return host in DOCKER_HUB_DOMAINS
    return host == registry


class DockerConfig:
    """One `config.json`: read on creation, written atomically by `store`/`erase`."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or config_dir()
        self.path = self.directory / "config.json"
        self.data = self._read()

    def _read(self) -> dict:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise CredentialsError(f"{self.path}: {e.strerror}") from None
        if not text.strip():
            return {}
        try:
            data = json.loads(text)
        except ValueError as e:
            raise CredentialsError(f"{self.path}: not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise CredentialsError(f"{self.path}: not a JSON object")
        return data

    def helper_for(self, registry: str) -> str | None:
        helpers = self.data.get("credHelpers") or {}
        for key, helper in helpers.items():
            if _same_registry(key, registry):
                return helper
        return self.data.get("credsStore") or None

    def get(self, registry: str) -> Credentials:
        """The stored login for `registry` (a host such as `127.0.0.1:5000` or
        `docker.io`); anonymous when there is none."""
        if helper := self.helper_for(registry):
            return helper_get(helper, config_key(registry))
        for key, entry in (self.data.get("auths") or {}).items():
            if _same_registry(key, registry) and isinstance(entry, dict):
                return _decode_entry(entry, self.path)
        return ANONYMOUS

    def store(self, registry: str, credentials: Credentials) -> None:
        key = config_key(registry)
        auths = self.data.setdefault("auths", {})
        for old in [k for k in auths if _same_registry(k, registry)]:
            del auths[old]
        if helper := self.helper_for(registry):
            helper_store(helper, key, credentials)
            auths[key] = {}  # docker lists helper-held logins here too
        else:
            auths[key] = _encode_entry(credentials)
        self._write()

    def erase(self, registry: str) -> bool:
        """Forget the login; False when there was none."""
        auths = self.data.get("auths") or {}
        keys = [k for k in auths if _same_registry(k, registry)]
        found = bool(keys)
        if helper := self.helper_for(registry):
            found = helper_erase(helper, config_key(registry)) or found
        if not found:
            return False
        for key in keys:
            del auths[key]
        self._write()
        return True

    def _write(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        payload = (json.dumps(self.data, indent="\t") + "\n").encode()
        atomic_write(self.path, payload, mode=0o600)


def _decode_entry(entry: dict, path: Path) -> Credentials:
    username = entry.get("username") or ""
    password = entry.get("password") or ""
    if auth := entry.get("auth"):
        try:
            decoded = base64.b64decode(auth, validate=False).decode()
        except (ValueError, UnicodeDecodeError):
            raise CredentialsError(f"{path}: invalid auth entry") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise CredentialsError(f"{path}: invalid auth entry (no ':' in user:password)")
    return Credentials(username, password, entry.get("identitytoken") or "",
                       entry.get("registrytoken") or "")


def _encode_entry(credentials: Credentials) -> dict:
    entry: dict = {}
    if credentials.username or credentials.password:
        raw = f"{credentials.username}:{credentials.password}".encode()
        entry["auth"] = base64.b64encode(raw).decode()
    if credentials.identity_token:
        entry["identitytoken"] = credentials.identity_token
    return entry


def _run_helper(helper: str, action: str, stdin: str):
    import subprocess  # only for logins kept by a helper: not on every command's start-up

    program = f"docker-credential-{helper}"
    try:
        return subprocess.run([program, action], input=stdin, capture_output=True, text=True,
                              timeout=60)
    except FileNotFoundError:
        raise CredentialsError(f"credential helper {program} is not installed (PATH)") from None


def helper_get(helper: str, server_url: str) -> Credentials:
    result = _run_helper(helper, "get", server_url)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        if "credentials not found" in output.lower():
            return ANONYMOUS
        raise CredentialsError(f"docker-credential-{helper} get: {output.splitlines()[-1] if output else 'failed'}")
    try:
        reply = json.loads(result.stdout)
    except ValueError:
        raise CredentialsError(f"docker-credential-{helper} get: answer is not JSON") from None
    username, secret = reply.get("Username") or "", reply.get("Secret") or ""
    if username == TOKEN_USERNAME:
        return Credentials(identity_token=secret)
    return Credentials(username=username, password=secret)


def helper_store(helper: str, server_url: str, credentials: Credentials) -> None:
    if credentials.identity_token:
        username, secret = TOKEN_USERNAME, credentials.identity_token
    else:
        username, secret = credentials.username, credentials.password
    payload = json.dumps({"ServerURL": server_url, "Username": username, "Secret": secret})
    result = _run_helper(helper, "store", payload)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise CredentialsError(f"docker-credential-{helper} store: {output or 'failed'}")


def helper_erase(helper: str, server_url: str) -> bool:
    result = _run_helper(helper, "erase", server_url)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        if "credentials not found" in output.lower():
            return False
        raise CredentialsError(f"docker-credential-{helper} erase: {output or 'failed'}")
    return True
