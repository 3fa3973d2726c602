"""`/v2/<name>/blobs/<digest>`: GET and HEAD (with Range) and DELETE.

A repository serves only the blobs linked to it (pushed, mounted or referenced by one of
its manifests), although the bytes are stored once for all repositories."""

from __future__ import annotations

from aiohttp import web

from registry_server.context import storage
from registry_server.errors import Err, RegistryError
from registry_server.names import validate_digest


async def get_blob(request: web.Request, name: str, digest: str) -> web.StreamResponse:
    validate_digest(digest)
    store = storage(request)
    path = store.blobs.path(digest)
    if not store.meta.is_linked(name, digest) or not path.is_file():
        raise RegistryError(Err.BLOB_UNKNOWN, digest)
    # FileResponse answers Range (206/416) and HEAD itself and sends with sendfile(2).
    return web.FileResponse(path, headers={
        "Content-Type": "application/octet-stream",
        "Docker-Content-Digest": digest,
        "Accept-Ranges": "bytes",
        "Cache-Control": "max-age=31536000",
    })


async def delete_blob(request: web.Request, name: str, digest: str) -> web.Response:
    validate_digest(digest)
    if not storage(request).meta.unlink_blob(name, digest):
        raise RegistryError(Err.BLOB_UNKNOWN, digest)
    return web.Response(status=202, headers={"Docker-Content-Digest": digest})
