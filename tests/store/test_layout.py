"""The store's root is an OCI image layout that skopeo and umoci read as it is."""

import hashlib
import json
import subprocess

from oci.store import Store


def skopeo_inspect(location: str) -> dict:
    done = subprocess.run(["skopeo", "inspect", location], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_root_is_a_valid_oci_layout(store_root, cli, rootfs_tar):
    assert cli("import", rootfs_tar(), "busybox").code == 0
    assert json.loads((store_root / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((store_root / "index.json").read_text())
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    for descriptor in index["manifests"]:
        blob = store_root / "blobs" / "sha256" / descriptor["digest"].split(":")[1]
        data = blob.read_bytes()
        assert len(data) == descriptor["size"]
        assert "sha256:" + hashlib.sha256(data).hexdigest() == descriptor["digest"]
        manifest = json.loads(data)
        for referenced in [manifest["config"], *manifest["layers"]]:
            assert (store_root / "blobs" / "sha256" / referenced["digest"].split(":")[1]).is_file()


def test_tags_appear_as_ref_names_skopeo_and_umoci_resolve(store_root, cli, rootfs_tar, tmp_path):
    image_id = cli("import", rootfs_tar({"etc/motd": "hello from the store\n"}), "busybox").out.strip()
    assert cli("tag", "busybox", "busybox:1.36").code == 0
    assert cli("tag", "busybox", "localhost:5000/team/app:v2").code == 0

    names = [m["annotations"]["org.opencontainers.image.ref.name"]
             for m in json.loads((store_root / "index.json").read_text())["manifests"]]
    assert sorted(names) == ["busybox", "busybox:1.36", "busybox:latest", "localhost:5000/team/app:v2"]

    for name in ("busybox", "busybox:latest", "busybox:1.36", "localhost:5000/team/app:v2"):
        assert skopeo_inspect(f"oci:{store_root}:{name}")["Layers"], name
    assert skopeo_inspect(f"oci:{store_root}:busybox")["Os"] == "linux"

    bundle = tmp_path / "bundle"
    done = subprocess.run(["umoci", "unpack", "--image", f"{store_root}:busybox", str(bundle)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (bundle / "rootfs" / "etc" / "motd").read_text() == "hello from the store\n"
    assert image_id.startswith("sha256:")


def test_skopeo_copies_from_the_store_to_a_docker_archive(store_root, cli, rootfs_tar, tmp_path):
    image_id = cli("import", rootfs_tar(), "busybox").out.strip()
    archive = tmp_path / "out.tar"
    done = subprocess.run(["skopeo", "copy", f"oci:{store_root}:busybox", f"docker-archive:{archive}:busybox:latest"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    listing = subprocess.run(["tar", "tf", str(archive)], capture_output=True, text=True).stdout.split()
    assert f"{image_id.split(':')[1]}.json" in listing


def test_untagged_images_stay_in_the_index_without_a_name(store_root, cli, rootfs_tar):
    cli("import", rootfs_tar({"a": "1"}), "app:1")
    cli("import", rootfs_tar({"a": "2"}), "app:1")  # takes the tag, the first image dangles
    manifests = json.loads((store_root / "index.json").read_text())["manifests"]
    assert len(manifests) == 2
    assert sum("annotations" not in m for m in manifests) == 1
    with Store.open(store_root) as store:
        assert len(store.images()) == 2
