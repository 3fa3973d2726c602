"""The aiohttp application: one route for everything under `/v2/`, dispatched here by
path pattern (repository names contain slashes, so the resource is found from the end of
the path), with the name checked before any handler runs and spec errors rendered in one
place."""

from __future__ import annotations

import errno
import re
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from registry_server import base, blobs, catalog, manifests, referrers, tags, uploads
from registry_server.auth import AuthConfig, setup_auth
from registry_server.config import ServerConfig
from registry_server.context import STORAGE
from registry_server.errors import Err, RegistryError
from registry_server.names import validate_name
from registry_server.ops import setup_ops
from registry_server.storage import Storage
from registry_server.web import setup_web

Handler = Callable[..., Awaitable[web.StreamResponse]]

# (path pattern after /v2/, {method: handler}); the first match wins, so the upload
# routes come before the blob route that would otherwise swallow them.
ROUTES: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
    (re.compile(r"(?P<name>.+)/blobs/uploads/?"), {"POST": uploads.start_upload}),
    (re.compile(r"(?P<name>.+)/blobs/uploads/(?P<upload_id>[^/]+)"), {
        "GET": uploads.upload_status, "PATCH": uploads.patch_upload,
        "PUT": uploads.finish_upload, "DELETE": uploads.cancel_upload}),
    (re.compile(r"(?P<name>.+)/blobs/(?P<digest>[^/]+)"), {
        "GET": blobs.get_blob, "HEAD": blobs.get_blob, "DELETE": blobs.delete_blob}),
    (re.compile(r"(?P<name>.+)/manifests/(?P<reference>[^/]+)"), {
        "GET": manifests.get_manifest, "HEAD": manifests.get_manifest,
        "PUT": manifests.put_manifest, "DELETE": manifests.delete_manifest}),
    (re.compile(r"(?P<name>.+)/tags/list"), {"GET": tags.list_tags}),
    (re.compile(r"(?P<name>.+)/referrers/(?P<digest>[^/]+)"), {"GET": referrers.list_referrers}),
]
TOP_LEVEL: dict[str, dict[str, Handler]] = {
    "": {"GET": base.api_version, "HEAD": base.api_version},
    "_catalog": {"GET": catalog.list_repositories},
}


def resolve(path: str, method: str) -> tuple[Handler, dict[str, str]]:
    """The handler and its arguments for a decoded path under /v2/, or a spec error."""
    tail = path[len("/v2/"):] if path.startswith("/v2/") else ""
    methods = TOP_LEVEL.get(tail)
    params: dict[str, str] = {}
    if methods is None:
        for pattern, candidates in ROUTES:
            match = pattern.fullmatch(tail)
            if match:
                methods, params = candidates, match.groupdict()
                break
        else:
            raise RegistryError(Err.NOT_FOUND, path[:300])
    handler = methods.get(method)
    if handler is None:
        raise RegistryError(Err.METHOD_NOT_ALLOWED, f"{method} {path[:300]}",
                            {"Allow": ", ".join(methods)})
    if "name" in params:
        validate_name(params["name"])
    return handler, params


async def dispatch(request: web.Request) -> web.StreamResponse:
    handler, params = resolve(request.path, request.method)
    return await handler(request, **params)


def error_response(exc: RegistryError) -> web.Response:
    return web.Response(status=exc.err.status, body=exc.body(), headers=exc.headers,
                        content_type="application/json")


@web.middleware
async def spec_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RegistryError as exc:
        return error_response(exc)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        return error_response(RegistryError(Err.STORAGE_FULL, exc.strerror))
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_FULL:
            raise
        return error_response(RegistryError(Err.STORAGE_FULL, str(exc)))


async def _api_version_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Docker-Distribution-Api-Version"] = "registry/2.0"


def make_app(root: Path, config: ServerConfig | None = None) -> web.Application:
    """The registry over the store at `root`; call once per worker process (it opens the
    SQLite connection)."""
    config = config or ServerConfig()
    app = web.Application(middlewares=[spec_errors])
    app[STORAGE] = Storage(root)
    app.router.add_route("*", "/v2", dispatch)
    app.router.add_route("*", "/v2/{tail:.*}", dispatch)
    app.on_response_prepare.append(_api_version_header)

    async def close_storage(app: web.Application) -> None:
        app[STORAGE].close()

    app.on_cleanup.append(close_storage)
    setup_ops(app, root, config.log.access)
    # The [auth] table of the configuration file, under PYBUILD_REGISTRY_AUTH_* variables.
    setup_auth(app, root, AuthConfig.from_env(base=config.auth))
    setup_web(app, root)
    return app
