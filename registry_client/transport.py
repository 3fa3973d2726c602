"""One registry over HTTP(S): the base URL, TLS settings, authorisation and retries.

Plain HTTP is used only for loopback registries and those the caller marks insecure
(docker's rule: HTTPS is tried first, plain HTTP after a TLS failure). A custom CA comes
from `tls_ca` or docker's `certs.d/<host>/ca.crt` convention; insecure registries also
accept HTTPS certificates that do not verify, as docker's `insecure-registries` do."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from registry_client import protocol
from registry_client.auth import Authenticator
from registry_client.connections import ConnectFailed, ConnectionFailed, Response, Session, proxy_for
from registry_client.credentials import Credentials, DockerConfig
from registry_client.errors import NotFound, RegistryError, RegistryUnreachable, Unauthorized

DOCKER_HUB_API = "registry-1.docker.io"
DEFAULT_CERTS_DIRS = (Path("/etc/docker/certs.d"), Path("/etc/containers/certs.d"))
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "pybuild/0.1"


@dataclass(frozen=True)
class Options:
    """How to reach registries; the same for every registry of one command."""

    insecure: frozenset[str] = frozenset()  # hosts (`name:port`) allowed plain HTTP
    tls_ca: Path | None = None
    certs_dirs: tuple[Path, ...] = DEFAULT_CERTS_DIRS
    timeout: float = 60.0
    retries: int = 4  # extra attempts after a 5xx/429 or a dropped connection
    backoff: float = 0.5  # first pause, doubled each time, capped by max_backoff
    max_backoff: float = 10.0
    docker_config: Path | None = None  # directory of config.json; None: $DOCKER_CONFIG or ~/.docker
    parallel: int = 3
    extra_headers: dict[str, str] = field(default_factory=dict)


def api_host(registry: str) -> str:
    """The host the API lives on: Docker Hub's is not `docker.io`."""
    return DOCKER_HUB_API if registry == "docker.io" else registry


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def split_host_port(host: str, default_port: int = 443) -> tuple[str, int]:
    """`name:port` or `[v6]:port` → (name, port)."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        return name, int(rest[1:]) if rest.startswith(":") else default_port
    name, colon, port = host.rpartition(":")
    return (name, int(port)) if colon and port.isdigit() else (host, default_port)


def speaks_tls(name: str, port: int, timeout: float) -> bool:
    """Whether the server at name:port answers a TLS ClientHello with TLS (a handshake
    or an alert record) rather than plain HTTP's 400 or a close. Docker tries HTTPS
    first and falls back to plain HTTP; asking this way costs one round trip and no CA
    store (loading the system's roots, as a full HTTPS request does even unverified,
    takes 20-60 ms here)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    outgoing = ssl.MemoryBIO()
    handshake = context.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname=name)
    try:
        handshake.do_handshake()
    except ssl.SSLWantReadError:
        pass  # the ClientHello is written; the answer is ours to read
    with socket.create_connection((name, port), timeout=timeout) as connection:
        connection.sendall(outgoing.read())
        try:
            first = connection.recv(1)
        except ConnectionResetError:
            return False
    return first in (b"\x16", b"\x15")


def describe_connection_error(error: Exception) -> str:
    """The cause a user can act on, from the chain of errors it is wrapped in."""
    causes = _causes(error)
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {(cause.reason or str(cause)).lower().replace('_', ' ')}"
    for cause in causes:
        if isinstance(cause, OSError) and cause.errno is not None and cause.strerror:
            return cause.strerror.lower()
    text = str(error)
    for marker in ("Connection refused", "Name or service not known", "timed out",
                   "certificate verify failed", "Connection reset by peer", "Connection aborted"):
        if marker.lower() in text.lower():
            return marker.lower()
    return text.splitlines()[0][:200] if text else type(error).__name__


