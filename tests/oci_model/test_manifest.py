import gzip
import io
import json
import subprocess
import tarfile

import pytest

from oci import mediatypes as mt
from oci.config import ImageConfig
from oci.digest import digest_bytes
from oci.errors import InvalidManifest, UserError
from oci.manifest import Descriptor, Index, Manifest, Platform, canonical_json, parse_manifest




def run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def desc(media_type=mt.OCI_LAYER_GZIP, digest=D1, size=10, **kw):
    return {"mediaType": media_type, "digest": digest, "size": size, **kw}


def manifest_doc(**kw):
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": desc(mt.OCI_CONFIG, D2, 100),
        "layers": [desc()],
    }
    doc.update(kw)
    return doc


def test_canonical_json_sorts_keys_without_spaces_and_keeps_utf8():
    assert canonical_json({"b": 1, "a": {"d": [1, 2], "c": "é"}}) == '{"a":{"c":"é","d":[1,2]},"b":1}'.encode()


def test_manifest_round_trips_every_field():
    doc = manifest_doc(
        artifactType="application/vnd.example+json",
        subject=desc(mt.OCI_MANIFEST, D2, 5),
        annotations={"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
        layers=[desc(urls=["https://example.com/l"], annotations={"a": "b"})],
    )
    manifest = parse_manifest(json.dumps(doc).encode())
    assert isinstance(manifest, Manifest)
    assert manifest.subject.digest == D2
    assert manifest.artifact_type == "application/vnd.example+json"
    assert manifest.to_dict() == doc
    assert manifest.to_json() == canonical_json(doc)


def test_index_round_trips_platforms():
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            desc(mt.OCI_MANIFEST, D1, 7, platform={"architecture": "arm64", "os": "linux", "variant": "v8"}),
            desc(
                mt.OCI_MANIFEST, D2, 8,
                platform={"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1",
                          "os.features": ["win32k"]},
            ),
        ],
    }
    index = parse_manifest(json.dumps(doc).encode())
    assert isinstance(index, Index)
    assert str(index.manifests[0].platform) == "linux/arm64/v8"
    assert index.manifests[1].platform.os_version == "10.0.17763.1"
    assert index.to_dict() == doc


def test_docker_schema2_manifest_and_list_are_read():
    doc = manifest_doc(mediaType=mt.DOCKER_MANIFEST, config=desc(mt.DOCKER_CONFIG, D2, 1),
                       layers=[desc(mt.DOCKER_LAYER_GZIP), desc(mt.DOCKER_FOREIGN_LAYER, D2, 3,
                                                               urls=["https://x/y"])])
    manifest = parse_manifest(json.dumps(doc).encode(), mt.DOCKER_MANIFEST)
    assert manifest.layers[1].urls == ["https://x/y"]
    listing = {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST_LIST,
               "manifests": [desc(mt.DOCKER_MANIFEST, D1, 1, platform={"architecture": "amd64", "os": "linux"})]}
    assert isinstance(parse_manifest(json.dumps(listing).encode()), Index)


def test_kind_comes_from_the_shape_when_media_type_is_absent():
    doc = manifest_doc()
    del doc["mediaType"]
    assert isinstance(parse_manifest(json.dumps(doc).encode()), Manifest)
    assert isinstance(parse_manifest(b'{"schemaVersion":2,"manifests":[]}'), Index)
    assert isinstance(parse_manifest(json.dumps(doc).encode(), mt.OCI_MANIFEST), Manifest)


def test_artifact_with_empty_config_keeps_artifact_type():
    doc = manifest_doc(
        artifactType="application/vnd.example.sbom",
        config=desc(mt.OCI_EMPTY, mt.OCI_EMPTY_DIGEST, 2, data="e30="),
        layers=[desc("application/spdx+json", D1, 20)],
    )
    manifest = parse_manifest(json.dumps(doc).encode())
    assert manifest.config.media_type == mt.OCI_EMPTY
    assert manifest.config.data == "e30="
    assert manifest.to_dict() == doc


@pytest.mark.parametrize(
    "doc, message",
    [
        (manifest_doc(schemaVersion=1), "manifest.schemaVersion: expected 2, got 1"),
        (manifest_doc(schemaVersion="2"), "manifest.schemaVersion: expected integer"),
        (manifest_doc(schemaVersion=True), "manifest.schemaVersion: expected integer"),
        ({k: v for k, v in manifest_doc().items() if k != "config"}, "missing required field 'config'"),
        ({k: v for k, v in manifest_doc().items() if k != "layers"}, "missing required field 'layers'"),
        (manifest_doc(layers=[desc(digest="sha256:abc")]), "manifest.layers[0].digest"),
        (manifest_doc(layers=[desc(digest="md5:" + "a" * 32)]), "manifest.layers[0].digest"),
        (manifest_doc(layers=[desc(size=-1)]), "manifest.layers[0].size: must not be negative"),
        (manifest_doc(layers=[desc(size=1.5)]), "manifest.layers[0].size: expected integer"),
        (manifest_doc(layers=[{"digest": D1, "size": 1}]), "manifest.layers[0]: missing required field 'mediaType'"),
        (manifest_doc(config="x"), "manifest.config: expected object"),
        (manifest_doc(annotations={"a": 1}), "manifest.annotations['a']: expected string"),
        (manifest_doc(subject=desc(digest="nope")), "manifest.subject.digest"),
        ({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [desc(platform={"os": "linux"})]},
         "index.manifests[0].platform: missing required field 'architecture'"),
        ({"schemaVersion": 2, "mediaType": mt.OCI_INDEX}, "index: missing required field 'manifests'"),
        ({"schemaVersion": 1, "name": "x", "fsLayers": []}, "neither"),
        ({"schemaVersion": 1, "mediaType": mt.DOCKER_MANIFEST_SCHEMA1_SIGNED}, "schema 1"),
        (manifest_doc(mediaType="application/vnd.example"), "unsupported manifest media type"),
        ([1, 2], "not a JSON object"),
    ],
)
def test_invalid_manifests_are_refused_in_one_line(doc, message):
    with pytest.raises(InvalidManifest) as info:
        parse_manifest(json.dumps(doc).encode())
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, UserError)


