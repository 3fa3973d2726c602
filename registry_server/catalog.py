"""`GET /v2/_catalog`: the repositories, paginated like the tag list."""

from __future__ import annotations

from aiohttp import web

from registry_server.context import storage
from registry_server.pagination import next_link, parse_page


async def list_repositories(request: web.Request) -> web.Response:
    page = parse_page(request.query)
    names, more = storage(request).meta.repositories(page.last, page.limit)
    response = web.json_response({"repositories": names})
    link = next_link(request.path, page, names, more)
    if link:
        response.headers["Link"] = link
    return response
