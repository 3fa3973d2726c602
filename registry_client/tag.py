"""`tag --remote` (crane's `tag`): give an image in a registry another tag without
pulling it. Within one repository the manifest is fetched and put back, byte for byte,
under the new tag; another repository of the same registry gets its blobs mounted first,
and another registry gets them streamed (what `copy` does)."""

from __future__ import annotations

from oci.errors import UserError
from oci.reference import Reference
from registry_client.client import RegistryClient, push_scopes
from registry_client.copy import copy
from registry_client.errors import NotFound
from registry_client.transport import Options


def tag_remote(source: Reference, destination: Reference, options: Options | None = None) -> str:
    """Point `destination`'s tag at the manifest `source` names; returns its digest."""
    if destination.digest or not destination.tag:
        raise UserError(f"{destination}: a remote tag needs a tag to set, not a digest")
    if (source.domain, source.path) != (destination.domain, destination.path):
        return copy(source, destination, options).digest
    with RegistryClient(source.domain, options) as client:
        client.transport.authorize(push_scopes(source.path))
        try:
            fetched = client.get_manifest(source.path, source.digest or source.tag or "latest")
        except NotFound as e:
            raise NotFound(f"{source}: {e}", e.status, e.codes) from None
        client.put_manifest(destination.path, destination.tag, fetched.data, fetched.media_type)
    return fetched.digest
