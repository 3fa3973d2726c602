"""scripts/base_images.py makes working base images from Debian packages alone."""

import tarfile
from pathlib import Path

import peers

base_images = peers.base_images


def test_busybox_rootfs_tar_is_the_same_bytes_every_time(busybox_rootfs_tar: Path, tmp_path: Path):
    again = base_images.busybox_tar(tmp_path / "cache")

    assert again.read_bytes() == busybox_rootfs_tar.read_bytes()


def test_busybox_rootfs_has_a_shell_users_and_a_sticky_tmp(busybox_rootfs_tar: Path):
    with tarfile.open(busybox_rootfs_tar) as tar:
        members = {m.name: m for m in tar.getmembers()}
        passwd = tar.extractfile("etc/passwd").read().decode()

    assert members["bin/sh"].linkname == "/bin/busybox"
    assert members["usr/bin/env"].linkname == "/bin/busybox"
    assert members["bin/busybox"].mode == 0o755
    assert members["tmp"].mode == 0o1777
    assert {m.uid for m in members.values()} == {0}
    assert passwd.startswith("root:x:0:0:")
    assert "nobody:x:65534:65534:" in passwd


def test_mirror_comes_from_the_hosts_deb822_sources(tmp_path: Path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n"
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n")

    assert base_images.host_mirror("bookworm", tmp_path) == "http://mirror.example/debian"


def test_mirror_comes_from_a_one_line_sources_list(tmp_path: Path):
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n")

    assert base_images.host_mirror("bookworm", tmp_path) == "http://mirror.example/debian"


def test_mirror_falls_back_to_debians_own(tmp_path: Path):
    assert base_images.host_mirror("bookworm", tmp_path) == base_images.DEFAULT_MIRROR


def test_debian_image_imported_by_pybuild_runs_apt_in_docker(
        pybuild: peers.Pybuild, debian_rootfs_tar: Path, dockerd: peers.Dockerd, tmp_path: Path):
    name = peers.import_base_image(pybuild, debian_rootfs_tar, base_images.DEBIAN)
    pybuild("save", "-o", tmp_path / "debian.tar", name)
    dockerd.docker("load", "-i", tmp_path / "debian.tar")

    ran = dockerd.docker("run", "--rm", "--network", "none", name, "sh", "-c",
                         ". /etc/os-release && echo $VERSION_CODENAME && apt-get --version | head -1")

    codename, apt = ran.stdout.splitlines()
    assert codename == "bookworm"
    assert apt.startswith("apt 2.6")
