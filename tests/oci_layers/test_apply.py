"""apply_layer reproduces what the layer describes: metadata, special files, hardlinks,
whiteouts in overlay form or as deletions, any compression; and it round-trips with
write_tree."""

import hashlib
import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
from layer_helpers import entry, make_tar, tree_state, whole_second_mtimes

from oci.apply import apply_layer
from oci.compression import LayerWriter
from oci.errors import InvalidLayer
from oci.tarwriter import write_tree

CAPABILITY = bytes.fromhex("0100000200200000000000000000000000000000")


def apply_bytes(data: bytes, target: Path, **kw):
    return apply_layer(io.BytesIO(data), target, **kw)


def test_owners_modes_mtimes_and_xattrs_are_restored(tmp_path):
    layer = make_tar(
        entry("usr/", tarfile.DIRTYPE, mode=0o755, mtime=1_000_000_000),
        entry("usr/bin/", tarfile.DIRTYPE, mode=0o755, mtime=1_000_000_001),
        entry("usr/bin/ping", data=b"\x7fELF", mode=0o4755, uid=0, gid=0, mtime=1_111_111_111,
              xattrs={"security.capability": CAPABILITY.decode("utf-8", "surrogateescape")}),
        entry("usr/bin/wall", data=b"w", mode=0o2755, uid=0, gid=5),
        entry("home/", tarfile.DIRTYPE, mode=0o700, uid=1000, gid=1000, mtime=1_222_222_222,
              xattrs={"user.note": "hi"}),
        entry("tmp/", tarfile.DIRTYPE, mode=0o1777),
        entry("home/file", data=b"abc", mode=0o640, uid=1000, gid=1000, mtime=1_333_333_333),
    )
    stats = apply_bytes(layer, tmp_path)
    ping = os.lstat(tmp_path / "usr/bin/ping")
    assert stat.S_IMODE(ping.st_mode) == 0o4755 and ping.st_mtime == 1_111_111_111
    assert os.getxattr(tmp_path / "usr/bin/ping", "security.capability") == CAPABILITY
    wall = os.lstat(tmp_path / "usr/bin/wall")
    assert stat.S_IMODE(wall.st_mode) == 0o2755 and wall.st_gid == 5
    home = os.lstat(tmp_path / "home")
    assert (stat.S_IMODE(home.st_mode), home.st_uid, home.st_gid) == (0o700, 1000, 1000)
    assert home.st_mtime == 1_222_222_222  # kept although a child was written after it
    assert os.getxattr(tmp_path / "home", "user.note") == b"hi"
    assert os.lstat(tmp_path / "usr").st_mtime == 1_000_000_000
    assert stat.S_IMODE(os.lstat(tmp_path / "tmp").st_mode) == 0o1777
    assert (stats.entries, stats.files, stats.bytes) == (7, 3, 8)
    assert stats.diff_id == "sha256:" + hashlib.sha256(layer).hexdigest()


