"""Media types of OCI image-spec v1.1 and Docker image manifest v2 schema 2.

A layer's media type carries its compression; `layer_compression` reads it from the
suffix so vendor layer types (`…tar+zstd`, `…tar.gzip`) are understood too."""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
# Deprecated in image-spec 1.1 but still found in Windows images.
OCI_LAYER_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDISTRIBUTABLE_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDISTRIBUTABLE_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
OCI_LAYOUT_VERSION = "1.0.0"

# The empty descriptor (image-spec 1.1): the config of artifacts that have none.
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_EMPTY_DATA = b"{}"
OCI_EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
OCI_EMPTY_SIZE = 2

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_PLUGIN_CONFIG = "application/vnd.docker.plugin.v1+json"
# Schema 1 is recognised only to refuse it with a clear message.
DOCKER_MANIFEST_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
CONFIG_TYPES = (OCI_CONFIG, DOCKER_CONFIG)
FOREIGN_LAYER_TYPES = (
    DOCKER_FOREIGN_LAYER,
    OCI_LAYER_NONDISTRIBUTABLE,
    OCI_LAYER_NONDISTRIBUTABLE_GZIP,
    OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
)
LAYER_TYPES = (
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    DOCKER_LAYER,
    DOCKER_LAYER_GZIP,
    DOCKER_LAYER_ZSTD,
) + FOREIGN_LAYER_TYPES

# What a client puts in `Accept` when it fetches a manifest by tag: the image kinds it
# can read, preferred first.
MANIFEST_ACCEPT = (OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST)


def is_manifest(media_type: str | None) -> bool:
    return media_type in MANIFEST_TYPES


def is_index(media_type: str | None) -> bool:
    return media_type in INDEX_TYPES


def is_config(media_type: str | None) -> bool:
    return media_type in CONFIG_TYPES


def is_layer(media_type: str | None) -> bool:
    return media_type in LAYER_TYPES


def is_foreign_layer(media_type: str | None) -> bool:
    """Layers a registry may not hold (pulled from `urls` instead, never pushed)."""
    return media_type in FOREIGN_LAYER_TYPES


def layer_compression(media_type: str) -> str | None:
    """"gzip", "zstd" or None (uncompressed) for a layer media type."""
    if media_type.endswith(("+gzip", ".gzip")):
        return "gzip"
    if media_type.endswith(("+zstd", ".zstd")):
        return "zstd"
    return None


def layer_media_type(compression: str | None, *, docker: bool = False) -> str:
    """The layer media type for a compression, in the OCI or the Docker family."""
    table = {
        (False, None): OCI_LAYER,
        (False, "gzip"): OCI_LAYER_GZIP,
        (False, "zstd"): OCI_LAYER_ZSTD,
        (True, None): DOCKER_LAYER,
        (True, "gzip"): DOCKER_LAYER_GZIP,
        (True, "zstd"): DOCKER_LAYER_ZSTD,
    }
    try:
        return table[(docker, compression)]
    except KeyError:
        raise ValueError(f"unknown layer compression {compression!r}") from None
