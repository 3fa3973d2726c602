"""Bearer tokens of Docker's token authentication: ES256 JWTs signed by a P-256 key that
the registry makes on its first start (`token-key.pem`, mode 0600, beside the store).

An access token names its holder (`sub`, empty for anonymous) and carries the `access`
list of the distribution token spec (`[{type, name, actions}]`). A refresh token (the
"identity token" docker keeps after `docker login`) is a JWT of another audience that
names only the holder, plus a fingerprint of their password hash: changing the password
revokes every refresh token issued before."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

KEY_FILE = "token-key.pem"
# A client's clock may run a little ahead or behind: tolerate that much on `nbf`.
LEEWAY = 60
VERIFIED_TOKENS = 4096


class InvalidToken(Exception):
    """A token that is malformed, forged, expired or meant for another service."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The signing key at `path`, made on first use. Written to a 0600 temp file and
    linked into place, so workers starting together agree on one key and none ever reads
    a half-written file."""
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(temp, path)
            except FileExistsError:
                pass  # another worker won the race: use its key
        finally:
            temp.unlink(missing_ok=True)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: not an EC private key")
    return loaded


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """libtrust's key ID (what distribution's token auth matches `kid` against): the
    first 240 bits of the SHA-256 of the DER public key, base32, in groups of four."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i:i + 4] for i in range(0, len(encoded), 4))


def password_fingerprint(stored_hash: str) -> str:
    return hashlib.sha256(stored_hash.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Access:
    type: str
    name: str
    actions: tuple[str, ...]

    def to_claim(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


@dataclass(frozen=True)
class Claims:
    subject: str
    access: tuple[Access, ...] = ()
    issued_at: float = 0.0
    expires_at: float = 0.0
    password: str | None = None

    def allows(self, type_: str, name: str, action: str) -> bool:
        return any(a.type == type_ and a.name == name and (action in a.actions or "*" in a.actions)
                   for a in self.access)


@dataclass
class IssuedToken:
    token: str
    issued_at: float
    expires_in: int


@dataclass
class TokenSigner:
    key: ec.EllipticCurvePrivateKey
    issuer: str
    service: str
    ttl: int = 300
    refresh_ttl: int = 90 * 24 * 3600
    kid: str = field(init=False)

    def __post_init__(self) -> None:
        self._public = self.key.public_key()
        self.kid = key_id(self._public)
        self._verified: dict[str, Claims] = {}

    @property
    def refresh_audience(self) -> str:
        return f"{self.service}#refresh"

    def _sign(self, claims: dict[str, Any]) -> str:
        header = {"typ": "JWT", "alg": "ES256", "kid": self.kid}
        signing_input = (_b64encode(json.dumps(header, separators=(",", ":")).encode()) + "."
                         + _b64encode(json.dumps(claims, separators=(",", ":")).encode()))
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing_input + "." + _b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def _claims(self, subject: str, audience: str, ttl: int, now: float) -> dict[str, Any]:
        issued = int(now)
        return {"iss": self.issuer, "sub": subject, "aud": audience, "iat": issued,
                "nbf": issued, "exp": issued + ttl, "jti": uuid.uuid4().hex}

    def issue_access(self, subject: str, access: list[Access], now: float | None = None) -> IssuedToken:
        now = time.time() if now is None else now
        claims = self._claims(subject, self.service, self.ttl, now)
        claims["access"] = [a.to_claim() for a in access]
        return IssuedToken(self._sign(claims), now, self.ttl)

    def issue_refresh(self, subject: str, stored_hash: str, now: float | None = None) -> str:
        now = time.time() if now is None else now
        claims = self._claims(subject, self.refresh_audience, self.refresh_ttl, now)
        claims["pwd"] = password_fingerprint(stored_hash)
        return self._sign(claims)

    def verify_access(self, token: str, now: float | None = None) -> Claims:
        """The claims of a valid access token. A client sends one token with every request
        of a push or pull: a verified one is remembered until it expires, which spares the
        signature check (the bulk of the cost) on all but the first."""
        now = time.time() if now is None else now
        claims = self._verified.get(token)
        if claims is not None and now < claims.expires_at:
            return claims
        claims = self._verify(token, self.service, now)
        if len(self._verified) >= VERIFIED_TOKENS:
            self._verified = {t: c for t, c in self._verified.items() if now < c.expires_at}
            if len(self._verified) >= VERIFIED_TOKENS:
                self._verified.clear()
        self._verified[token] = claims
        return claims

    def verify_refresh(self, token: str, now: float | None = None) -> Claims:
        return self._verify(token, self.refresh_audience, now)

    def _verify(self, token: str, audience: str, now: float | None) -> Claims:
        now = time.time() if now is None else now
        try:
            header_b64, claims_b64, signature_b64 = token.split(".")
            header = json.loads(_b64decode(header_b64))
            signature = _b64decode(signature_b64)
        except (ValueError, UnicodeDecodeError):
            raise InvalidToken("malformed token") from None
        if not isinstance(header, dict) or header.get("alg") != "ES256" or len(signature) != 64:
            raise InvalidToken("not an ES256 token")
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                   int.from_bytes(signature[32:], "big"))
        try:
            self._public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise InvalidToken("bad signature") from None
        try:
            claims = json.loads(_b64decode(claims_b64))
        except (ValueError, UnicodeDecodeError):
            raise InvalidToken("malformed claims") from None
        if not isinstance(claims, dict):
            raise InvalidToken("malformed claims")
        audiences = claims.get("aud")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        if claims.get("iss") != self.issuer or audience not in audiences:
            raise InvalidToken("token for another issuer or service")
        exp, nbf = claims.get("exp"), claims.get("nbf", 0)
        if not isinstance(exp, (int, float)) or not isinstance(nbf, (int, float)):
            raise InvalidToken("token without a valid lifetime")
        if now >= exp:
            raise InvalidToken("token expired")
        if now + LEEWAY < nbf:
            raise InvalidToken("token not valid yet")
        try:
            access = tuple(Access(str(a["type"]), str(a["name"]), tuple(map(str, a["actions"])))
                           for a in claims.get("access") or [])
        except (KeyError, TypeError):
            raise InvalidToken("malformed access claim") from None
        return Claims(subject=str(claims.get("sub", "")), access=access,
                      issued_at=float(claims.get("iat", 0)), expires_at=float(exp),
                      password=claims.get("pwd"))
