"""Random layers built from hostile pieces (`..`, absolute paths, symlinks to outside and
to each other, hardlinks, whiteouts, replacements) never change anything outside the
target: apply_layer either succeeds or raises a UserError."""

import io
import shutil
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from layer_helpers import entry, make_tar, tree_state

from oci.apply import apply_layer
from oci.errors import UserError

COMPONENTS = ["a", "b", "..", ".", "", "outside", "secret", ".wh.a", ".wh..wh..opq", "/"]


def names(outside: str):
    pieces = st.sampled_from(COMPONENTS + [outside, "../" * 8 + outside.lstrip("/")])
    return st.lists(pieces, min_size=1, max_size=4).map("/".join)


def entries(outside: str):
    kinds = st.sampled_from(["file", "dir", "symlink", "hardlink", "fifo"])
    return st.lists(st.tuples(kinds, names(outside), names(outside)), min_size=1, max_size=8)


def build(spec) -> bytes:
    made = []
    for kind, name, link in spec:
        if kind == "file":
            made.append(entry(name, data=b"pwned", mode=0o6777))
        elif kind == "dir":
            made.append(entry(name, tarfile.DIRTYPE, mode=0o777, uid=4242))
        elif kind == "symlink":
            made.append(entry(name, tarfile.SYMTYPE, linkname=link))
        elif kind == "hardlink":
            made.append(entry(name, tarfile.LNKTYPE, linkname=link))
        else:
            made.append(entry(name, tarfile.FIFOTYPE, mode=0o777))
    return make_tar(*made)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """One directory for all examples (module scope: hypothesis reruns the test body
    without re-running function fixtures); each example starts it afresh."""
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_hostile_layers_never_touch_anything_outside(work, data):
    arena_dir = work / "arena"
    shutil.rmtree(arena_dir, ignore_errors=True)
    outside = arena_dir / "outside"
    target = arena_dir / "box" / "target"
    target.mkdir(parents=True)
    (outside / "a").mkdir(parents=True)
    (outside / "secret").write_text("secret")
    (outside / "a" / "b").write_text("b")
    before = {k: v for k, v in tree_state(arena_dir).items() if not k.startswith("box/target")}
    spec = data.draw(entries(str(outside)))
    for layer_spec in (spec, data.draw(entries(str(outside)))):
        for overlay in (True, False):
            try:
                apply_layer(io.BytesIO(build(layer_spec)), target, overlay=overlay)
            except UserError:
                pass
    after = {k: v for k, v in tree_state(arena_dir).items() if not k.startswith("box/target")}
    assert after == before
    assert not Path("/pwned").exists() and not Path("/a").exists()
    shutil.rmtree(arena_dir)
