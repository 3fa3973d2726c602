"""write_tree / TarWriter output: deterministic, complete metadata, readable by GNU tar and
Python's tarfile, and overlay upperdirs converted to OCI whiteouts."""

import io
import os
import socket
import stat
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest
from layer_helpers import tree_state, whole_second_mtimes

from oci.tarformat import TarEntry
from oci.tarwriter import TarWriter, UnsupportedOverlayFeature, write_tree

CAPABILITY = bytes.fromhex("0100000200200000000000000000000000000000")  # cap_net_bind_service+ep


def tar_of(root: Path, **kw) -> bytes:
    buffer = io.BytesIO()
    write_tree(root, buffer, **kw)
    return buffer.getvalue()


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers()


def by_name(data: bytes) -> dict[str, tarfile.TarInfo]:
    return {m.name: m for m in members(data)}


@pytest.fixture
def rich_tree(tmp_path: Path) -> Path:
    """A tree with every kind of entry a layer carries."""
    root = tmp_path / "tree"
    (root / "usr/bin").mkdir(parents=True)
    (root / "tmp").mkdir(mode=0o1777)
    os.chmod(root / "tmp", 0o1777)
    (root / "usr/bin/ping").write_bytes(b"\x7fELF ping")
    os.chmod(root / "usr/bin/ping", 0o4755)
    os.setxattr(root / "usr/bin/ping", "security.capability", CAPABILITY)
    (root / "usr/bin/wall").write_bytes(b"wall")
    os.chown(root / "usr/bin/wall", 0, 5)
    os.chmod(root / "usr/bin/wall", 0o2755)
    (root / "etc").mkdir()
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    os.link(root / "etc/passwd", root / "etc/passwd-")
    os.symlink("/usr/bin/ping", root / "usr/bin/ping6")
    os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(root / "loop0", stat.S_IFBLK | 0o660, os.makedev(7, 0))
    os.mkfifo(root / "fifo", 0o640)
    long_dir = root / ("d" * 120) / ("e" * 120)
    long_dir.mkdir(parents=True)
    (long_dir / ("f" * 200)).write_bytes(b"long")
    os.symlink("t" * 300, root / "long-link")
    (root / "owned").write_bytes(b"x" * 3000)
    os.chown(root / "owned", 100123, 200456)
    os.setxattr(root / "owned", "user.comment", b"hello")
    os.utime(root / "owned", (1_500_000_000, 1_500_000_000))
    whole_second_mtimes(root)
    return root


def test_two_runs_over_the_same_tree_give_identical_bytes(rich_tree):
    assert tar_of(rich_tree) == tar_of(rich_tree)


def test_entries_are_sorted_and_parents_come_first(rich_tree):
    names = [m.name for m in members(tar_of(rich_tree))]
    for directory in {n.rsplit("/", 1)[0] for n in names if "/" in n}:
        children = [n for n in names if "/" in n and n.rsplit("/", 1)[0] == directory]
        assert children == sorted(children, key=os.fsencode)
        assert names.index(directory) < names.index(children[0])
    top = [n for n in names if "/" not in n]
    assert top == sorted(top, key=os.fsencode)


def test_owners_are_numeric_only(rich_tree):
    info = by_name(tar_of(rich_tree))
    assert (info["owned"].uid, info["owned"].gid) == (100123, 200456)
    assert (info["usr/bin/wall"].uid, info["usr/bin/wall"].gid) == (0, 5)
    assert all(m.uname == "" and m.gname == "" for m in info.values())


def test_special_modes_devices_fifos_and_symlinks_are_kept(rich_tree):
    info = by_name(tar_of(rich_tree))
    assert info["usr/bin/ping"].mode == 0o4755
    assert info["usr/bin/wall"].mode == 0o2755
    assert info["tmp"].mode == 0o1777 and info["tmp"].isdir()
    assert info["null"].ischr() and (info["null"].devmajor, info["null"].devminor) == (1, 3)
    assert info["loop0"].isblk() and (info["loop0"].devmajor, info["loop0"].devminor) == (7, 0)
    assert info["fifo"].isfifo() and info["fifo"].mode == 0o640
    assert info["usr/bin/ping6"].issym() and info["usr/bin/ping6"].linkname == "/usr/bin/ping"


def test_second_path_of_an_inode_is_a_hardlink_to_the_first(rich_tree):
    info = by_name(tar_of(rich_tree))
    assert info["etc/passwd"].isreg() and info["etc/passwd"].size > 0
    assert info["etc/passwd-"].islnk() and info["etc/passwd-"].linkname == "etc/passwd"


def test_long_names_and_link_targets_use_pax(rich_tree):
    data = tar_of(rich_tree)
    info = by_name(data)
    long_file = f"{'d' * 120}/{'e' * 120}/{'f' * 200}"
    assert info[long_file].size == 4
    assert info["long-link"].linkname == "t" * 300
    assert b"path=" + long_file.encode() in data


def test_xattrs_including_file_capabilities_are_carried(rich_tree):
    info = by_name(tar_of(rich_tree))
    caps = info["usr/bin/ping"].pax_headers["SCHILY.xattr.security.capability"]
    assert caps.encode("utf-8", "surrogateescape") == CAPABILITY
    assert info["owned"].pax_headers["SCHILY.xattr.user.comment"] == "hello"


def test_source_date_epoch_clamps_newer_mtimes_only(rich_tree):
    info = by_name(tar_of(rich_tree, source_date_epoch=1_600_000_000))
    assert info["owned"].mtime == 1_500_000_000
    assert info["etc/passwd"].mtime == 1_600_000_000
    assert max(m.mtime for m in info.values()) == 1_600_000_000


