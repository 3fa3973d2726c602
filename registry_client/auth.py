"""Authorising requests to one registry: Basic, or the Bearer token flow of the
distribution token spec (anonymous, user/password, or an identity/refresh token), with
tokens cached per scope set until shortly before they expire.

The HTTP itself is done by a `fetch` callable the transport passes in, so this module
decides *what* to send and never owns a connection."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from registry_client import protocol
from registry_client.connections import Response
from registry_client.credentials import Credentials
from registry_client.errors import RegistryError, Unauthorized

CLIENT_ID = "pybuild"
# Tokens without `expires_in` live 60 s (token spec); a few seconds of margin keep a
# token from expiring between the cache check and the request.
DEFAULT_TOKEN_LIFETIME = 60
EXPIRY_MARGIN = 5


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: float
    refresh_token: str | None = None


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def parse_token_response(body: bytes, now: float) -> Token:
    """A token server's JSON answer → Token (`token` or `access_token`, `expires_in`)."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise RegistryError("token server answered with something that is not JSON") from None
    value = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
    if not isinstance(value, str) or not value:
        raise RegistryError("token server answered without a token")
    lifetime = doc.get("expires_in")
    if not isinstance(lifetime, (int, float)) or isinstance(lifetime, bool) or lifetime <= 0:
        lifetime = DEFAULT_TOKEN_LIFETIME
    refresh = doc.get("refresh_token")
    return Token(value, now + lifetime, refresh if isinstance(refresh, str) and refresh else None)


Fetch = Callable[..., Response]


class Authenticator:
    """Holds one registry's credentials, the challenge it last sent and its tokens."""

    def __init__(self, registry: str, credentials: Credentials, fetch: Fetch,
                 clock: Callable[[], float] = time.time) -> None:
        self.registry = registry
        self.credentials = credentials
        self.challenge: protocol.Challenge | None = None
        self._fetch = fetch
        self._clock = clock
        self._tokens: dict[tuple[str, str, tuple[str, ...]], Token] = {}
        self._lock = threading.Lock()
        # Parallel transfers that need a token wait for one fetch instead of each making one.
        self._fetching = threading.Lock()
        # A refresh token the token server handed out for an offline (login) request:
        # `login` stores it as the identity token instead of the password.
        self.received_refresh_token: str | None = None

    def learn(self, header: str | None) -> None:
        """Take the challenge of a 401 response's `WWW-Authenticate`."""
        challenges = protocol.parse_www_authenticate(header or "")
        for wanted in ("bearer", "basic"):
            for challenge in challenges:
                if challenge.scheme == wanted:
                    self.challenge = challenge
                    return

    def authorization(self, scopes: list[str], *, offline: bool = False) -> str | None:
        """The `Authorization` value for a request needing `scopes`, or None when the
        registry has not asked for any (or asked Basic and we have no credentials)."""
        challenge = self.challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            if not (self.credentials.username or self.credentials.password):
                return None
            return basic_header(self.credentials.username, self.credentials.password)
        if challenge.scheme == "bearer":
            if self.credentials.registry_token:
                return "Bearer " + self.credentials.registry_token
            return "Bearer " + self.token(scopes, offline=offline).value
        raise Unauthorized(f"{self.registry}: unsupported authentication scheme {challenge.scheme!r}")

    def forget(self, scopes: list[str]) -> None:
        """Drop the cached token for `scopes` (the registry refused it)."""
        challenge = self.challenge
        if challenge is not None:
            key = (challenge.realm or "", challenge.service or "", tuple(protocol.merge_scopes(scopes)))
            with self._lock:
                self._tokens.pop(key, None)

    def token(self, scopes: list[str], *, offline: bool = False) -> Token:
        challenge = self.challenge
        assert challenge is not None and challenge.scheme == "bearer"
        if not challenge.realm:
            raise Unauthorized(f"{self.registry}: bearer challenge without a realm")
        merged = tuple(protocol.merge_scopes(scopes))
        key = (challenge.realm, challenge.service or "", merged)
        if not offline and (cached := self._cached(key)) is not None:
            return cached
        with self._fetching:
            if not offline and (cached := self._cached(key)) is not None:
                return cached
            token = self._request_token(challenge, list(merged), offline)
            with self._lock:
                self._tokens[key] = token
                if offline and token.refresh_token:
                    self.received_refresh_token = token.refresh_token
        return token

    def _cached(self, key: tuple[str, str, tuple[str, ...]]) -> Token | None:
        """A live token for these scopes, or one for a wider set on the same service."""
        realm, service, scopes = key
        now = self._clock()
        with self._lock:
            for (have_realm, have_service, have_scopes), token in self._tokens.items():
                if (have_realm, have_service) == (realm, service) and token.expires_at - EXPIRY_MARGIN > now \
                        and protocol.scopes_cover(have_scopes, scopes):
                    return token
        return None

    def _request_token(self, challenge: protocol.Challenge, scopes: list[str], offline: bool) -> Token:
        assert challenge.realm
        creds = self.credentials
        base = {"service": challenge.service} if challenge.service else {}
        if creds.identity_token:
            form = {**base, "grant_type": "refresh_token", "refresh_token": creds.identity_token,
                    "client_id": CLIENT_ID, "scope": " ".join(scopes)}
            response = self._fetch("POST", challenge.realm, data=form)
            if response.status_code in (404, 405):
                # Token servers without OAuth2 POST support take the refresh token as a
                # password, as docker falls back to.
                response = self._get_token(challenge.realm, base, scopes, "<token>",
                                           creds.identity_token, offline)
        else:
            response = self._get_token(challenge.realm, base, scopes, creds.username,
                                       creds.password, offline)
        if response.status_code in (401, 403):
            raise Unauthorized(protocol.error_message(401, response.content, response.reason))
        if response.status_code != 200:
            raise RegistryError(f"token server {challenge.realm}: "
                                + protocol.error_message(response.status_code, response.content,
                                                         response.reason), response.status_code)
        return parse_token_response(response.content, self._clock())

    def _get_token(self, realm: str, base: dict, scopes: list[str], username: str, password: str,
                   offline: bool) -> Response:
        params = list(base.items()) + [("scope", s) for s in scopes]
        headers = {}
        if username or password:
            headers["Authorization"] = basic_header(username, password)
            params.append(("account", username))
            if offline:
                params += [("offline_token", "true"), ("client_id", CLIENT_ID)]
        separator = "&" if "?" in realm else "?"
        url = realm + (separator + urlencode(params) if params else "")
        return self._fetch("GET", url, headers=headers)
