"""`pull`: a registry image into the local store.

The manifest (and, for an index, the chosen platform's manifest) is fetched and checked
against its digest; config and layers not yet in the store are downloaded in parallel,
each streamed into a store blob writer that hashes as it writes, and published only
when size and digest match, so an unverified blob never reaches the store. The image is
registered last, with the tag and the `name@digest` docker records as its RepoDigest."""

from __future__ import annotations

from dataclasses import dataclass

from oci.manifest import Descriptor, Index, Manifest, parse_manifest
from oci.reference import Reference
from oci.store import Store, StoredImage
from registry_client.client import Progress, RegistryClient
from registry_client.errors import RegistryError
from registry_client.parallel import run_all
from registry_client.platforms import PlatformSpec, host_platform_spec, select_manifest
from registry_client.transport import Options


@dataclass(frozen=True)
class PullResult:
    reference: Reference
    digest: str  # what the reference resolved to (an index's digest for a multi-platform image)
    image: StoredImage
    downloaded: list[str]  # digests fetched; empty when the store had everything
    existed: list[str]  # digests the store already held


def pull(reference: Reference, store: Store, options: Options | None = None, *,
         platform: PlatformSpec | None = None, progress: Progress | None = None,
         client: RegistryClient | None = None) -> PullResult:
    options = options or Options()
    owned = client is None
    client = client or RegistryClient(reference.domain, options)
    try:
        return _pull(reference, store, client, options, platform or host_platform_spec(), progress)
    finally:
        if owned:
            client.close()


def _pull(reference: Reference, store: Store, client: RegistryClient, options: Options,
          platform: PlatformSpec, progress: Progress | None) -> PullResult:
    repository = reference.path
    top = client.get_manifest(repository, reference.digest or reference.tag or "latest")
    fetched = top
    parsed = parse_manifest(top.data, top.media_type or None)
    if isinstance(parsed, Index):
        chosen = select_manifest(parsed, platform)
        fetched = client.get_manifest(repository, chosen.digest, chosen.media_type)
        parsed = parse_manifest(fetched.data, fetched.media_type or None)
        if not isinstance(parsed, Manifest):
            raise RegistryError(f"{reference}: a manifest list entry is itself a list")
    assert isinstance(parsed, Manifest)
    blobs = [parsed.config, *parsed.layers]
    with store.lease():
        missing = [d for d in blobs if not store.has_blob(d.digest)]
        existed = [d.digest for d in blobs if store.has_blob(d.digest)]
        download_blobs(client, repository, missing, store, options.parallel, progress)
        tags = [str(reference)] if reference.tag and not reference.digest else []
        image = store.add_image(fetched.data, fetched.media_type or parsed.media_type, tags=tags,
                                repo_digests=[f"{reference.name}@{top.digest}"])
    return PullResult(reference, top.digest, image, [d.digest for d in missing], existed)


def download_blobs(client: RegistryClient, repository: str, blobs: list[Descriptor], store: Store,
                   parallel: int, progress: Progress | None) -> None:
    """Fetch `blobs` into the store, `parallel` at a time; the first failure is raised
    after the other transfers have stopped, and none of the failed ones is stored."""
    unique = list({d.digest: d for d in blobs}.values())
    run_all(unique, parallel, lambda d: download_blob(client, repository, d, store, progress))


def download_blob(client: RegistryClient, repository: str, descriptor: Descriptor, store: Store,
                  progress: Progress | None) -> None:
    if store.has_blob(descriptor.digest):
        return
    algorithm = descriptor.digest.split(":", 1)[0]
    with store.blob_writer(algorithm) as writer:
        client.fetch_blob(repository, descriptor, writer, progress, sink_verifies=True)
        writer.commit(descriptor.digest, descriptor.size)
    if progress:
        progress.finish(descriptor.digest, "done")
