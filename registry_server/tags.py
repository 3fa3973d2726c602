"""`GET /v2/<name>/tags/list` with `n`/`last` pagination and a `Link` to the next page."""

from __future__ import annotations

from aiohttp import web

from registry_server.context import storage
from registry_server.errors import Err, RegistryError
from registry_server.pagination import next_link, parse_page


async def list_tags(request: web.Request, name: str) -> web.Response:
    page = parse_page(request.query)
    meta = storage(request).meta
    if not meta.repository_exists(name):
        raise RegistryError(Err.NAME_UNKNOWN, name)
    tags, more = meta.tags(name, page.last, page.limit)
    response = web.json_response({"name": name, "tags": tags})
    link = next_link(request.path, page, tags, more)
    if link:
        response.headers["Link"] = link
    return response
