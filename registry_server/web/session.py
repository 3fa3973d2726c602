"""Web sessions: after a login the browser holds a cookie naming the user, signed with
HMAC-SHA256 under a key kept in the store (`web-session.key`, made on first use and
shared by every worker). The cookie also carries a fingerprint of the user's password
hash, so a password change or a deleted user ends every session at once.

The cookie is HttpOnly and SameSite=Strict; forms that change something also carry a
token derived from the session (`csrf_token`), checked on POST."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

KEY_FILE = "web-session.key"
COOKIE = "pybuild_session"
SESSION_TTL = 12 * 3600


def load_or_create_key(root: Path) -> bytes:
    """The signing key; concurrent first starts agree on one (link() fails for all but
    the first writer, and the others read its key)."""
    path = root / KEY_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    temp = root / f".{KEY_FILE}.{os.getpid()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, secrets.token_bytes(32))
        os.fsync(fd)
        os.close(fd)
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
    finally:
        temp.unlink(missing_ok=True)
    return path.read_bytes()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fingerprint(stored_hash: str) -> str:
    return hashlib.sha256(stored_hash.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Session:
    user: str
    expires: float
    password: str  # fingerprint of the stored hash when the session began


class Sessions:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def issue(self, user: str, stored_hash: str, now: float | None = None) -> str:
        expires = (now or time.time()) + SESSION_TTL
        payload = _b64(json.dumps({"u": user, "e": expires, "p": fingerprint(stored_hash)}).encode())
        return f"{payload}.{self._sign(payload)}"

    def read(self, cookie: str, now: float | None = None) -> Session | None:
        """The session a cookie holds, or None when it is forged, damaged or expired."""
        payload, _, signature = cookie.partition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None
        try:
            data = json.loads(_unb64(payload))
            session = Session(str(data["u"]), float(data["e"]), str(data["p"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > (now or time.time()) else None

    def csrf_token(self, cookie: str | None) -> str:
        return self._sign("csrf:" + (cookie or ""))[:32]