def test_devices_fifos_symlinks_and_hardlinks_are_created(tmp_path):
    layer = make_tar(
        entry("dev/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3),
        entry("dev/loop0", tarfile.BLKTYPE, mode=0o660, gid=6, devmajor=7, devminor=0),
        entry("run/fifo", tarfile.FIFOTYPE, mode=0o620),
        entry("bin/busybox", data=b"bb", mode=0o755),
        entry("bin/sh", tarfile.LNKTYPE, linkname="bin/busybox"),
        entry("bin/ls", tarfile.SYMTYPE, linkname="/bin/busybox", uid=7, mtime=1_234_567_890),
    )
    apply_bytes(layer, tmp_path)
    null = os.lstat(tmp_path / "dev/null")
    assert stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1 and os.minor(null.st_rdev) == 3
    assert stat.S_IMODE(null.st_mode) == 0o666
    loop = os.lstat(tmp_path / "dev/loop0")
    assert stat.S_ISBLK(loop.st_mode) and loop.st_gid == 6
    assert stat.S_ISFIFO(os.lstat(tmp_path / "run/fifo").st_mode)
    assert os.path.samefile(tmp_path / "bin/sh", tmp_path / "bin/busybox")
    ls = os.lstat(tmp_path / "bin/ls")
    assert os.readlink(tmp_path / "bin/ls") == "/bin/busybox"
    assert (ls.st_uid, ls.st_mtime) == (7, 1_234_567_890)
    assert stat.S_IMODE(os.lstat(tmp_path / "bin").st_mode) == 0o755  # implicit parent


def lower_tree(target: Path) -> None:
    apply_bytes(make_tar(
        entry("etc/motd", data=b"old"),
        entry("etc/hosts", data=b"h"),
        entry("opt/app/old.py", data=b"old"),
        entry("opt/app/sub/deep", data=b"old"),
    ), target)


def test_whiteouts_become_overlay_form_in_a_snapshot(tmp_path):
    layer = make_tar(
        entry("etc/", tarfile.DIRTYPE, mode=0o755),
        entry("etc/.wh.motd"),
        entry("opt/app/", tarfile.DIRTYPE, mode=0o755),
        entry("opt/app/.wh..wh..opq"),
        entry("opt/app/new.py", data=b"new"),
    )
    stats = apply_bytes(layer, tmp_path, overlay=True)
    motd = os.lstat(tmp_path / "etc/motd")
    assert stat.S_ISCHR(motd.st_mode) and motd.st_rdev == 0
    assert os.getxattr(tmp_path / "opt/app", "trusted.overlay.opaque") == b"y"
    assert not (tmp_path / "etc/.wh.motd").exists()
    assert not (tmp_path / "opt/app/.wh..wh..opq").exists()
    assert stats.whiteouts == 2


def test_whiteouts_delete_lower_entries_when_flattening(tmp_path):
    lower_tree(tmp_path)
    layer = make_tar(
        entry("etc/", tarfile.DIRTYPE, mode=0o755),
        entry("etc/.wh.motd"),
        entry("opt/app/", tarfile.DIRTYPE, mode=0o755),
        entry("opt/app/new.py", data=b"new"),
        entry("opt/app/sub/", tarfile.DIRTYPE, mode=0o755),
        entry("opt/app/.wh..wh..opq"),
    )
    apply_bytes(layer, tmp_path, overlay=False)
    assert sorted(os.listdir(tmp_path / "etc")) == ["hosts"]
    assert sorted(os.listdir(tmp_path / "opt/app")) == ["new.py", "sub"]
    assert os.listdir(tmp_path / "opt/app/sub") == []


def test_whiteout_never_hides_an_entry_of_the_same_layer(tmp_path):
    layer = make_tar(entry("etc/motd", data=b"same layer"), entry("etc/.wh.motd"))
    apply_bytes(layer, tmp_path, overlay=False)
    assert (tmp_path / "etc/motd").read_bytes() == b"same layer"


def test_whiteout_of_a_directory_removes_it_recursively(tmp_path):
    lower_tree(tmp_path)
    apply_bytes(make_tar(entry("opt/.wh.app")), tmp_path, overlay=False)
    assert os.listdir(tmp_path / "opt") == []


def test_entry_replacing_a_directory_with_a_file(tmp_path):
    lower_tree(tmp_path)
    apply_bytes(make_tar(entry("opt/app", data=b"now a file")), tmp_path, overlay=False)
    assert (tmp_path / "opt/app").read_bytes() == b"now a file"


def test_apply_then_write_tree_round_trips_byte_for_byte(tmp_path):
    source = tmp_path / "source"
    (source / "usr/bin").mkdir(parents=True)
    (source / "usr/bin/ping").write_bytes(os.urandom(2 * 1024 * 1024))
    os.chmod(source / "usr/bin/ping", 0o4755)
    os.setxattr(source / "usr/bin/ping", "security.capability", CAPABILITY)
    os.link(source / "usr/bin/ping", source / "usr/bin/ping4")
    os.symlink("ping", source / "usr/bin/ping6")
    os.mknod(source / "usr/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mkfifo(source / "usr/fifo")
    (source / ("n" * 150)).mkdir()
    os.chown(source / ("n" * 150), 65534, 65534)
    os.mknod(source / "deleted", stat.S_IFCHR, 0)
    (source / "opaque").mkdir()
    os.setxattr(source / "opaque", "trusted.overlay.opaque", b"y")
    whole_second_mtimes(source)
    first = io.BytesIO()
    write_tree(source, first, overlay=True)
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    apply_bytes(first.getvalue(), snapshot, overlay=True)
    second = io.BytesIO()
    write_tree(snapshot, second, overlay=True)
    assert second.getvalue() == first.getvalue()
    os.chmod(snapshot, os.stat(source).st_mode)
    os.utime(snapshot, ns=(os.stat(source).st_mtime_ns,) * 2)
    assert tree_state(snapshot) == tree_state(source)


def test_layer_made_by_gnu_tar_applies_to_the_same_tree(tmp_path):
    source = Path("/usr/lib/python3.11/json")
    layer = tmp_path / "gnu.tar"
    subprocess.run(["tar", "--xattrs", "-cf", str(layer), "-C", str(source), "."], check=True)
    target = tmp_path / "target"
    target.mkdir()
    with open(layer, "rb") as f:
        apply_layer(f, target)
    expected = tree_state(source)
    actual = tree_state(target)
    assert actual.keys() == expected.keys()
    for path, (mode, uid, gid, mtime, size, detail, _) in expected.items():
        if path != ".":
            assert actual[path][:6] == (mode, uid, gid, mtime // 10**9 * 10**9, size, detail)


@pytest.mark.parametrize("tool", [["gzip", "-n"], ["zstd", "-q"], ["bzip2"], ["xz"]])
def test_compressed_layers_are_detected_by_magic(tmp_path, tool):
    layer = make_tar(entry("hello", data=b"world\n"), entry("d/", tarfile.DIRTYPE, mode=0o755))
    packed = subprocess.run(tool + ["-c"], input=layer, capture_output=True, check=True).stdout
    read_fd, write_fd = os.pipe()  # a pipe: the magic must be sniffed without seeking
    os.write(write_fd, packed)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        stats = apply_layer(pipe, tmp_path)
    assert (tmp_path / "hello").read_bytes() == b"world\n"
    assert stats.diff_id == "sha256:" + hashlib.sha256(layer).hexdigest()


def test_diff_id_covers_padding_after_the_end_of_archive(tmp_path):
    layer = make_tar(entry("a", data=b"a")) + bytes(10240)
    stats = apply_bytes(layer, tmp_path)
    assert stats.diff_id == "sha256:" + hashlib.sha256(layer).hexdigest()


def test_truncated_layer_is_an_invalid_layer_naming_the_entry(tmp_path):
    layer = make_tar(entry("big", data=b"x" * 5000))
    with pytest.raises(InvalidLayer, match="'big'"):
        apply_bytes(layer[:2048], tmp_path)


def test_garbage_is_an_invalid_layer(tmp_path):
    with pytest.raises(InvalidLayer, match="bad header"):
        apply_bytes(b"this is not a tar archive" * 100, tmp_path)


def test_hardlink_to_a_missing_file_is_an_invalid_layer(tmp_path):
    with pytest.raises(InvalidLayer, match="'ghost'.*'nowhere'"):
        apply_bytes(make_tar(entry("ghost", tarfile.LNKTYPE, linkname="nowhere")), tmp_path)


@pytest.mark.parametrize("tar_format", ["gnu", "posix", "ustar"])
def test_long_names_and_xattrs_from_gnu_tar_formats(tmp_path, tar_format):
    source = tmp_path / "source"
    deep = source / ("d" * 90) / ("e" * 60)
    deep.mkdir(parents=True)
    (deep / "file").write_bytes(b"deep")
    os.symlink("../" + "l" * 120 if tar_format != "ustar" else "short", source / "link")
    os.setxattr(deep / "file", "user.origin", b"gnu")
    layer = tmp_path / "layer.tar"
    subprocess.run(["tar", f"--format={tar_format}", "--xattrs", "--xattrs-include=user.*",
                    "-cf", str(layer), "-C", str(source), "."], check=True)
    target = tmp_path / "target"
    target.mkdir()
    with open(layer, "rb") as f:
        apply_layer(f, target)
    copied = target / ("d" * 90) / ("e" * 60) / "file"
    assert copied.read_bytes() == b"deep"
    assert os.readlink(target / "link") == os.readlink(source / "link")
    if tar_format == "posix":
        assert os.getxattr(copied, "user.origin") == b"gnu"


@pytest.mark.parametrize("compression", ["gzip", "zstd", None])
def test_layer_written_through_layerwriter_applies_with_the_same_diff_id(tmp_path, compression):
    source = tmp_path / "source"
    (source / "etc").mkdir(parents=True)
    (source / "etc/os-release").write_text("ID=debian\n")
    (source / "blob").write_bytes(os.urandom(1_500_000))
    whole_second_mtimes(source)
    blob = tmp_path / "layer"
    with open(blob, "wb") as f:
        writer = LayerWriter(f, compression)
        write_tree(source, writer)
        digests = writer.close()
    target = tmp_path / "target"
    target.mkdir()
    with open(blob, "rb") as f:
        stats = apply_layer(f, target)
    assert stats.diff_id == digests.diff_id
    assert digests.digest == "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest()
    os.chmod(target, os.stat(source).st_mode)
    os.utime(target, ns=(os.stat(source).st_mtime_ns,) * 2)
    assert tree_state(target) == tree_state(source)


def test_old_style_directory_marked_only_by_a_trailing_slash(tmp_path):
    apply_bytes(make_tar(entry("legacy/", tarfile.REGTYPE, mode=0o750)), tmp_path)
    assert (tmp_path / "legacy").is_dir()
    assert stat.S_IMODE(os.stat(tmp_path / "legacy").st_mode) == 0o750
