"""Real clients against the real server: skopeo copies an OCI layout in and out
bit-identically, docker pushes and pulls back the same image, and concurrent uploads of
one blob across two workers leave one correct blob."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

import peers
from regtest import OCI_MANIFEST, make_oci_layout, sha256


def blob_files(layout: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (layout / "blobs" / "sha256").iterdir()}


def test_skopeo_copies_an_oci_layout_in_and_out_bit_identically(registry, skopeo, tmp_path):
    source = tmp_path / "source"
    digest = make_oci_layout(source, "v1")
    skopeo("copy", "--dest-tls-verify=false", f"oci:{source}:v1",
           f"docker://{registry.address}/skopeo/app:v1")

    r = requests.get(f"{registry.url}/v2/skopeo/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert r.headers["Docker-Content-Digest"] == digest

    tags = skopeo("list-tags", "--tls-verify=false", f"docker://{registry.address}/skopeo/app")
    assert json.loads(tags.stdout)["Tags"] == ["v1"]

    back = tmp_path / "back"
    skopeo("copy", "--src-tls-verify=false", f"docker://{registry.address}/skopeo/app:v1",
           f"oci:{back}:v1")
    assert blob_files(back) == blob_files(source)

    skopeo("delete", "--tls-verify=false", f"docker://{registry.address}/skopeo/app@{digest}")
    assert requests.get(f"{registry.url}/v2/skopeo/app/manifests/v1").status_code == 404


def test_skopeo_copy_between_repositories_mounts_blobs(registry, skopeo, tmp_path):
    source = tmp_path / "source"
    make_oci_layout(source, "v1")
    skopeo("copy", "--dest-tls-verify=false", f"oci:{source}:v1",
           f"docker://{registry.address}/mount/first:v1")
    skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false",
           f"docker://{registry.address}/mount/first:v1",
           f"docker://{registry.address}/mount/second:v1")
    manifest = requests.get(f"{registry.url}/v2/mount/second/manifests/v1",
                            headers={"Accept": OCI_MANIFEST}).json()
    layer = manifest["layers"][0]["digest"]
    assert requests.head(f"{registry.url}/v2/mount/second/blobs/{layer}").status_code == 200
    # stored once for both repositories
    assert len(list((registry.root / "blobs" / "sha256").glob(layer.split(":")[1]))) == 1


def test_docker_push_then_pull_gives_back_the_same_image(registry, dockerd, docker_busybox):
    name = f"{registry.address}/docker/busybox:pushed"
    dockerd.docker("tag", docker_busybox, name)
    dockerd.docker("push", name)
    before = dockerd.image_id(name)
    dockerd.docker("rmi", name)
    dockerd.docker("pull", name)
    assert dockerd.image_id(name) == before
    dockerd.docker("rmi", name)


@pytest.fixture(scope="module")
def podman(tmp_path_factory):
    """`podman(*args)` with its own vfs storage and configuration (PEERS.md)."""
    home = tmp_path_factory.mktemp("podman")
    (home / "containers.conf").write_text(
        '[containers]\nnetns = "none"\n'
        'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
        '[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n')
    (home / "registries.conf").write_text("unqualified-search-registries = []\n")
    env = {**os.environ, "CONTAINERS_CONF": str(home / "containers.conf"),
           "CONTAINERS_REGISTRIES_CONF": str(home / "registries.conf")}

    def run(*args):
        return peers.run(["podman", "--root", home / "root", "--runroot", home / "run",
                          "--storage-driver", "vfs", *args], env=env)

    return run


def test_podman_push_then_pull_gives_back_the_same_image(registry, podman, tmp_path):
    layout = tmp_path / "layout"
    make_oci_layout(layout, "v1")
    podman("pull", f"oci:{layout}:v1")
    image_id = podman("images", "--quiet", "--no-trunc").stdout.split()[0]
    name = f"{registry.address}/podman/app:v1"
    podman("push", "--tls-verify=false", image_id, name)
    podman("rmi", "--force", image_id)
    podman("pull", "--tls-verify=false", name)
    assert podman("image", "inspect", "--format", "{{.Id}}", name).stdout.strip() == \
        image_id.removeprefix("sha256:")


def test_concurrent_uploads_of_one_blob_leave_one_correct_blob(registry):
    data = os.urandom(4 << 20)
    digest = sha256(data)

    def push(i: int) -> int:
        location = requests.post(f"{registry.url}/v2/race/r{i}/blobs/uploads/").headers["Location"]
        for start in range(0, len(data), 1 << 20):
            chunk = data[start:start + (1 << 20)]
            r = requests.patch(f"{registry.url}{location}", data=chunk,
                               headers={"Content-Range": f"{start}-{start + len(chunk) - 1}"})
            assert r.status_code == 202, r.text
            location = r.headers["Location"]
        return requests.put(f"{registry.url}{location}", params={"digest": digest}).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(push, range(8))) == [201] * 8
    for i in range(8):
        assert requests.get(f"{registry.url}/v2/race/r{i}/blobs/{digest}").content == data
    assert (registry.root / "blobs" / "sha256" / digest.split(":")[1]).read_bytes() == data
    assert list((registry.root / "uploads").iterdir()) == []


def test_pybuild_push_then_pull_into_another_store_gives_the_same_image(
        registry, pybuild, busybox_image, tmp_path):
    name = f"{registry.address}/pybuild/busybox:v1"
    pybuild("tag", busybox_image, name)
    pybuild("push", "--insecure", name)
    other = peers.Pybuild(tmp_path / "other-store")
    other("pull", "--insecure", name)
    assert other.inspect(name)["Id"] == pybuild.inspect(busybox_image)["Id"]
