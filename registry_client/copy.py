"""`copy`: an image from one registry repository to another without the local store.

Every platform of an index is copied, then the index, each manifest byte for byte (so
digests stay the same). Blobs the destination holds are skipped; within one registry
they are mounted from the source repository; across registries each is streamed from
the source's GET into the destination's PATCH, verified on the way."""

from __future__ import annotations

from dataclasses import dataclass

from oci.manifest import Descriptor, Index, Manifest, parse_manifest
from oci.reference import Reference
from registry_client.client import READ_CHUNK, FetchedManifest, Progress, RegistryClient, pull_scope, push_scopes
from registry_client.push import BlobOutcome, transfer_blobs
from registry_client.transport import Options


@dataclass(frozen=True)
class CopyResult:
    digest: str
    blobs: list[BlobOutcome]


def copy(source: Reference, destination: Reference, options: Options | None = None, *,
         progress: Progress | None = None) -> CopyResult:
    options = options or Options()
    same_registry = source.domain == destination.domain
    src = RegistryClient(source.domain, options)
    dst = src if same_registry else RegistryClient(destination.domain, options)
    try:
        copier = _Copier(src, dst, source.path, destination.path, same_registry, options, progress)
        if same_registry:
            dst.transport.authorize(push_scopes(destination.path) + [pull_scope(source.path)])
        else:
            src.transport.authorize([pull_scope(source.path)])
            dst.transport.authorize(push_scopes(destination.path))
        top = src.get_manifest(source.path, source.digest or source.tag or "latest")
        copier.copy_manifest(top, destination.tag or destination.digest or source.tag or top.digest)
        return CopyResult(top.digest, copier.outcomes)
    finally:
        src.close()
        if dst is not src:
            dst.close()


@dataclass
class _Copier:
    src: RegistryClient
    dst: RegistryClient
    src_repo: str
    dst_repo: str
    same_registry: bool
    options: Options
    progress: Progress | None

    def __post_init__(self) -> None:
        self.outcomes: list[BlobOutcome] = []

    def copy_manifest(self, fetched: FetchedManifest, reference: str) -> None:
        parsed = parse_manifest(fetched.data, fetched.media_type or None)
        if isinstance(parsed, Index):
            for child in parsed.manifests:
                self.copy_manifest(self.src.get_manifest(self.src_repo, child.digest, child.media_type),
                                   child.digest)
        else:
            assert isinstance(parsed, Manifest)
            blobs = list({d.digest: d for d in [*parsed.layers, parsed.config]}.values())
            self.outcomes += transfer_blobs(blobs, self.options.parallel, self.copy_blob)
        media_type = fetched.media_type or parsed.media_type or ""
        self.dst.put_manifest(self.dst_repo, reference, fetched.data, media_type)

    def copy_blob(self, descriptor: Descriptor) -> BlobOutcome:
        if self.dst.blob_size(self.dst_repo, descriptor.digest) is not None:
            return BlobOutcome(descriptor.digest, "exists")
        if self.same_registry and self.dst.mount_blob(self.dst_repo, descriptor.digest, self.src_repo):
            return BlobOutcome(descriptor.digest, "mounted")
        with self.src.open_blob(self.src_repo, descriptor.digest) as response:
            self.dst.upload_stream(self.dst_repo, descriptor, response.iter_content(READ_CHUNK))
        if self.progress:
            self.progress.finish(descriptor.digest, "pushed")
        return BlobOutcome(descriptor.digest, "pushed")
