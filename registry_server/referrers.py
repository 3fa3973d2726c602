"""`GET /v2/<name>/referrers/<digest>`: the manifests whose `subject` is `<digest>`, as an
OCI image index, optionally filtered by `artifactType` (announced in
`OCI-Filters-Applied`). An unknown subject has an empty list, never a 404."""

from __future__ import annotations

import json

from aiohttp import web

from oci import mediatypes
from registry_server.context import storage
from registry_server.names import validate_digest


async def list_referrers(request: web.Request, name: str, digest: str) -> web.Response:
    validate_digest(digest)
    artifact_type = request.query.get("artifactType") or None
    records = storage(request).meta.referrers(name, digest, artifact_type)
    descriptors = []
    for record in records:
        descriptor: dict = {"mediaType": record.media_type, "digest": record.digest,
                            "size": record.size}
        if record.artifact_type:
            descriptor["artifactType"] = record.artifact_type
        if record.annotations:
            descriptor["annotations"] = record.annotations
        descriptors.append(descriptor)
    index = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": descriptors}
    # A media type with a charset parameter would not be the index type clients compare.
    response = web.Response(body=json.dumps(index).encode(), headers={"Content-Type": mediatypes.OCI_INDEX})
    if artifact_type is not None:
        response.headers["OCI-Filters-Applied"] = "artifactType"
    return response
