"""apply_layer refuses every way a crafted layer could reach outside the target: the error
names the entry, and nothing outside the target is created, modified or chmod'ed."""

import io
import os
import tarfile
from pathlib import Path

import pytest
from layer_helpers import entry, make_tar, tree_state

from oci.apply import apply_layer
from oci.errors import UnsafeLayer, UserError

UP = "../" * 30  # climbs from any target to / whatever its depth


def apply_bytes(data: bytes, target: Path, **kw):
    return apply_layer(io.BytesIO(data), target, **kw)


def assert_refused(layer: bytes, target: Path, outside: Path, bad_entry: str, *, overlay=True):
    parent_before = sorted(os.listdir(target.parent))
    before = tree_state(outside)
    with pytest.raises(UnsafeLayer) as refused:
        apply_bytes(layer, target, overlay=overlay)
    assert bad_entry in str(refused.value)
    assert "\n" not in str(refused.value)
    assert isinstance(refused.value, UserError)
    assert tree_state(outside) == before
    assert sorted(os.listdir(target.parent)) == parent_before
    assert not Path("/pwned").exists()


def test_dotdot_traversal_is_refused_naming_the_entry(arena):
    target, outside = arena
    bad = f"etc/{UP}{str(outside).lstrip('/')}/pwned"
    layer = make_tar(entry("etc/", tarfile.DIRTYPE, mode=0o755), entry(bad, data=b"pwned\n"))
    assert_refused(layer, target, outside, bad)


def test_dotdot_that_overwrites_an_existing_outside_file_is_refused(arena):
    target, outside = arena
    bad = f"{UP}{str(outside).lstrip('/')}/secret"
    assert_refused(make_tar(entry(bad, data=b"pwned\n", mode=0o777)), target, outside, bad)


def test_dotdot_inside_the_target_is_allowed(arena):
    target, _ = arena
    apply_bytes(make_tar(entry("a/b/../c", data=b"x")), target)
    assert (target / "a" / "c").read_bytes() == b"x"


def test_absolute_names_are_taken_relative_to_the_target(arena):
    target, outside = arena
    before = tree_state(outside)
    absolute = f"{outside}/secret"
    apply_bytes(make_tar(entry(absolute, data=b"inside\n")), target)
    assert tree_state(outside) == before
    assert (target / str(outside).lstrip("/") / "secret").read_bytes() == b"inside\n"


def test_write_through_a_symlink_climbing_out_is_refused(arena):
    target, outside = arena
    layer = make_tar(
        entry("escape", tarfile.SYMTYPE, linkname=f"{UP}{str(outside).lstrip('/')}"),
        entry("escape/pwned", data=b"pwned\n"),
    )
    assert_refused(layer, target, outside, "escape/pwned")


def test_symlink_escape_through_an_intermediate_directory_is_refused(arena):
    target, outside = arena
    layer = make_tar(
        entry("a/", tarfile.DIRTYPE, mode=0o755),
        entry("a/up", tarfile.SYMTYPE, linkname="../.."),
        entry(f"a/up/{outside.name}/secret", data=b"pwned\n"),
    )
    assert_refused(layer, target, outside, f"a/up/{outside.name}/secret")


def test_symlink_escape_planted_by_an_earlier_layer_is_refused(arena):
    target, outside = arena
    apply_bytes(make_tar(entry("lib", tarfile.SYMTYPE, linkname=f"{UP}{str(outside).lstrip('/')}")), target)
    assert_refused(make_tar(entry("lib/secret", data=b"pwned\n")), target, outside, "lib/secret")


def test_absolute_symlink_in_a_parent_resolves_inside_the_target(arena):
    target, outside = arena
    before = tree_state(outside)
    layer = make_tar(
        entry("escape", tarfile.SYMTYPE, linkname=str(outside)),
        entry("escape/secret", data=b"inside\n"),
    )
    apply_bytes(layer, target)
    assert tree_state(outside) == before
    assert (target / str(outside).lstrip("/") / "secret").read_bytes() == b"inside\n"
    assert os.readlink(target / "escape") == str(outside)


def test_usrmerge_style_symlink_parent_is_followed_within_the_target(arena):
    target, _ = arena
    layer = make_tar(
        entry("usr/lib/", tarfile.DIRTYPE, mode=0o755),
        entry("lib", tarfile.SYMTYPE, linkname="usr/lib"),
        entry("lib/libx.so", data=b"elf"),
    )
    apply_bytes(layer, target)
    assert (target / "usr" / "lib" / "libx.so").read_bytes() == b"elf"
    assert (target / "lib").is_symlink()


