"""`/v2/<name>/blobs/uploads/`: pushing blobs.

POST starts a session, or pushes a whole blob with `?digest=`, or mounts one with
`?mount=` (from the `from` repository, or from any repository when `from` is absent);
PATCH appends a chunk (in order, else 416) or a streamed body; PUT `?digest=` closes the
session with an optional last chunk and checks the digest; GET reports the progress;
DELETE cancels. Bodies are streamed to disk, never held in memory."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from registry_server.context import blob_created, storage, upload_headers
from registry_server.errors import Err, RegistryError
from registry_server.names import validate_digest, validate_name
from registry_server.ranges import parse_content_range
from registry_server.storage import UploadBusy, UploadWriter, is_upload_id

# Bytes gathered from the socket before one writev + hash round.
FLUSH_BYTES = 1 << 20
MAX_IOVECS = 512


class BodyEndedEarly(Exception):
    """The client stopped sending before the body was complete."""


async def receive(request: web.Request, writer: UploadWriter) -> int:
    """Stream the request body onto the end of the upload; return the bytes received.

    Hashing and writing a batch run in a thread (both release the GIL) while the loop
    reads the next batch from the socket; one batch in flight bounds the memory."""
    await writer.sync_hash()
    loop = asyncio.get_running_loop()
    received = 0
    pending: list[bytes] = []
    pending_bytes = 0
    in_flight: asyncio.Future | None = None
    ended_early: Exception | None = None
    try:
        async for chunk in request.content.iter_any():
            pending.append(chunk)
            pending_bytes += len(chunk)
            if pending_bytes >= FLUSH_BYTES or len(pending) >= MAX_IOVECS:
                if in_flight is not None:
                    await in_flight
                in_flight = loop.run_in_executor(None, writer.append, pending)
                received += pending_bytes
                pending, pending_bytes = [], 0
    except (aiohttp.ClientPayloadError, ConnectionError, asyncio.IncompleteReadError) as exc:
        ended_early = exc
    finally:
        if in_flight is not None:  # no thread may write to the upload after we return
            await in_flight
    # What arrived before a disconnect stays too, so a streamed upload can resume.
    if pending:
        writer.append(pending)
        received += pending_bytes
    if ended_early is not None:
        raise BodyEndedEarly(str(ended_early)) from ended_early
    return received


async def write_chunk(request: web.Request, name: str, writer: UploadWriter) -> None:
    """Append the request body, honouring its `Content-Range` if it has one: a chunk that
    does not start where the upload ends is refused with 416, and a chunk that arrives
    short is taken back out so the upload stays at a clean boundary."""
    start = writer.size
    expected = None
    content_range = request.headers.get("Content-Range")
    if content_range is not None:
        first, last = parse_content_range(content_range)
        expected = last - first + 1
        if first != start or (request.content_length not in (None, expected)):
            raise RegistryError(
                Err.RANGE_INVALID,
                f"upload is at byte {start}; got Content-Range {content_range[:100]}"
                + (f" with Content-Length {request.content_length}"
                   if request.content_length not in (None, expected) else ""),
                upload_headers(name, writer.upload_id, start))
    try:
        received = await receive(request, writer)
    except BodyEndedEarly as exc:
        if expected is not None:
            writer.truncate(start)
        raise RegistryError(Err.BLOB_UPLOAD_INVALID, f"request body ended early: {exc}") from exc
    if expected is not None and received != expected:
        writer.truncate(start)
        raise RegistryError(
            Err.SIZE_INVALID, f"Content-Range announced {expected} bytes, body had {received}")


def _session(request: web.Request, name: str, upload_id: str) -> None:
    meta = storage(request).meta
    if not is_upload_id(upload_id) or meta.upload_repo(upload_id) != name:
        raise RegistryError(Err.BLOB_UPLOAD_UNKNOWN, upload_id[:100])


def _open(request: web.Request, name: str, upload_id: str) -> UploadWriter:
    store = storage(request)
    try:
        return store.blobs.open_upload(upload_id)
    except FileNotFoundError:
        raise RegistryError(Err.BLOB_UPLOAD_UNKNOWN, upload_id) from None
    except UploadBusy:
        size = store.blobs.upload_size(upload_id)
        raise RegistryError(Err.RANGE_INVALID, "another request is writing to this upload",
                            upload_headers(name, upload_id, size)) from None


async def start_upload(request: web.Request, name: str) -> web.Response:
    store = storage(request)
    query = request.query
    if "mount" in query:
        digest = validate_digest(query["mount"])
        source = query.get("from")
        if source:
            validate_name(source)
        if store.blobs.exists(digest) and store.meta.mount_blob(name, digest, source or None):
            return blob_created(name, digest)
    elif "digest" in query:
        return await _monolithic_post(request, name, validate_digest(query["digest"]))
    upload_id = store.blobs.new_upload()
    store.meta.create_upload(upload_id, name)
    return web.Response(status=202, headers=upload_headers(name, upload_id, 0))


async def _monolithic_post(request: web.Request, name: str, digest: str) -> web.Response:
    store = storage(request)
    upload_id = store.blobs.new_upload()
    try:
        with store.blobs.open_upload(upload_id) as writer:
            try:
                await receive(request, writer)
            except BodyEndedEarly as exc:
                raise RegistryError(Err.BLOB_UPLOAD_INVALID, f"request body ended early: {exc}") from exc
            if not await writer.commit(digest):
                raise RegistryError(Err.DIGEST_INVALID, f"content does not match {digest}")
    finally:
        store.blobs.discard_upload(upload_id)
    store.meta.link_blob(name, digest)
    return blob_created(name, digest)


async def upload_status(request: web.Request, name: str, upload_id: str) -> web.Response:
    _session(request, name, upload_id)
    try:
        size = storage(request).blobs.upload_size(upload_id)
    except FileNotFoundError:
        raise RegistryError(Err.BLOB_UPLOAD_UNKNOWN, upload_id) from None
    return web.Response(status=204, headers=upload_headers(name, upload_id, size))


async def patch_upload(request: web.Request, name: str, upload_id: str) -> web.Response:
    _session(request, name, upload_id)
    with _open(request, name, upload_id) as writer:
        await write_chunk(request, name, writer)
        size = writer.size
    return web.Response(status=202, headers=upload_headers(name, upload_id, size))


async def finish_upload(request: web.Request, name: str, upload_id: str) -> web.Response:
    _session(request, name, upload_id)
    if "digest" not in request.query:
        raise RegistryError(Err.DIGEST_INVALID, "the digest query parameter is required")
    digest = validate_digest(request.query["digest"])
    store = storage(request)
    with _open(request, name, upload_id) as writer:
        await write_chunk(request, name, writer)
        matched = await writer.commit(digest)
    store.meta.delete_upload(upload_id)
    if not matched:
        # distribution discards the session too: its bytes can never become this blob.
        store.blobs.discard_upload(upload_id)
        raise RegistryError(Err.DIGEST_INVALID, f"uploaded content does not match {digest}")
    store.meta.link_blob(name, digest)
    return blob_created(name, digest)


async def cancel_upload(request: web.Request, name: str, upload_id: str) -> web.Response:
    _session(request, name, upload_id)
    store = storage(request)
    store.meta.delete_upload(upload_id)
    store.blobs.discard_upload(upload_id)
    return web.Response(status=204)
