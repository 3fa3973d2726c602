"""What every handler needs from the running app: its storage and the response headers
that describe an upload session."""

from __future__ import annotations

from aiohttp import web

from registry_server.ranges import range_header
from registry_server.storage import Storage

STORAGE = web.AppKey("storage", Storage)


def storage(request: web.Request) -> Storage:
    return request.app[STORAGE]


def upload_location(name: str, upload_id: str) -> str:
    return f"/v2/{name}/blobs/uploads/{upload_id}"


def upload_headers(name: str, upload_id: str, size: int) -> dict[str, str]:
    return {
        "Location": upload_location(name, upload_id),
        "Range": range_header(size),
        "Docker-Upload-UUID": upload_id,
    }


def blob_created(name: str, digest: str) -> web.Response:
    return web.Response(status=201, headers={
        "Location": f"/v2/{name}/blobs/{digest}",
        "Docker-Content-Digest": digest,
    })
