"""Layers are checked entry by entry while they stream in, with the rules apply_layer
extracts by: import and load refuse what would write outside the image's root."""

import io
import tarfile

import pytest

from oci.errors import UnsafeLayer
from oci.layercheck import LayerCheck


def entry(name, kind="file", target=""):
    info = tarfile.TarInfo(name)
    info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                 "hardlink": tarfile.LNKTYPE}[kind]
    info.linkname = target
    return info


def layer(*entries) -> io.BytesIO:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info in entries:
            tar.addfile(info, io.BytesIO(b"") if info.isreg() else None)
    raw.seek(0)
    return raw


def test_symlinks_that_stay_inside_the_root_are_followed_as_the_image_sees_them():
    check = LayerCheck()
    check.check_stream(layer(entry("usr/lib", "dir"), entry("lib", "symlink", "/usr/lib"),
                             entry("lib/libc.so"), entry("usr/local", "symlink", "../usr"),
                             entry("usr/local/bin", "dir"), entry("etc/alt", "symlink", "../../../etc"),
                             entry("bin/sh", "hardlink", "lib/libc.so")))


def test_a_symlink_planted_by_a_lower_layer_is_seen_by_the_next_layer():
    check = LayerCheck()
    check.check_stream(layer(entry("tmp", "dir"), entry("tmp/out", "symlink", "../../../../host")))
    with pytest.raises(UnsafeLayer, match="'tmp/out/pwned': a symlink in its path points outside"):
        check.check_stream(layer(entry("tmp/out/pwned")))


def test_a_symlink_replaced_by_a_directory_no_longer_redirects():
    check = LayerCheck()
    check.check_stream(layer(entry("data", "symlink", "../..")))
    check.check_stream(layer(entry(".wh.data"), entry("data", "dir"), entry("data/file")))


def test_traversal_in_a_name_and_in_a_hardlink_target_is_refused_naming_the_entry():
    with pytest.raises(UnsafeLayer, match="'etc/../../x': its path climbs out"):
        LayerCheck().check_stream(layer(entry("etc/../../x")))
    with pytest.raises(UnsafeLayer, match="'stolen': hardlink target '../etc/shadow' climbs out"):
        LayerCheck().check_stream(layer(entry("stolen", "hardlink", "../etc/shadow")))


def test_a_symlink_loop_is_refused_instead_of_followed_forever():
    check = LayerCheck()
    with pytest.raises(UnsafeLayer, match="too many levels of symlinks"):
        check.check_stream(layer(entry("a", "symlink", "b"), entry("b", "symlink", "a"), entry("a/file")))


def test_check_stream_returns_the_diff_id_of_the_whole_stream():
    import hashlib

    data = layer(entry("file")).getvalue() + bytes(4096)  # writers pad past the end blocks
    assert LayerCheck().check_stream(io.BytesIO(data)) == "sha256:" + hashlib.sha256(data).hexdigest()
