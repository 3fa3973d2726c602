"""`push`: an image of the local store to a registry, in docker's order.

Each blob (layers, then config) is first looked for with HEAD; a blob the registry
holds in another repository of the same registry is mounted; the rest are uploaded,
`parallel` at a time (one PUT when small, resumable PATCH chunks when big). The manifest
goes last, as the store holds its bytes, so its digest is the same everywhere. As
docker, `progress` hears of the layers only."""

from __future__ import annotations

from dataclasses import dataclass

from oci.manifest import Descriptor
from oci.mediatypes import is_foreign_layer
from oci.reference import Reference, parse_reference
from oci.store import Store, StoredImage
from registry_client.client import Progress, RegistryClient, pull_scope, push_scopes
from registry_client.parallel import run_all
from registry_client.transport import Options


@dataclass(frozen=True)
class BlobOutcome:
    digest: str
    state: str  # "exists", "mounted", "pushed"


@dataclass(frozen=True)
class PushResult:
    reference: Reference
    digest: str
    size: int
    blobs: list[BlobOutcome]


def push(reference: Reference, store: Store, options: Options | None = None, *, source: str | None = None,
         progress: Progress | None = None, client: RegistryClient | None = None) -> PushResult:
    """Push the store's image `source` (default: `reference` itself, as docker pushes a
    tag) to `reference`'s registry, repository and tag."""
    options = options or Options()
    image = store.resolve(source or str(reference))
    owned = client is None
    client = client or RegistryClient(reference.domain, options)
    try:
        result = _push(reference, store, image, client, options, progress)
    finally:
        if owned:
            client.close()
    repo_digest = f"{reference.name}@{result.digest}"
    if repo_digest not in image.repo_digests:  # recording it rewrites index.json and fsyncs
        store.add_image(store.manifest_bytes(image), image.manifest_media_type, repo_digests=[repo_digest])
    return result


def mount_sources(image: StoredImage, reference: Reference) -> list[str]:
    """Other repositories of the same registry this image is known in: a blob of the
    image is likely there already and can be mounted instead of uploaded."""
    sources = []
    for name in (*image.tags, *image.repo_digests):
        other = parse_reference(name, default_tag=False)
        if other.domain == reference.domain and other.path != reference.path and other.path not in sources:
            sources.append(other.path)
    return sources


def _push(reference: Reference, store: Store, image: StoredImage, client: RegistryClient, options: Options,
          progress: Progress | None) -> PushResult:
    manifest = store.manifest(image)
    # Foreign (non-distributable) layers stay where their `urls` point, as docker leaves them.
    layers = [d for d in manifest.layers if not is_foreign_layer(d.media_type)]
    blobs = list({d.digest: d for d in [*layers, manifest.config]}.values())
    sources = mount_sources(image, reference)
    client.transport.authorize(push_scopes(reference.path) + [pull_scope(s) for s in sources])
    # Docker reports layers only: the config is uploaded without a line or a bar.
    silent = {manifest.config.digest} - {d.digest for d in layers}
    outcomes = transfer_blobs(
        blobs, options.parallel,
        lambda d: push_blob(client, reference.path, d, store, sources,
                            None if d.digest in silent else progress))
    data = store.manifest_bytes(image)
    tag = reference.tag or reference.digest or "latest"
    digest = client.put_manifest(reference.path, tag, data, image.manifest_media_type)
    return PushResult(reference, digest, len(data), outcomes)


def transfer_blobs(blobs: list[Descriptor], parallel: int, one) -> list[BlobOutcome]:
    """Run `one(descriptor)` for each blob, `parallel` at a time; the first error is
    raised once every transfer has stopped."""
    return run_all(blobs, parallel, one)


def push_blob(client: RegistryClient, repository: str, descriptor: Descriptor, store: Store,
              sources: list[str], progress: Progress | None) -> BlobOutcome:
    if client.blob_size(repository, descriptor.digest) is not None:
        if progress:
            progress.finish(descriptor.digest, "exists")
        return BlobOutcome(descriptor.digest, "exists")
    for source in sources:
        if client.mount_blob(repository, descriptor.digest, source):
            if progress:
                progress.finish(descriptor.digest, "mounted")
            return BlobOutcome(descriptor.digest, "mounted")
    client.upload_blob(repository, descriptor.digest, descriptor.size,
                       lambda: store.open_blob(descriptor.digest), progress)
    return BlobOutcome(descriptor.digest, "pushed")