def test_not_json_is_refused():
    with pytest.raises(InvalidManifest, match="not valid JSON"):
        parse_manifest(b"\xff{")


def test_body_media_type_must_agree_with_the_transport():
    with pytest.raises(InvalidManifest, match="does not match"):
        parse_manifest(json.dumps(manifest_doc()).encode(), mt.DOCKER_MANIFEST)


def test_descriptor_leaves_out_absent_optional_fields():
    assert Descriptor(mt.OCI_LAYER, D1, 3).to_dict() == {"mediaType": mt.OCI_LAYER, "digest": D1, "size": 3}
    assert Platform("amd64", "linux").to_dict() == {"architecture": "amd64", "os": "linux"}


# ---- against images made by umoci and converted by skopeo ----------------------------

def test_reads_umoci_index_manifest_and_config_losslessly(umoci_layout):
    index = parse_manifest(umoci_layout.index_bytes())
    assert isinstance(index, Index)
    assert index.manifests[0].annotations == {"org.opencontainers.image.ref.name": "t1"}
    manifest_bytes = umoci_layout.blob(index.manifests[0].digest)
    assert digest_bytes(manifest_bytes) == index.manifests[0].digest
    manifest = parse_manifest(manifest_bytes, index.manifests[0].media_type)
    assert manifest.to_dict() == json.loads(manifest_bytes)
    assert [layer.media_type for layer in manifest.layers] == [mt.OCI_LAYER_GZIP] * 2
    config_bytes = umoci_layout.blob(manifest.config.digest)
    config = ImageConfig.from_json(config_bytes)
    assert config.to_dict() == json.loads(config_bytes)
    for layer, diff_id in zip(manifest.layers, config.diff_ids):
        assert digest_bytes(gzip.decompress(umoci_layout.blob(layer.digest))) == diff_id


def test_reads_docker_schema2_manifest_written_by_skopeo(umoci_layout, tmp_path):
    run("skopeo", "copy", f"oci:{umoci_layout.root}:t1", f"dir:{tmp_path / 'd'}", "--format", "v2s2")
    manifest = parse_manifest((tmp_path / "d" / "manifest.json").read_bytes())
    assert manifest.media_type == mt.DOCKER_MANIFEST
    assert manifest.config.media_type == mt.DOCKER_CONFIG
    assert all(layer.media_type == mt.DOCKER_LAYER_GZIP for layer in manifest.layers)
    oci = parse_manifest(umoci_layout.blob(umoci_layout.manifest_digest()))
    assert manifest.config.digest == oci.config.digest
    assert [x.digest for x in manifest.layers] == [x.digest for x in oci.layers]


def test_layout_written_with_the_model_is_read_by_skopeo_and_umoci(tmp_path):
    """Our canonical manifest/config bytes are a valid image to the real tools."""
    root = tmp_path / "layout"
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> str:
        digest = digest_bytes(data)
        (blobs / digest[7:]).write_bytes(data)
        return digest

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("hello")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    layer_tar = raw.getvalue()
    layer = gzip.compress(layer_tar, mtime=0)
    config = ImageConfig(architecture="amd64", os="linux", diff_ids=[digest_bytes(layer_tar)])
    config.config.cmd = ["/hello"]
    config_bytes = config.to_json()
    manifest = Manifest(
        config=Descriptor(mt.OCI_CONFIG, put(config_bytes), len(config_bytes)),
        layers=[Descriptor(mt.OCI_LAYER_GZIP, put(layer), len(layer))],
    )
    manifest_bytes = manifest.to_json()
    index = Index(manifests=[Descriptor(mt.OCI_MANIFEST, put(manifest_bytes), len(manifest_bytes),
                                        annotations={"org.opencontainers.image.ref.name": "v1"})])
    (root / "index.json").write_bytes(index.to_json())
    (root / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": mt.OCI_LAYOUT_VERSION}))

    inspected = json.loads(run("skopeo", "inspect", "--config", f"oci:{root}:v1"))
    assert inspected["config"]["Cmd"] == ["/hello"]
    assert inspected["rootfs"]["diff_ids"] == config.diff_ids
    run("umoci", "unpack", "--image", f"{root}:v1", str(tmp_path / "bundle"))
    assert (tmp_path / "bundle" / "rootfs" / "hello").read_text() == "hi\n"