def test_existing_symlink_at_the_final_component_is_replaced_not_followed(arena):
    target, outside = arena
    layer = make_tar(
        entry("passwd", tarfile.SYMTYPE, linkname=str(outside / "secret")),
        entry("passwd", data=b"root:x:0:0\n", mode=0o4755),
    )
    before = tree_state(outside)
    apply_bytes(layer, target)
    assert tree_state(outside) == before
    assert not (target / "passwd").is_symlink()
    assert (target / "passwd").read_bytes() == b"root:x:0:0\n"


def test_directory_entry_over_a_symlink_to_outside_does_not_chmod_outside(arena):
    target, outside = arena
    layer = make_tar(
        entry("d", tarfile.SYMTYPE, linkname=str(outside)),
        entry("d/", tarfile.DIRTYPE, mode=0o777, uid=1234),
    )
    before = tree_state(outside)
    apply_bytes(layer, target)
    assert tree_state(outside) == before
    assert (target / "d").is_dir() and not (target / "d").is_symlink()


def test_hardlink_to_a_file_outside_is_refused(arena):
    target, outside = arena
    layer = make_tar(
        entry("etc/", tarfile.DIRTYPE, mode=0o755),
        entry("etc/stolen", tarfile.LNKTYPE, linkname=f"{UP}{str(outside).lstrip('/')}/secret"),
    )
    assert_refused(layer, target, outside, "etc/stolen")


def test_hardlink_through_a_symlink_climbing_out_is_refused(arena):
    target, outside = arena
    layer = make_tar(
        entry("out", tarfile.SYMTYPE, linkname=f"{UP}{str(outside).lstrip('/')}"),
        entry("stolen", tarfile.LNKTYPE, linkname="out/secret"),
    )
    assert_refused(layer, target, outside, "stolen")


def test_hardlink_with_an_absolute_target_links_inside_the_target(arena):
    target, outside = arena
    layer = make_tar(
        entry("etc/passwd", data=b"root\n"),
        entry("etc/passwd-", tarfile.LNKTYPE, linkname="/etc/passwd"),
    )
    apply_bytes(layer, target)
    assert os.path.samefile(target / "etc/passwd", target / "etc/passwd-")
    assert os.stat(outside / "secret").st_nlink == 1


def test_hardlink_to_a_symlink_pointing_outside_links_the_symlink_itself(arena):
    target, outside = arena
    layer = make_tar(
        entry("link", tarfile.SYMTYPE, linkname=str(outside / "secret")),
        entry("hard", tarfile.LNKTYPE, linkname="link"),
    )
    apply_bytes(layer, target)
    assert os.readlink(target / "hard") == str(outside / "secret")
    assert os.stat(outside / "secret").st_nlink == 1


def test_whiteout_climbing_out_is_refused(arena):
    target, outside = arena
    bad = f"{UP}{str(outside).lstrip('/')}/.wh.secret"
    assert_refused(make_tar(entry(bad)), target, outside, bad, overlay=False)


def test_whiteout_through_an_escaping_symlink_is_refused(arena):
    target, outside = arena
    layer = make_tar(
        entry("out", tarfile.SYMTYPE, linkname=f"{UP}{str(outside).lstrip('/')}"),
        entry("out/.wh.secret"),
    )
    assert_refused(layer, target, outside, "out/.wh.secret", overlay=False)


def test_opaque_whiteout_through_an_escaping_symlink_is_refused(arena):
    target, outside = arena
    layer = make_tar(
        entry("out", tarfile.SYMTYPE, linkname=f"{UP}{str(outside).lstrip('/')}"),
        entry("out/.wh..wh..opq"),
    )
    assert_refused(layer, target, outside, "out/.wh..wh..opq", overlay=False)


def test_symlink_loop_in_a_parent_is_refused(arena):
    target, outside = arena
    layer = make_tar(
        entry("a", tarfile.SYMTYPE, linkname="b"),
        entry("b", tarfile.SYMTYPE, linkname="a"),
        entry("a/file", data=b"x"),
    )
    assert_refused(layer, target, outside, "a/file")