def _causes(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        cause = pending.pop()
        if not isinstance(cause, BaseException) or any(cause is f for f in found):
            continue
        found.append(cause)
        pending += [cause.__context__, cause.__cause__, getattr(cause, "reason", None)]
        pending += [a for a in cause.args if isinstance(a, BaseException)]
    return found


def never_connected(error: BaseException) -> bool:
    """True when no connection was made (refused, unknown host): retrying cannot help."""
    return any(isinstance(c, (ConnectFailed, ConnectionRefusedError)) for c in _causes(error))


class Transport:
    """Requests to one registry, authorised and retried. Safe to share between threads."""

    def __init__(self, registry: str, options: Options | None = None,
                 credentials: Credentials | None = None) -> None:
        self.registry = registry
        self.options = options or Options()
        self.host = api_host(registry)
        if credentials is None:
            credentials = DockerConfig(self.options.docker_config).get(registry)
        self.session = Session({"User-Agent": USER_AGENT, **self.options.extra_headers})
        self.plain_http_allowed = is_loopback(self.host) or self.host in self.options.insecure \
            or registry in self.options.insecure
        self.verify = self._verify()
        self.auth = Authenticator(registry, credentials, self._raw)
        self._base: str | None = None
        self._base_lock = threading.Lock()

    def _verify(self) -> bool | str:
        if self.options.tls_ca:
            return str(self.options.tls_ca)
        for directory in self.options.certs_dirs:
            ca = directory / self.host / "ca.crt"
            if ca.is_file():
                return str(ca)
        return not self.plain_http_allowed

    def close(self) -> None:
        self.session.close()

    # ---- the base URL ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        with self._base_lock:
            if self._base is None:
                self._base = self._discover_base()
            return self._base

    def _discover_base(self) -> str:
        https = f"https://{self.host}"
        if not self.plain_http_allowed:
            return https
        name, port = split_host_port(self.host)
        if proxy_for("https", name):
            return self._discover_through_proxy(https)
        try:
            tls = speaks_tls(name, port, min(self.options.timeout, 10))
        except OSError as e:
            raise self.unreachable(e) from None
        return https if tls else f"http://{self.host}"

    def _discover_through_proxy(self, https: str) -> str:
        """Behind a proxy the registry may be reachable through it only: ask over HTTPS
        as docker does, and fall back to plain HTTP when that fails."""
        try:
            self._raw("GET", https + "/v2/", timeout=min(self.options.timeout, 10)).close()
            return https
        except _Dropped as dropped:
            # The proxy down or unknown is no answer; a TLS server whose certificate
            # fails verification must not be downgraded.
            fatal = (ConnectionRefusedError, socket.gaierror, ssl.SSLCertVerificationError)
            if any(isinstance(cause, fatal) for cause in _causes(dropped.error)):
                raise self.unreachable(dropped.error) from None
            return f"http://{self.host}"

    def unreachable(self, error: Exception) -> RegistryUnreachable:
        return RegistryUnreachable(f"cannot reach registry {self.registry}: {describe_connection_error(error)}")

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    # ---- requests --------------------------------------------------------------------

    def _raw(self, method: str, url: str, **kwargs) -> Response:
        kwargs.setdefault("timeout", self.options.timeout)
        kwargs.setdefault("verify", self.verify)
        try:
            return self.session.request(method, url, **kwargs)
        except ConnectionFailed as e:
            raise _Dropped(e) from e

    def request(self, method: str, path: str, *, scopes: Iterable[str] = (), headers: dict | None = None,
                data=None, stream: bool = False, replayable: bool = True, ok: Iterable[int] = (),
                offline_token: bool = False) -> Response:
        """Send one request, authorising it for `scopes` and answering a 401 challenge
        once; 5xx/429 and dropped connections are retried with backoff (honouring
        `Retry-After`) when the body can be sent again (`replayable`). Statuses in `ok`
        (and 2xx) are returned; others raise a RegistryError subclass."""
        scopes = list(scopes)
        ok = set(ok)
        attempt = 0
        challenged = False
        while True:
            send_headers = dict(headers or {})
            authorization = self.auth.authorization(scopes, offline=offline_token)
            if authorization:
                send_headers["Authorization"] = authorization
            try:
                response = self._raw(method, self.url(path), headers=send_headers, data=data, stream=stream)
            except _Dropped as dropped:
                if never_connected(dropped.error) or not replayable \
                        or attempt >= self.options.retries:
                    raise self.unreachable(dropped.error) from None
                time.sleep(self._pause(attempt, None))
                attempt += 1
                continue
            if response.status_code == 401 and not challenged and replayable:
                challenged = True
                self.auth.learn(response.headers.get("WWW-Authenticate"))
                self.auth.forget(scopes)
                if self.auth.challenge is not None and self._can_answer():
                    response.close()
                    continue
            if response.status_code in RETRY_STATUSES and replayable and attempt < self.options.retries:
                pause = self._pause(attempt, response.headers.get("Retry-After"))
                response.close()
                time.sleep(pause)
                attempt += 1
                continue
            if response.ok or response.status_code in ok:
                return response
            raise self.error(response, method, path)

    def authorize(self, scopes: Iterable[str]) -> None:
        """Get authorisation for `scopes` before a series of requests (a push asks for
        pull and push on its repository, and pull on mount sources), so that every
        request of the series is served by one token instead of one per scope set."""
        scopes = list(scopes)
        if self.auth.challenge is None:
            try:
                response = self._raw("GET", self.url("/v2/"))
            except _Dropped as dropped:
                raise self.unreachable(dropped.error) from None
            response.close()
            if response.status_code == 401:
                self.auth.learn(response.headers.get("WWW-Authenticate"))
        if self.auth.challenge is not None and self._can_answer():
            self.auth.authorization(scopes)

    def _can_answer(self) -> bool:
        challenge = self.auth.challenge
        creds = self.auth.credentials
        if challenge is None:
            return False
        if challenge.scheme == "basic":
            return bool(creds.username or creds.password)
        return challenge.scheme == "bearer"

    def _pause(self, attempt: int, retry_after: str | None) -> float:
        default = min(self.options.max_backoff, self.options.backoff * (2 ** attempt))
        return min(self.options.max_backoff, protocol.retry_after(retry_after, time.time(), default))

    def error(self, response: Response, method: str, path: str) -> RegistryError:
        body = b"" if method == "HEAD" else response.content
        message = protocol.error_message(response.status_code, body, response.reason)
        codes = frozenset(protocol.error_codes(body))
        response.close()
        if response.status_code == 401:
            return Unauthorized(message, 401, codes)
        if response.status_code == 404:
            return NotFound(message, 404, codes)
        return RegistryError(message, response.status_code, codes)


class _Dropped(Exception):
    """A connection that failed or broke; the transport decides whether to retry."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error
