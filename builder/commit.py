"""Turn a solved stage into an image of the store: an OCI manifest over its layer blobs and
its config, then its tags. Called only after every stage succeeded, so a failed build
leaves no image and moves no tag.

Layers found in the cache may have no blob in the requested compression (another
`--compression` last time) or none at all (an `image prune` freed it with the image that
used it): it is written again from the layer's snapshot, which gives the same diff ID.
"""

from __future__ import annotations

from collections.abc import Sequence

from builder.cache import BuildCache, blob_kind
from builder.solve import COMPRESSIONS, Layer, StageResult
from oci.digest import digest_bytes
from oci.errors import ImageNotFound
from oci.manifest import Descriptor
from oci.reference import parse_reference
from oci.store import Store, StoredImage

__all__ = ["commit_stage", "layer_descriptors"]


def _write_from_snapshot(store: Store, layer: Layer, compression: str, epoch: int | None) -> Descriptor:
    from oci.compression import LayerWriter
    from oci.tarwriter import write_tree

    with store.blob_writer() as blob:
        writer = LayerWriter(blob, None if compression == "uncompressed" else compression,
                             portable=epoch is not None)
        write_tree(store.snapshot_path(layer.chain_id), writer, overlay=True, source_date_epoch=epoch)
        digests = writer.close()
        if digests.diff_id != layer.diff_id:
            raise RuntimeError(f"snapshot {layer.chain_id} gives layer {digests.diff_id}, "
                               f"the build recorded {layer.diff_id}")
        info = blob.commit(digests.digest)
    return Descriptor(COMPRESSIONS[compression], info.digest, info.size)


def layer_descriptors(store: Store, cache: BuildCache, layers: Sequence[Layer], *, compression: str,
                      epoch: int | None) -> list[Descriptor]:
    """The blob of every layer, in the store (written now where it is missing)."""
    out = []
    for layer in layers:
        kind = blob_kind(compression, epoch)
        descriptor = layer.descriptor or cache.layer_blob(layer.diff_id, kind)
        if descriptor is None or not store.has_blob(descriptor.digest):
            descriptor = _write_from_snapshot(store, layer, compression, epoch)
            cache.save_layer_blob(layer.diff_id, kind, descriptor)
        out.append(descriptor)
    return out


def commit_stage(store: Store, cache: BuildCache, result: StageResult, *, tags: Sequence[str] = (),
                 compression: str = "gzip", epoch: int | None = None) -> StoredImage:
    """Store the image of `result` and point `tags` at it (hold `store.lease()` around the
    build and this call)."""
    descriptors = layer_descriptors(store, cache, result.layers, compression=compression, epoch=epoch)
    config = result.config.to_json()
    unchanged = _same_image(store, config, descriptors, tags)
    if unchanged is not None:
        return unchanged
    return store.commit_image(config, descriptors, tags=tags)


def _same_image(store: Store, config: bytes, descriptors: Sequence[Descriptor],
                tags: Sequence[str]) -> StoredImage | None:
    """The stored image when a rebuild gave exactly it, already carrying every tag: a
    no-op rebuild then writes nothing (no manifest, no index.json rewrite)."""
    try:
        image = store.get(digest_bytes(config))
    except ImageNotFound:
        return None
    if [d.digest for d in store.manifest(image).layers] != [d.digest for d in descriptors]:
        return None
    if not all(str(parse_reference(tag)) in image.tags for tag in tags):
        return None
    return image
