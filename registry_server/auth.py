"""Authentication for the registry: Basic auth and Docker's token flow in one aiohttp
middleware over `/v2/`, and the built-in token endpoint `/token`.

The token flow as docker, podman and skopeo speak it: a request without acceptable
credentials gets 401 `UNAUTHORIZED` with `WWW-Authenticate: Bearer realm=".../token",
service="...",scope="repository:NAME:pull,push"`; the client asks the realm for a token
(GET with Basic credentials or none; or POST with an OAuth2 password or refresh_token
grant) and retries with `Authorization: Bearer <jwt>`. Basic credentials are accepted on
`/v2/` in every mode, so curl and the CNCF registry's htpasswd users keep working.

A request whose user may not take the action at all gets 403 `DENIED`; one whose token
merely lacks it (the client asked for less) gets 401 with `error="insufficient_scope"`,
so the client fetches a wider token. Anonymous clients always get 401: logging in may help.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from multidict import MultiDict

from oci.errors import UserError
from registry_server.accounts import Accounts, User, check_password
from registry_server.authz import PULL, REPOSITORY, Policy, Scope, parse_scopes, required_access
from registry_server.errors import Err, RegistryError
from registry_server.throttle import LoginThrottle, ThrottlePolicy
from registry_server.tokens import (KEY_FILE, Access, Claims, InvalidToken, TokenSigner, load_or_create_key,
                                    password_fingerprint)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MODES = ("auto", "none", "basic", "token")
BASIC_REALM = "pybuild-registry"
# Checked when the user does not exist, so that a wrong name costs as long as a wrong
# password and the timing does not tell which names exist (cost 12, as new hashes).
_DUMMY_HASH = "$2b$12$iqAfbz3Aa9bsu.tVoaPASO.a1r0WD9lBoNq8eGiEF55FeoymgT6ta"
_USER_KEY = "pybuild.user"


class BadAuthConfig(UserError):
    """An `[auth]` setting of the registry configuration that cannot be used."""


@dataclass(frozen=True)
class AuthConfig:
    """`mode`: `token` (Bearer tokens from the built-in `/token`, Basic also accepted),
    `basic`, `none`, or `auto`: `token` when the store has users, else `none`."""

    mode: str = "auto"
    anonymous_pull: bool = False
    public: tuple[str, ...] = ("*",)
    service: str = "pybuild-registry"
    issuer: str = "pybuild-registry"
    realm: str | None = None
    token_ttl: int = 300
    refresh_ttl: int = 90 * 24 * 3600
    throttle: ThrottlePolicy = field(default_factory=ThrottlePolicy)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "AuthConfig":
        """From a configuration table (TOML `[auth]`), every key optional."""
        known = {"mode", "anonymous_pull", "public", "service", "issuer", "realm", "token_ttl",
                 "refresh_ttl", "throttle_free_failures", "throttle_base_delay", "throttle_max_delay"}
        unknown = set(values) - known
        if unknown:
            raise BadAuthConfig(f"unknown [auth] setting(s): {', '.join(sorted(unknown))}")
        defaults = ThrottlePolicy()
        try:
            config = cls(
                mode=str(values.get("mode", "auto")),
                anonymous_pull=_bool(values.get("anonymous_pull", False), "anonymous_pull"),
                public=_patterns(values.get("public", ("*",))),
                service=str(values.get("service", cls.service)),
                issuer=str(values.get("issuer", cls.issuer)),
                realm=values.get("realm"),
                token_ttl=int(values.get("token_ttl", cls.token_ttl)),
                refresh_ttl=int(values.get("refresh_ttl", cls.refresh_ttl)),
                throttle=ThrottlePolicy(
                    free_failures=int(values.get("throttle_free_failures", defaults.free_failures)),
                    base_delay=float(values.get("throttle_base_delay", defaults.base_delay)),
                    max_delay=float(values.get("throttle_max_delay", defaults.max_delay))))
        except (TypeError, ValueError) as exc:
            raise BadAuthConfig(f"[auth]: {exc}") from None
        if config.mode not in MODES:
            raise BadAuthConfig(f"[auth] mode = {config.mode!r}: expected one of {', '.join(MODES)}")
        return config

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ,
                 base: Mapping[str, Any] | None = None) -> "AuthConfig":
        """`base` (a configuration table) overridden by `PYBUILD_REGISTRY_AUTH_<KEY>`
        variables (`PYBUILD_REGISTRY_AUTH_ANONYMOUS_PULL=1`, `..._PUBLIC=library/*,docs/*`)."""
        values: dict[str, Any] = dict(base or {})
        prefix = "PYBUILD_REGISTRY_AUTH_"
        for key, value in environ.items():
            if key.startswith(prefix):
                values[key[len(prefix):].lower()] = value
        return cls.from_mapping(values)


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise BadAuthConfig(f"[auth] {name} = {value!r}: expected true or false")


def _patterns(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    return tuple(str(p) for p in value)


@dataclass
class AuthState:
    mode: str
    config: AuthConfig
    policy: Policy
    accounts: Accounts
    throttle: LoginThrottle
    signer: TokenSigner | None

    def close(self) -> None:
        self.accounts.close()
        self.throttle.close()


AUTH = web.AppKey("auth", AuthState)


def resolve_mode(config: AuthConfig, accounts: Accounts) -> str:
    if config.mode == "auto":
        return "token" if accounts.has_users() else "none"
    return config.mode


def setup_auth(app: web.Application, root: Path, config: AuthConfig | None = None) -> None:
    """Install authentication on `app` (a registry app over the store at `root`): the
    middleware and `/token`. Does nothing when called again, or when the mode is `none`."""
    if AUTH in app:
        return
    config = config or AuthConfig.from_env()
    accounts = Accounts.in_root(root)
    mode = resolve_mode(config, accounts)
    if mode == "none":
        accounts.close()
        return
    signer = None
    if mode == "token":
        signer = TokenSigner(load_or_create_key(root / KEY_FILE), config.issuer, config.service,
                             config.token_ttl, config.refresh_ttl)
    state = AuthState(mode, config, Policy(config.anonymous_pull, config.public), accounts,
                      LoginThrottle(accounts.path, config.throttle), signer)
    app[AUTH] = state
    app.middlewares.append(authenticate)
    if signer is not None:
        app.router.add_route("GET", "/token", get_token)
        app.router.add_route("POST", "/token", post_token)

    async def close(app: web.Application) -> None:
        app[AUTH].close()

    app.on_cleanup.append(close)


# credentials

def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        name, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (name, password) if sep else None


def _bearer_token(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def check_login(request: web.Request, state: AuthState, name: str, password: str) -> User | None:
    """The user if the password is theirs; failures for one user and address are
    throttled (see registry_server/throttle.py)."""
    accounts = state.accounts
    stored = accounts.stored_hash(name)
    if stored is not None and accounts.verified_recently(name, stored, password):
        return accounts.get(name)
    address = request.remote or ""
    wait = state.throttle.reserve(name, address, time.time())
    if wait is None:
        raise RegistryError(Err.TOOMANYREQUESTS, f"too many failed logins for {name!r}; retry later",
                            {"Retry-After": str(int(state.config.throttle.max_delay))})
    if wait:
        await asyncio.sleep(wait)
    loop = asyncio.get_running_loop()
    matches = await loop.run_in_executor(None, check_password, password, stored or _DUMMY_HASH)
    if matches and stored is not None:
        accounts.remember_verified(name, stored, password)
        state.throttle.succeeded(name, address)
        return accounts.get(name)
    state.throttle.failed(name, address, time.time())
    return None


def challenge(request: web.Request, state: AuthState, scopes: list[Scope] = (),
              error: str | None = None) -> str:
    if state.signer is None:
        return f'Basic realm="{BASIC_REALM}"'
    realm = state.config.realm or f"{request.scheme}://{request.host}/token"
    parts = [f'realm="{realm}"', f'service="{state.config.service}"']
    if scopes:
        parts.append(f'scope="{" ".join(map(str, scopes))}"')
    if error:
        parts.append(f'error="{error}"')
    return "Bearer " + ",".join(parts)


def unauthorized(request: web.Request, state: AuthState, scopes: list[Scope] = (),
                 error: str | None = None, detail: Any = None) -> RegistryError:
    return RegistryError(Err.UNAUTHORIZED, detail,
                         {"WWW-Authenticate": challenge(request, state, scopes, error)})


@dataclass(frozen=True)
class Identity:
    user: User | None
    claims: Claims | None = None  # set when the request carried a token


async def identify(request: web.Request, state: AuthState) -> Identity:
    """Who sent the request: a user (Basic or token), or anonymous (no credentials).
    Credentials that are present but wrong are a 401, never anonymous."""
    header = request.headers.get("Authorization", "")
    if not header:
        return Identity(None)
    if (token := _bearer_token(header)) is not None and state.signer is not None:
        try:
            claims = state.signer.verify_access(token)
        except InvalidToken as exc:
            raise unauthorized(request, state, error="invalid_token", detail=str(exc)) from None
        user = None
        if claims.subject:
            user = state.accounts.get(claims.subject)
            if user is None:
                raise unauthorized(request, state, error="invalid_token", detail="the user is gone")
        return Identity(user, claims)
    credentials = _basic_credentials(header)
    if credentials is None:
        raise unauthorized(request, state, detail="unsupported Authorization header")
    user = await check_login(request, state, *credentials)
    if user is None:
        raise unauthorized(request, state, detail="incorrect username or password")
    return Identity(user)


async def request_user(request: web.Request) -> User | None:
    """The authenticated user of a request outside `/v2/` (search, the JSON API), or None:
    anonymous, or a registry without authentication. Wrong credentials raise 401."""
    state = request.app.get(AUTH)
    if state is None:
        return None
    if _USER_KEY not in request:
        request[_USER_KEY] = (await identify(request, state)).user
    return request[_USER_KEY]


def _authorize(request: web.Request, state: AuthState, identity: Identity, scopes: list[Scope]) -> None:
    for scope in scopes:
        granted = state.policy.granted(identity.user, scope)
        missing = [action for action in scope.actions if action not in granted]
        if missing:
            if identity.user is None:
                raise unauthorized(request, state, scopes, detail=[str(scope)])
            raise RegistryError(Err.DENIED, f"{identity.user.name} may not {','.join(missing)} {scope.name}")
        if identity.claims is not None and not all(
                identity.claims.allows(scope.type, scope.name, action) for action in scope.actions):
            raise unauthorized(request, state, scopes, "insufficient_scope", [str(scope)])


def _without_mount(request: web.Request) -> web.Request:
    query = MultiDict((k, v) for k, v in request.query.items() if k not in ("mount", "from"))
    return request.clone(rel_url=request.rel_url.with_query(query))


def _may_mount(state: AuthState, identity: Identity, source: str | None) -> bool:
    """A cross-repository mount reads the source repository: the client must be allowed
    to pull it. A mount from any repository is for admins only (it would let a digest
    reach a private repository)."""
    if source is None:
        return identity.user is not None and identity.user.is_admin
    if PULL not in state.policy.repository_actions(identity.user, source):
        return False
    return identity.claims is None or identity.claims.allows(REPOSITORY, source, PULL)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if path != "/v2" and not path.startswith("/v2/"):
        return await handler(request)
    state = request.app[AUTH]
    identity = await identify(request, state)
    scopes = required_access(request.method, path)
    if identity.user is None and identity.claims is None and not scopes:
        # The version check asks anonymous clients for credentials even when they may
        # pull: `docker login` relies on this 401 to test them.
        raise unauthorized(request, state)
    _authorize(request, state, identity, scopes)
    request[_USER_KEY] = identity.user
    if request.method == "POST" and "mount" in request.query:
        if not _may_mount(state, identity, request.query.get("from")):
            request = _without_mount(request)
    return await handler(request)


# the token endpoint

def _rfc3339(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def _grant(state: AuthState, user: User | None, scopes: list[Scope]) -> list[Access]:
    access = []
    for scope in scopes:
        actions = state.policy.granted(user, scope)
        if actions:
            access.append(Access(scope.type, scope.name, actions))
    return access


def _token_unauthorized(detail: str) -> RegistryError:
    return RegistryError(Err.UNAUTHORIZED, detail, {"WWW-Authenticate": f'Basic realm="{BASIC_REALM}"'})


async def get_token(request: web.Request) -> web.Response:
    """`GET /token?service=&scope=&account=&offline_token=`: Basic credentials or none."""
    state = request.app[AUTH]
    assert state.signer is not None
    user = None
    header = request.headers.get("Authorization", "")
    if header:
        credentials = _basic_credentials(header)
        if credentials is None:
            raise _token_unauthorized("the token endpoint takes Basic credentials")
        user = await check_login(request, state, *credentials)
        if user is None:
            raise _token_unauthorized("incorrect username or password")
    issued = state.signer.issue_access(user.name if user else "",
                                       _grant(state, user, parse_scopes(request.query.getall("scope", []))))
    body: dict[str, Any] = {"token": issued.token, "access_token": issued.token,
                            "expires_in": issued.expires_in, "issued_at": _rfc3339(issued.issued_at)}
    if user is not None and request.query.get("offline_token") == "true":
        body["refresh_token"] = state.signer.issue_refresh(user.name, state.accounts.stored_hash(user.name) or "")
    return web.json_response(body)


async def post_token(request: web.Request) -> web.Response:
    """`POST /token`, OAuth2 form: `grant_type=password` (username, password,
    access_type=offline for a refresh token) or `grant_type=refresh_token`."""
    state = request.app[AUTH]
    signer = state.signer
    assert signer is not None
    form = await request.post()
    grant_type = form.get("grant_type")
    refresh_token = None
    if grant_type == "password":
        user = await check_login(request, state, str(form.get("username", "")), str(form.get("password", "")))
        if user is None:
            raise _token_unauthorized("incorrect username or password")
        if form.get("access_type") == "offline":
            refresh_token = signer.issue_refresh(user.name, state.accounts.stored_hash(user.name) or "")
    elif grant_type == "refresh_token":
        try:
            claims = signer.verify_refresh(str(form.get("refresh_token", "")))
        except InvalidToken as exc:
            raise _token_unauthorized(f"refresh token: {exc}") from None
        user = state.accounts.get(claims.subject)
        stored = state.accounts.stored_hash(claims.subject)
        if user is None or stored is None or claims.password != password_fingerprint(stored):
            raise _token_unauthorized("refresh token revoked: the user is gone or changed password")
    else:
        raise RegistryError(Err.UNSUPPORTED, f"grant_type {str(grant_type)[:40]!r}: expected password or refresh_token")
    access = _grant(state, user, parse_scopes([str(form.get("scope", ""))]))
    issued = signer.issue_access(user.name, access)
    body: dict[str, Any] = {
        "access_token": issued.token, "expires_in": issued.expires_in,
        "issued_at": _rfc3339(issued.issued_at),
        "scope": " ".join(str(Scope(a.type, a.name, a.actions)) for a in access)}
    if refresh_token:
        body["refresh_token"] = refresh_token
    return web.json_response(body)
