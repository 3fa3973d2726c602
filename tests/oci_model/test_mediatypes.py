import pytest

from oci import mediatypes as mt
from oci.digest import digest_bytes


@pytest.mark.parametrize(
    "media_type, compression",
    [
        (mt.OCI_LAYER, None),
        (mt.OCI_LAYER_GZIP, "gzip"),
        (mt.OCI_LAYER_ZSTD, "zstd"),
        (mt.DOCKER_LAYER, None),
        (mt.DOCKER_LAYER_GZIP, "gzip"),
        (mt.DOCKER_LAYER_ZSTD, "zstd"),
        (mt.DOCKER_FOREIGN_LAYER, "gzip"),
        (mt.OCI_LAYER_NONDISTRIBUTABLE_ZSTD, "zstd"),
    ],
)
def test_layer_types_carry_their_compression(media_type, compression):
    assert mt.is_layer(media_type)
    assert mt.layer_compression(media_type) == compression


def test_layer_media_type_round_trips_compression():
    for docker in (False, True):
        for compression in (None, "gzip", "zstd"):
            media_type = mt.layer_media_type(compression, docker=docker)
            assert mt.layer_compression(media_type) == compression
            assert media_type.startswith("application/vnd.docker" if docker else "application/vnd.oci")
    with pytest.raises(ValueError):
        mt.layer_media_type("bzip2")


def test_manifest_index_config_and_layer_kinds_do_not_overlap():
    assert mt.is_manifest(mt.OCI_MANIFEST) and mt.is_manifest(mt.DOCKER_MANIFEST)
    assert mt.is_index(mt.OCI_INDEX) and mt.is_index(mt.DOCKER_MANIFEST_LIST)
    assert mt.is_config(mt.OCI_CONFIG) and mt.is_config(mt.DOCKER_CONFIG)
    kinds = (mt.is_manifest, mt.is_index, mt.is_config, mt.is_layer)
    for media_type in mt.MANIFEST_TYPES + mt.INDEX_TYPES + mt.CONFIG_TYPES + mt.LAYER_TYPES:
        assert sum(kind(media_type) for kind in kinds) == 1, media_type
    assert not mt.is_manifest(None) and not mt.is_layer(mt.OCI_EMPTY)


def test_foreign_layers_are_recognised():
    assert mt.is_foreign_layer(mt.DOCKER_FOREIGN_LAYER)
    assert mt.is_foreign_layer(mt.OCI_LAYER_NONDISTRIBUTABLE_GZIP)
    assert not mt.is_foreign_layer(mt.OCI_LAYER_GZIP)


def test_empty_descriptor_constants_describe_the_two_byte_blob():
    assert mt.OCI_EMPTY == "application/vnd.oci.empty.v1+json"
    assert digest_bytes(mt.OCI_EMPTY_DATA) == mt.OCI_EMPTY_DIGEST
    assert len(mt.OCI_EMPTY_DATA) == mt.OCI_EMPTY_SIZE


def test_manifest_accept_lists_every_readable_kind():
    assert set(mt.MANIFEST_ACCEPT) == set(mt.MANIFEST_TYPES + mt.INDEX_TYPES)
