"""The store's root is an OCI image layout that skopeo and umoci read as it is."""

import json
from pathlib import Path

import peers


def test_skopeo_reads_an_image_from_the_store_by_its_name(
        pybuild: peers.Pybuild, busybox_image: str, store_root: Path, skopeo: peers.Skopeo):
    ours = pybuild.inspect(busybox_image)

    raw = json.loads(skopeo("inspect", "--raw", f"oci:{store_root}:busybox").stdout)
    config = json.loads(skopeo("inspect", "--config", f"oci:{store_root}:busybox").stdout)

    assert raw["config"]["digest"] == ours["Id"]
    assert config["rootfs"]["diff_ids"] == ours["RootFS"]["Layers"]
    assert config["config"]["Cmd"] == ["sh"]


def test_skopeo_copies_an_image_out_of_the_store_into_a_docker_archive(
        pybuild: peers.Pybuild, busybox_image: str, store_root: Path, skopeo: peers.Skopeo,
        tmp_path: Path):
    archive = tmp_path / "copied.tar"

    skopeo("copy", f"oci:{store_root}:busybox:latest", f"docker-archive:{archive}:copied/busybox:1")
    fresh = peers.Pybuild(tmp_path / "other-store")
    fresh("load", "-i", archive)

    assert fresh.inspect("copied/busybox:1")["Id"] == pybuild.inspect(busybox_image)["Id"]


def test_umoci_unpacks_an_image_from_the_store_into_a_bundle_runc_runs(
        busybox_image: str, store_root: Path, umoci, tmp_path: Path):
    bundle = tmp_path / "bundle"

    umoci("unpack", "--image", f"{store_root}:busybox", bundle)

    rootfs = bundle / "rootfs"
    assert (rootfs / "bin" / "busybox").stat().st_size > 1_000_000
    assert (rootfs / "bin" / "sh").readlink() == Path("/bin/busybox")
    assert (rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777
    spec = json.loads((bundle / "config.json").read_text())
    assert spec["process"]["args"] == ["sh"]
    spec["process"].update(terminal=False, args=["sh", "-c", "echo ok from $(id -un)"])
    (bundle / "config.json").write_text(json.dumps(spec))
    ran = peers.run(["runc", "--root", tmp_path / "runc", "run", "--bundle", bundle,
                     f"pybuild-test-{tmp_path.name}"])
    assert ran.stdout == "ok from root\n"
