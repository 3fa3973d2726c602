"""`/v2/<name>/manifests/<reference>`: GET/HEAD/PUT/DELETE by tag or digest.

A manifest is stored byte for byte as a blob; the metadata keeps its media type, its
`subject` and artifact type (for the referrers API) and the tags pointing at it. A PUT
must reference only blobs (config, layers) and manifests (of an index) the repository
already has, except layers that are never pushed (foreign/non-distributable)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from oci import mediatypes
from oci.digest import digest_bytes, split_digest
from oci.errors import InvalidManifest
from oci.manifest import Index, Manifest, parse_manifest
from registry_server.context import storage
from registry_server.errors import Err, RegistryError
from registry_server.metadata import ManifestRecord
from registry_server.names import parse_reference, validate_tag

# The spec asks registries to take manifests of at least 4 MiB and to answer 413 above
# their limit; distribution's limit is the same.
MAX_MANIFEST_BYTES = 4 << 20
KNOWN_TYPES = mediatypes.MANIFEST_TYPES + mediatypes.INDEX_TYPES


@dataclass(frozen=True)
class ManifestFacts:
    """What the registry must check and remember about a pushed manifest."""

    media_type: str
    blobs: list[str]
    manifests: list[str]
    subject: str | None
    artifact_type: str | None
    annotations: dict[str, str] | None


def inspect_manifest(data: bytes, content_type: str | None) -> ManifestFacts:
    """Validate manifest bytes as the registry must, raising MANIFEST_INVALID."""
    declared = content_type if content_type in KNOWN_TYPES else None
    try:
        parsed = parse_manifest(data, declared)
    except InvalidManifest as exc:
        raise RegistryError(Err.MANIFEST_INVALID, str(exc)) from None
    except RecursionError:
        raise RegistryError(Err.MANIFEST_INVALID, "manifest JSON is nested too deeply") from None
    subject = parsed.subject.digest if parsed.subject else None
    if isinstance(parsed, Index):
        media_type = parsed.media_type or declared or mediatypes.OCI_INDEX
        return ManifestFacts(media_type, [], [m.digest for m in parsed.manifests], subject,
                             parsed.artifact_type, parsed.annotations)
    assert isinstance(parsed, Manifest)
    media_type = parsed.media_type or declared or mediatypes.OCI_MANIFEST
    layers = [layer.digest for layer in parsed.layers
              if not mediatypes.is_foreign_layer(layer.media_type)]
    # The referrers API lists a manifest without artifactType under its config's type.
    artifact_type = parsed.artifact_type or parsed.config.media_type
    return ManifestFacts(media_type, [parsed.config.digest, *layers], [], subject,
                         artifact_type, parsed.annotations)


def accepts(accept_values: list[str], media_type: str) -> bool:
    """Content negotiation: a client that names manifest types in Accept gets only those;
    one that names none (curl, or `*/*`) gets whatever is stored."""
    offered = {part.split(";", 1)[0].strip() for value in accept_values for part in value.split(",")}
    if not offered & set(KNOWN_TYPES) or offered & {"*/*", "application/*"}:
        return True
    return media_type in offered


def _lookup(request: web.Request, name: str, reference: str) -> ManifestRecord:
    tag, digest = parse_reference(reference)
    meta = storage(request).meta
    record = meta.manifest_by_tag(name, tag) if tag else meta.manifest(name, digest)
    if record is None:
        raise RegistryError(Err.MANIFEST_UNKNOWN, f"{name}:{reference}" if tag else f"{name}@{reference}")
    return record


async def get_manifest(request: web.Request, name: str, reference: str) -> web.Response:
    record = _lookup(request, name, reference)
    if not accepts(request.headers.getall("Accept", []), record.media_type):
        raise RegistryError(
            Err.MANIFEST_UNKNOWN,
            f"{name}:{reference} is a {record.media_type}, which the Accept header does not list")
    data = storage(request).blobs.read_manifest(record.digest)
    return web.Response(body=data, headers={
        "Content-Type": record.media_type,
        "Docker-Content-Digest": record.digest,
        "ETag": f'"{record.digest}"',
    })


async def _read_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_MANIFEST_BYTES:
        raise RegistryError(Err.MANIFEST_TOO_LARGE, f"limit is {MAX_MANIFEST_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > MAX_MANIFEST_BYTES:
            raise RegistryError(Err.MANIFEST_TOO_LARGE, f"limit is {MAX_MANIFEST_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def put_manifest(request: web.Request, name: str, reference: str) -> web.Response:
    tag, reference_digest = parse_reference(reference)
    tags = [tag] if tag else []
    tags += [validate_tag(extra) for extra in request.query.getall("tag", [])]
    data = await _read_body(request)
    algorithm = split_digest(reference_digest)[0] if reference_digest else "sha256"
    digest = digest_bytes(data, algorithm)
    if reference_digest and digest != reference_digest:
        raise RegistryError(Err.DIGEST_INVALID, f"manifest digest is {digest}, not {reference_digest}")
    content_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip() or None
    facts = inspect_manifest(data, content_type)

    store = storage(request)
    # The bytes first: a manifest row never points at a blob file that is not there.
    await asyncio.get_running_loop().run_in_executor(None, store.blobs.write_small, data, digest)
    record = ManifestRecord(digest, facts.media_type, len(data), facts.subject,
                            facts.artifact_type, facts.annotations)
    missing = store.meta.put_manifest(name, record, facts.blobs, facts.manifests, tags)
    if missing:
        raise RegistryError(Err.MANIFEST_BLOB_UNKNOWN, {"missing": missing})
    headers = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest}
    if facts.subject:
        headers["OCI-Subject"] = facts.subject
    response = web.Response(status=201, headers=headers)
    for extra in request.query.getall("tag", []):
        response.headers.add("OCI-Tag", extra)
    return response


async def delete_manifest(request: web.Request, name: str, reference: str) -> web.Response:
    tag, digest = parse_reference(reference)
    meta = storage(request).meta
    deleted = meta.delete_tag(name, tag) if tag else meta.delete_manifest(name, digest)
    if not deleted:
        raise RegistryError(Err.MANIFEST_UNKNOWN, reference)
    return web.Response(status=202)
