"""`delete`: remove a manifest from a registry. A tag is resolved to its digest first,
since the distribution API deletes manifests only by digest."""

from __future__ import annotations

from oci.reference import Reference
from registry_client.client import RegistryClient
from registry_client.errors import NotFound
from registry_client.transport import Options


def delete(reference: Reference, options: Options | None = None) -> str:
    """Delete the manifest `reference` names; returns its digest."""
    with RegistryClient(reference.domain, options) as client:
        digest = reference.digest
        if digest is None:
            found = client.head_manifest(reference.path, reference.tag or "latest")
            if found is None:
                raise NotFound(f"manifest unknown: {reference}", 404)
            digest = found.digest
        client.delete_manifest(reference.path, digest)
    return digest
