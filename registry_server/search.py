"""Docker Hub's search API, so `docker search HOST:PORT/term` and `podman search` list this
registry's repositories: `GET /v1/_ping` and `GET /v1/search?q=&n=&page=`. Plus a small
JSON API to read a repository's description and stars, edit the description (who may
push) and star or unstar it (any user):

    GET    /api/v1/repositories/<name>        {"name", "description", "description_edited", "star_count", "starred"}
    PATCH  /api/v1/repositories/<name>        {"description": "..."}  (null or "" gives it back to the image label)
    PUT    /api/v1/repositories/<name>/star
    DELETE /api/v1/repositories/<name>/star

Results only name repositories the asker may pull."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web

from registry_server.auth import AUTH, request_user, unauthorized
from registry_server.authz import PUSH
from registry_server.context import STORAGE
from registry_server.errors import Err, RegistryError
from registry_server.names import validate_name
from registry_server.search_index import DEFAULT_PAGE_SIZE, MAX_DESCRIPTION, SearchIndex
from registry_server.storage import BlobStore

DESCRIPTION_LABEL = "org.opencontainers.image.description"
MAX_CONFIG_BYTES = 4 << 20
MAX_QUERY = 256
SEARCH = web.AppKey("search", SearchIndex)


def _read_json(blobs: BlobStore, digest: str) -> Any:
    path = blobs.path(digest)
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ValueError(f"{digest} is too large to describe an image")
    return json.loads(path.read_bytes())


def _pick_image(index: dict) -> str:
    """The image of an index whose label describes the repository: linux/amd64 if there,
    else the first real platform (attestation manifests say unknown/unknown)."""
    manifests = [m for m in index.get("manifests") or [] if isinstance(m, dict) and "digest" in m]
    platforms = [(m.get("platform") or {}, m["digest"]) for m in manifests]
    for platform, digest in platforms:
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return digest
    for platform, digest in platforms:
        if platform.get("os") != "unknown":
            return digest
    raise ValueError("index without images")


def description_label(blobs: BlobStore, digest: str) -> str | None:
    """The `org.opencontainers.image.description` of the image behind a manifest: its
    config label, else the manifest's (or index's) annotation. None when there is none or
    the image cannot be read."""
    try:
        document = json.loads(blobs.read_manifest(digest))
        annotations = document.get("annotations") or {}
        if "manifests" in document:
            document = json.loads(blobs.read_manifest(_pick_image(document)))
            annotations = {**annotations, **(document.get("annotations") or {})}
        config = _read_json(blobs, document["config"]["digest"])
        labels = (config.get("config") or {}).get("Labels") or {}
        value = labels.get(DESCRIPTION_LABEL) or annotations.get(DESCRIPTION_LABEL)
        return value if isinstance(value, str) else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _int_param(request: web.Request, name: str, default: int) -> int:
    value = request.query.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise RegistryError(Err.UNSUPPORTED, f"{name}={value[:40]!r} is not a number") from None


def _visible_sql(request: web.Request, user) -> tuple[str, list[str]]:
    state = request.app.get(AUTH)
    return state.policy.visible_repositories_sql(user, "r.name") if state else ("1", [])


def _can(request: web.Request, user, name: str, action: str) -> bool:
    state = request.app.get(AUTH)
    return state is None or action in state.policy.repository_actions(user, name)


def _index(request: web.Request) -> SearchIndex:
    index = request.app[SEARCH]
    blobs = request.app[STORAGE].blobs
    index.refresh(lambda digest: description_label(blobs, digest))
    return index


async def ping(request: web.Request) -> web.Response:
    # dockerd reads "standalone" from the body or this header: this registry answers
    # searches itself and needs no Docker Hub index.
    return web.json_response({"standalone": True}, headers={
        "X-Docker-Registry-Version": "0.6.3", "X-Docker-Registry-Standalone": "true"})


async def search(request: web.Request) -> web.Response:
    user = await request_user(request)
    query = request.query.get("q", "")
    if len(query) > MAX_QUERY:
        raise RegistryError(Err.UNSUPPORTED, f"q has at most {MAX_QUERY} characters")
    page_size = _int_param(request, "n", DEFAULT_PAGE_SIZE)
    page = _int_param(request, "page", 1)
    result = _index(request).search(query, page, page_size, _visible_sql(request, user))
    return web.json_response({
        "num_results": result.total, "query": query, "page": result.page,
        "page_size": result.page_size, "num_pages": result.num_pages,
        "results": [{"name": hit.name, "description": hit.description, "star_count": hit.stars,
                     "is_official": hit.name.startswith("library/"), "is_automated": False}
                    for hit in result.hits]})


async def _visible_repository(request: web.Request) -> tuple[str, Any]:
    name = validate_name(request.match_info["name"])
    user = await request_user(request)
    state = request.app.get(AUTH)
    if not _can(request, user, name, "pull"):
        if state is not None and user is None:
            raise unauthorized(request, state)  # logging in may show it
        raise RegistryError(Err.NAME_UNKNOWN, name)
    if _index(request).info(name) is None:
        raise RegistryError(Err.NAME_UNKNOWN, name)
    return name, user


def _require_user(request: web.Request, user: Any) -> None:
    state = request.app.get(AUTH)
    if state is None:
        raise RegistryError(Err.DENIED, "this registry has no user accounts")
    if user is None:
        raise unauthorized(request, state)


async def repository_info(request: web.Request) -> web.Response:
    name, user = await _visible_repository(request)
    index = request.app[SEARCH]
    info = index.info(name)
    assert info is not None
    return web.json_response({
        "name": info.name, "description": info.description,
        "description_edited": info.description_edited, "star_count": info.stars,
        "starred": user is not None and index.starred(name, user.name)})


async def edit_repository(request: web.Request) -> web.Response:
    name, user = await _visible_repository(request)
    if request.app.get(AUTH) is not None:
        _require_user(request, user)
        if not _can(request, user, name, PUSH):
            raise RegistryError(Err.DENIED, f"{user.name} may not edit {name}")
    try:
        body = await request.json()
        description = body["description"]
        if description is not None and not isinstance(description, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise RegistryError(Err.UNSUPPORTED, 'expected a JSON body {"description": "..."}') from None
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise RegistryError(Err.UNSUPPORTED, f"a description has at most {MAX_DESCRIPTION} characters")
    request.app[SEARCH].set_description(name, description)
    return await repository_info(request)


async def star(request: web.Request) -> web.Response:
    name, user = await _visible_repository(request)
    _require_user(request, user)
    count = request.app[SEARCH].star(name, user.name, request.method == "PUT")
    return web.json_response({"name": name, "star_count": count,
                              "starred": request.method == "PUT"})


def setup_search(app: web.Application, root: Path) -> None:
    """Add the search routes to a registry app over the store at `root` (its database
    must exist: call after the app's storage is open). Does nothing when called again."""
    if SEARCH in app:
        return
    app[SEARCH] = SearchIndex(root / "registry.db")
    app.router.add_route("GET", "/v1/_ping", ping)
    app.router.add_route("GET", "/v1/search", search)
    app.router.add_route("PUT", "/api/v1/repositories/{name:.+}/star", star)
    app.router.add_route("DELETE", "/api/v1/repositories/{name:.+}/star", star)
    app.router.add_route("GET", "/api/v1/repositories/{name:.+}", repository_info)
    app.router.add_route("PATCH", "/api/v1/repositories/{name:.+}", edit_repository)

    async def close(app: web.Application) -> None:
        app[SEARCH].close()

    app.on_cleanup.append(close)
