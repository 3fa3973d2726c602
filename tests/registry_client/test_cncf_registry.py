"""push, pull, copy and the listing commands against the CNCF registry (docker-registry),
checked with skopeo as the independent reader."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from faultproxy import Fault

from oci.digest import digest_bytes
from oci.manifest import Descriptor
from oci.reference import parse_reference
from oci.store import Store
from registry_client.client import RegistryClient
from registry_client.copy import copy
from registry_client.credentials import Credentials
from registry_client.pull import pull
from registry_client.push import push
from registry_client.transport import Options

FAST = Options(backoff=0.05, max_backoff=2)


def pushed(pybuild, image: str, target: str) -> str:
    """Tag `image` as `target`, push it with the CLI; the manifest digest."""
    pybuild("tag", image, target)
    out = pybuild("push", target).stdout
    return out.strip().splitlines()[-1].split("digest: ")[1].split()[0]


def test_pushed_image_has_the_same_digest_for_skopeo(pybuild, busybox_image, docker_registry, repo,
                                                     skopeo, tmp_path):
    target = f"{docker_registry.address}/{repo}:v1"
    digest = pushed(pybuild, busybox_image, target)
    with Store.open(pybuild.root) as store:
        assert digest == store.resolve(busybox_image).manifest_digest
    inspected = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{target}").stdout)
    assert inspected["Digest"] == digest
    skopeo("copy", "--src-tls-verify=false", f"docker://{target}", f"oci:{tmp_path / 'layout'}:v1")
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest


def test_push_prints_a_line_per_layer_and_none_for_the_config(pybuild, busybox_image, docker_registry, repo):
    target = f"{docker_registry.address}/{repo}:v1"
    pybuild("tag", busybox_image, target)
    out = pybuild("push", target).stdout
    with Store.open(pybuild.root) as store:
        manifest = store.manifest(store.resolve(busybox_image))
    assert [line for line in out.splitlines() if line.endswith(": Pushed")] == [
        f"{layer.digest.split(':')[1][:12]}: Pushed" for layer in manifest.layers]
    assert manifest.config.digest.split(":")[1][:12] not in out


def test_second_push_finds_every_layer_already_there(pybuild, busybox_image, docker_registry, repo):
    target = f"{docker_registry.address}/{repo}:v1"
    pushed(pybuild, busybox_image, target)
    out = pybuild("push", target).stdout
    assert out.count("Layer already exists") == 1 and "Pushed" not in out


def test_pull_into_an_empty_store_gives_the_same_image(pybuild, busybox_image, docker_registry, repo, tmp_path):
    target = f"{docker_registry.address}/{repo}:v1"
    digest = pushed(pybuild, busybox_image, target)
    other = type(pybuild)(tmp_path / "other-store")
    out = other("pull", target).stdout
    assert f"Digest: {digest}" in out and "Downloaded newer image" in out
    assert other.inspect(target)["Id"] == pybuild.inspect(busybox_image)["Id"]
    assert other.inspect(target)["RepoDigests"] == [f"{docker_registry.address}/{repo}@{digest}"]
    assert "Image is up to date" in other("pull", target).stdout


def test_image_pushed_by_skopeo_is_pulled_with_its_digest(pybuild, busybox_image, docker_registry, repo,
                                                           skopeo, tmp_path):
    target = f"{docker_registry.address}/{repo}:skopeo"
    skopeo("copy", "--dest-tls-verify=false", "--format", "v2s2", f"oci:{pybuild.root}:busybox:latest",
           f"docker://{target}")
    remote = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{target}").stdout)["Digest"]
    other = type(pybuild)(tmp_path / "other-store")
    assert f"Digest: {remote}" in other("pull", target).stdout
    assert other.inspect(target)["Id"] == pybuild.inspect(busybox_image)["Id"]


def test_push_mounts_blobs_from_another_repository_of_the_registry(pybuild, busybox_image, docker_registry, repo):
    first = f"{docker_registry.address}/{repo}:v1"
    pushed(pybuild, busybox_image, first)
    second = parse_reference(f"{docker_registry.address}/{repo}-again:v1")
    pybuild("tag", busybox_image, str(second))
    with Store.open(pybuild.root) as store:
        result = push(second, store, FAST)
    assert sorted(b.state for b in result.blobs) == ["mounted", "mounted"]


def test_big_blob_goes_up_in_chunks_and_comes_back_whole(docker_registry, repo):
    data = os.urandom(2_500_000)
    digest = digest_bytes(data)
    with RegistryClient(docker_registry.address, FAST) as client:
        client.upload_blob(repo, digest, len(data), lambda: io.BytesIO(data), chunk_size=1 << 20,
                           monolithic_limit=0)
        assert client.blob_size(repo, digest) == len(data)
        sink = io.BytesIO()
        client.fetch_blob(repo, Descriptor("application/octet-stream", digest, len(data)), sink)
    assert sink.getvalue() == data


def registry_blob_file(registry, digest: str) -> Path:
    hexpart = digest.split(":")[1]
    return (registry.home / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexpart[:2]
            / hexpart / "data")


def test_layer_whose_bytes_do_not_match_is_refused_and_not_stored(pybuild, busybox_image, docker_registry,
                                                                    repo, tmp_path):
    target = f"{docker_registry.address}/{repo}:v1"
    pushed(pybuild, busybox_image, target)
    layer = pybuild.inspect(busybox_image)
    with Store.open(pybuild.root) as store:
        layer_digest = store.manifest(store.resolve(busybox_image)).layers[0].digest
    blob = registry_blob_file(docker_registry, layer_digest)
    original = blob.read_bytes()
    corrupt = bytearray(original)
    corrupt[len(corrupt) // 2] ^= 0xFF
    blob.write_bytes(bytes(corrupt))
    other = type(pybuild)(tmp_path / "other-store")
    try:
        result = other("pull", target, check=False)
    finally:
        blob.write_bytes(original)  # the registry is shared by the whole session
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()
    assert len(error) == 1 and f"blob {layer_digest}: content hashes to sha256:" in error[0]
    assert not (tmp_path / "other-store" / "blobs" / "sha256" / layer_digest.split(":")[1]).exists()
    assert layer["Id"] not in other("images", "-q", "--no-trunc").stdout


def test_download_cut_in_the_middle_is_resumed(pybuild, busybox_image, docker_registry, repo, fault_proxy, tmp_path):
    pushed(pybuild, busybox_image, f"{docker_registry.address}/{repo}:v1")
    with Store.open(pybuild.root) as store:
        layer = store.manifest(store.resolve(busybox_image)).layers[0]
    fault_proxy.faults.append(Fault(f"GET .*/blobs/{layer.digest}", cut_after=300_000))
    with Store.open(tmp_path / "other") as other:
        result = pull(parse_reference(f"{fault_proxy.address}/{repo}:v1"), other, FAST)
        assert other.has_blob(layer.digest)
    assert layer.digest in result.downloaded
    assert sum(1 for line in fault_proxy.seen if line.startswith(f"GET /v2/{repo}/blobs/{layer.digest}")) == 2


def test_push_waits_out_429_and_503_and_succeeds(pybuild, busybox_image, repo, fault_proxy):
    target = parse_reference(f"{fault_proxy.address}/{repo}:v1")
    pybuild("tag", busybox_image, str(target))
    fault_proxy.faults += [Fault(r"PUT .*/manifests/", status=429, headers={"Retry-After": "1"}),
                           Fault(r"HEAD .*/blobs/", status=503, times=2)]
    with Store.open(pybuild.root) as store:
        result = push(target, store, FAST)
    manifest_puts = [s for s in fault_proxy.seen if s.startswith(f"PUT /v2/{repo}/manifests/")]
    assert len(manifest_puts) == 2
    with Store.open(pybuild.root) as store:
        assert result.digest == store.resolve(busybox_image).manifest_digest


def test_copy_within_a_registry_mounts_and_across_registries_streams(
        pybuild, busybox_image, docker_registry, docker_registry_htpasswd, repo):
    source = parse_reference(f"{docker_registry.address}/{repo}:v1")
    digest = pushed(pybuild, busybox_image, str(source))
    inside = copy(source, parse_reference(f"{docker_registry.address}/{repo}-copy:v2"), FAST)
    assert inside.digest == digest and {b.state for b in inside.blobs} == {"mounted"}
    login = Credentials(docker_registry_htpasswd.user, docker_registry_htpasswd.password)
    across = parse_reference(f"{docker_registry_htpasswd.address}/{repo}:v3")
    from registry_client import copy as copy_module

    src = RegistryClient(source.domain, FAST)
    dst = RegistryClient(across.domain, FAST, credentials=login)
    copier = copy_module._Copier(src, dst, source.path, across.path, False, FAST, None)
    copier.copy_manifest(src.get_manifest(source.path, "v1"), "v3")
    assert {b.state for b in copier.outcomes} == {"pushed"}
    assert dst.head_manifest(across.path, "v3").digest == digest


def test_ls_catalog_manifest_inspect_and_delete(pybuild, busybox_image, docker_registry, repo):
    name = f"{docker_registry.address}/{repo}"
    digest = pushed(pybuild, busybox_image, f"{name}:v1")
    pybuild("tag", busybox_image, f"{name}:v2")
    pybuild("push", f"{name}:v2")
    assert pybuild("ls", name).stdout.split() == ["v1", "v2"]
    assert repo in pybuild("catalog", docker_registry.address).stdout.split()
    manifest = json.loads(pybuild("manifest", "inspect", f"{name}:v1").stdout)
    with Store.open(pybuild.root) as store:
        assert manifest == json.loads(store.manifest_bytes(store.resolve(busybox_image)))
    raw = pybuild("manifest", "inspect", "--raw", f"{name}:v1").stdout.encode()
    assert digest_bytes(raw) == digest
    assert pybuild("delete", f"{name}:v1").stdout.strip() == f"Deleted {name}@{digest}"
    gone = pybuild("manifest", "inspect", f"{name}:v1", check=False)
    assert gone.returncode == 1 and gone.stderr.strip().startswith("Error: manifest unknown")


def test_search_falls_back_to_the_catalog_where_there_is_no_v1_search(pybuild, busybox_image, docker_registry, repo):
    pushed(pybuild, busybox_image, f"{docker_registry.address}/{repo}:v1")
    term = repo.split("/")[1]
    out = pybuild("search", f"{docker_registry.address}/{term}").stdout.splitlines()
    assert out[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    assert [line.split()[0] for line in out[1:]] == [f"{docker_registry.address}/{repo}"]
    names = pybuild("search", "--format", "{{.Name}}", f"{docker_registry.address}/{term}").stdout
    assert names == f"{docker_registry.address}/{repo}\n"


def test_failed_chunk_is_resent_from_the_offset_the_registry_reports(docker_registry, repo, fault_proxy):
    data = os.urandom(3_000_000)
    digest = digest_bytes(data)
    fault_proxy.faults.append(Fault(r"PATCH /v2/.*/blobs/uploads/", status=500))
    with RegistryClient(fault_proxy.address, FAST) as client:
        client.upload_blob(repo, digest, len(data), lambda: io.BytesIO(data), chunk_size=1 << 20,
                           monolithic_limit=0)
    with RegistryClient(docker_registry.address, FAST) as client:
        sink = io.BytesIO()
        client.fetch_blob(repo, Descriptor("application/octet-stream", digest, len(data)), sink)
    assert sink.getvalue() == data
    lines = [s.split("?")[0].rsplit("/", 1)[0] for s in fault_proxy.seen]
    assert lines.count(f"GET /v2/{repo}/blobs/uploads") == 1  # the status query after the 500
    assert lines.count(f"PATCH /v2/{repo}/blobs/uploads") == 4  # 3 chunks + the failed one


def test_artifact_pushed_without_referrers_api_is_listed_in_the_tag_schema_index(
        pybuild, busybox_image, docker_registry, repo):
    from oci import mediatypes as mt

    digest = pushed(pybuild, busybox_image, f"{docker_registry.address}/{repo}:v1")
    with RegistryClient(docker_registry.address, FAST) as client:
        assert client.referrers(repo, digest)["manifests"] == []
        client.upload_blob(repo, mt.OCI_EMPTY_DIGEST, mt.OCI_EMPTY_SIZE, lambda: io.BytesIO(mt.OCI_EMPTY_DATA))
        empty = {"mediaType": mt.OCI_EMPTY, "digest": mt.OCI_EMPTY_DIGEST, "size": mt.OCI_EMPTY_SIZE}
        subject = client.head_manifest(repo, digest)
        artifact = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                               "artifactType": "application/vnd.example.sbom", "config": empty,
                               "layers": [empty], "subject": subject.to_dict()}).encode()
        artifact_digest = client.put_manifest(repo, digest_bytes(artifact), artifact, mt.OCI_MANIFEST)
        client.put_manifest(repo, digest_bytes(artifact), artifact, mt.OCI_MANIFEST)  # listed once
        entry = {"mediaType": mt.OCI_MANIFEST, "size": len(artifact), "digest": artifact_digest,
                 "artifactType": "application/vnd.example.sbom"}
        assert client.referrers(repo, digest)["manifests"] == [entry]
        assert client.referrers(repo, digest, "application/vnd.other")["manifests"] == []
        tag_index = json.loads(client.get_manifest(repo, digest.replace(":", "-")).data)
        assert tag_index["manifests"] == [entry]


def test_index_pull_picks_the_platform_and_copy_takes_every_entry(pybuild, busybox_image, docker_registry, repo,
                                                                   tmp_path):
    from oci import mediatypes as mt

    name = f"{docker_registry.address}/{repo}"
    digest = pushed(pybuild, busybox_image, f"{name}:single")
    with RegistryClient(docker_registry.address, FAST) as client:
        size = client.head_manifest(repo, digest).size
        entries = [{"mediaType": mt.OCI_MANIFEST, "digest": digest, "size": size,
                    "platform": {"os": "linux", "architecture": arch}} for arch in ("arm64", "amd64")]
        index = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}).encode()
        index_digest = client.put_manifest(repo, "multi", index, mt.OCI_INDEX)
    other = type(pybuild)(tmp_path / "other-store")
    assert f"Digest: {index_digest}" in other("pull", "--platform", "linux/amd64", f"{name}:multi").stdout
    assert other.inspect(f"{name}:multi")["RepoDigests"] == [f"{name}@{index_digest}"]
    missing = other("pull", "--platform", "linux/s390x", f"{name}:multi", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "Error: no matching manifest for linux/s390x in the manifest list entries"
    result = copy(parse_reference(f"{name}:multi"), parse_reference(f"{name}-copy:multi"), FAST)
    assert result.digest == index_digest
    raw = pybuild("manifest", "inspect", "--raw", f"{name}-copy:multi").stdout.encode()
    assert raw == index
