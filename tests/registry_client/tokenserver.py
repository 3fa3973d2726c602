"""A token server of the distribution token spec, for the CNCF registry's `auth: token`
mode: there is no token server among the Debian packages, so the tests bring this one.

It signs ES256 JWTs with a self-signed certificate (sent in the `x5c` header; the
registry trusts it through `rootcertbundle`), answers `GET /token` (anonymous: pull
only; Basic with the right password: what was asked; a wrong password: 401) and the
OAuth2 `POST /token` refresh-token grant, and issues a refresh token to `offline_token`
requests, as Docker Hub's auth server does."""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

SERVICE = "pybuild-test-registry"
ISSUER = "pybuild-test-issuer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenServer:
    user: str
    password: str
    directory: Path
    lifetime: int = 300
    requests: list[str] = field(default_factory=list)  # "GET scope=… account=…" lines

    def __post_init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.cert_path = self.directory / "token-cert.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.refresh_tokens: dict[str, str] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                server._answer(self, "GET", query, self.headers.get("Authorization"))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                server._answer(self, "POST", form, None)

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/token"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler, method: str, params: dict, authorization: str | None) -> None:
        scopes = [s for value in params.get("scope", []) for s in value.split(" ") if s]
        with self.lock:
            self.requests.append(f"{method} scope={','.join(scopes)} account={params.get('account', [''])[0]}")
        subject = None
        if method == "POST":
            if params.get("grant_type") != ["refresh_token"]:
                return self._send(handler, 400, {"error": "unsupported_grant_type"})
            subject = self.refresh_tokens.get(params.get("refresh_token", [""])[0])
            if subject is None:
                return self._send(handler, 401, {"error": "invalid_grant"})
        elif authorization:
            user, _, password = base64.b64decode(authorization.split(" ", 1)[1]).decode().partition(":")
            if (user, password) != (self.user, self.password):
                return self._send(handler, 401, {"errors": [{"code": "UNAUTHORIZED",
                                                             "message": "incorrect username or password"}]})
            subject = user
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":", 2) if scope.count(":") >= 2 else (scope, "", "")
            granted = actions.split(",") if subject else [a for a in actions.split(",") if a == "pull"]
            access.append({"type": kind, "name": name, "actions": granted})
        body = {"token": self._jwt(subject or "", access), "expires_in": self.lifetime,
                "issued_at": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        if subject and params.get("offline_token") == ["true"]:
            refresh = secrets.token_hex(16)
            self.refresh_tokens[refresh] = subject
            body["refresh_token"] = refresh
        if method == "POST":
            body = {"access_token": body["token"], "expires_in": self.lifetime}
        self._send(handler, 200, body)

    def _send(self, handler: BaseHTTPRequestHandler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _jwt(self, subject: str, access: list[dict]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256",
                  "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()]}
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + self.lifetime,
                  "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