def test_source_date_epoch_makes_copies_made_at_different_times_identical(tmp_path):
    trees = []
    for i, when in enumerate((1_700_000_000, 1_750_000_000)):
        root = tmp_path / f"copy{i}"
        (root / "app").mkdir(parents=True)
        (root / "app/main.py").write_text("print('hi')\n")
        for path in (root / "app/main.py", root / "app"):
            os.utime(path, (when, when))
        trees.append(tar_of(root, source_date_epoch=1_600_000_000))
    assert trees[0] == trees[1]


def test_gnu_tar_extracts_an_identical_tree(rich_tree, tmp_path):
    layer = tmp_path / "layer.tar"
    layer.write_bytes(tar_of(rich_tree))
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf",
                    str(layer), "-C", str(out)], check=True)
    os.chmod(out, os.stat(rich_tree).st_mode)
    assert tree_state(out) == tree_state(rich_tree)


def test_sockets_are_skipped(tmp_path):
    root = tmp_path / "tree"
    root.mkdir()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "sock"))
        (root / "file").write_bytes(b"x")
        assert [m.name for m in members(tar_of(root))] == ["file"]


def test_tarwriter_adds_entries_in_the_given_order_with_clamped_mtimes():
    buffer = io.BytesIO()
    with TarWriter(buffer, source_date_epoch=100) as writer:
        writer.add(TarEntry(name="z", mtime=200), b"zz")
        writer.add(TarEntry(name="a", type=b"5", mode=0o755, mtime=50))
    info = members(buffer.getvalue())
    assert [(m.name, m.mtime, m.isdir()) for m in info] == [("z", 100, False), ("a", 50, True)]
    assert buffer.getvalue().endswith(bytes(1024))


def test_large_files_are_copied_whole(tmp_path):
    root = tmp_path / "tree"
    root.mkdir()
    payload = os.urandom(3 * 1024 * 1024 + 17)
    (root / "big").write_bytes(payload)
    with tarfile.open(fileobj=io.BytesIO(tar_of(root))) as tar:
        assert tar.extractfile("big").read() == payload


@pytest.fixture
def overlay_upper(tmp_path: Path):
    """A real overlayfs upperdir after deleting a file, replacing a directory and changing
    a file in the merged view."""
    lower, upper, work, merged = (tmp_path / n for n in ("lower", "upper", "work", "merged"))
    for d in (lower / "etc", lower / "opt/app", upper, work, merged):
        d.mkdir(parents=True)
    (lower / "etc/motd").write_text("old\n")
    (lower / "etc/hosts").write_text("127.0.0.1 localhost\n")
    (lower / "opt/app/old.py").write_text("old\n")
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={lower},upperdir={upper},workdir={work}", str(merged)], check=True)
    try:
        (merged / "etc/motd").unlink()
        (merged / "etc/hosts").write_text("10.0.0.1 db\n")
        (merged / "opt/app/old.py").unlink()
        (merged / "opt/app").rmdir()
        (merged / "opt/app").mkdir()
        (merged / "opt/app/new.py").write_text("new\n")
    finally:
        subprocess.run(["umount", str(merged)], check=True)
    return upper


def test_overlay_upperdir_becomes_oci_whiteouts(overlay_upper):
    data = tar_of(overlay_upper, overlay=True)
    info = by_name(data)
    names = [m.name for m in members(data)]
    assert info["etc/.wh.motd"].isreg() and info["etc/.wh.motd"].size == 0
    assert "etc/motd" not in info
    assert names.index("opt/app") + 1 == names.index("opt/app/.wh..wh..opq")
    assert info["opt/app/new.py"].isreg()
    assert not any(k.startswith("SCHILY.xattr.trusted.overlay") for m in info.values()
                   for k in m.pax_headers)


def test_overlay_userxattr_opaque_and_stray_overlay_xattrs(tmp_path):
    root = tmp_path / "upper"
    (root / "dir").mkdir(parents=True)
    os.setxattr(root / "dir", "user.overlay.opaque", b"y")
    (root / "file").write_bytes(b"x")
    os.setxattr(root / "file", "trusted.overlay.origin", b"\x00\xfb")
    os.setxattr(root / "file", "user.keep", b"1")
    info = by_name(tar_of(root, overlay=True))
    assert "dir/.wh..wh..opq" in info
    assert set(info["file"].pax_headers) == {"SCHILY.xattr.user.keep"}
    assert "dir/.wh..wh..opq" not in by_name(tar_of(root, overlay=False))


def test_metacopy_upperdir_is_refused_rather_than_archived_without_data(tmp_path):
    root = tmp_path / "upper"
    root.mkdir()
    (root / "big").write_bytes(b"")
    os.setxattr(root / "big", "trusted.overlay.metacopy", b"")
    with pytest.raises(UnsupportedOverlayFeature, match="big"):
        tar_of(root, overlay=True)


def test_write_tree_streams_whole_into_an_unbuffered_pipe(tmp_path):
    root = tmp_path / "tree"
    root.mkdir()
    (root / "big").write_bytes(os.urandom(5 * 1024 * 1024))
    (root / "small").write_bytes(b"s")
    read_fd, write_fd = os.pipe()
    received = []
    reader = threading.Thread(target=lambda: received.append(os.fdopen(read_fd, "rb").read()))
    reader.start()
    with os.fdopen(write_fd, "wb", buffering=0) as pipe:
        write_tree(root, pipe)
    reader.join()
    assert received[0] == tar_of(root)
