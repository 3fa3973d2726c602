"""The read-only look-up `pybuild run` uses: the same answer as the full store when
every snapshot exists, None (so the caller takes the full path) otherwise, and no
write to the database either way."""

import hashlib
import os
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from oci.errors import InvalidReference
from oci.reference import parse_reference
from oci.store import Store, lookup

sys.path.insert(0, str(Path(__file__).parent))
from test_snapshots import BASE, TOP, commit  # noqa: E402


def test_finds_the_same_config_and_snapshots_as_the_store(tmp_path):
    with Store.open(tmp_path) as store:
        image = commit(store, [BASE, TOP], "registry.local:5000/team/app:1.0")
        expected = [str(p) for p in store.ensure_snapshots(image)]
        config = __import__("json").loads(store.config_bytes(image))
    assert lookup.image_snapshots(str(tmp_path), "registry.local:5000/team/app:1.0") == (config, expected)


def test_answers_none_until_every_snapshot_is_unpacked(tmp_path):
    with Store.open(tmp_path) as store:
        image = commit(store, [BASE, TOP], "app")
        assert lookup.image_snapshots(str(tmp_path), "app") is None
        store.ensure_snapshots(image)
        top = store.ensure_snapshots(image)[1]
    assert lookup.image_snapshots(str(tmp_path), "app") is not None
    os.rename(top, tmp_path / "tmp" / "moved-away")
    assert lookup.image_snapshots(str(tmp_path), "app") is None


def test_unknown_names_ids_and_digests_are_left_to_the_store(tmp_path):
    with Store.open(tmp_path) as store:
        image = commit(store, [BASE], "app")
        store.ensure_snapshots(image)
    for name in ("other", image.id, image.short_id, f"app@sha256:{'a' * 64}"):
        assert lookup.image_snapshots(str(tmp_path), name) is None


def test_a_look_up_writes_nothing_to_the_database(tmp_path):
    with Store.open(tmp_path) as store:
        store.ensure_snapshots(commit(store, [BASE], "app"))
    database = tmp_path / "pybuild.db"
    before = hashlib.sha256(database.read_bytes()).hexdigest(), database.stat().st_mtime_ns
    assert lookup.image_snapshots(str(tmp_path), "app") is not None
    assert (hashlib.sha256(database.read_bytes()).hexdigest(), database.stat().st_mtime_ns) == before


def test_plain_tags_normalise_as_docker_does():
    assert lookup.plain_tag("busybox") == "docker.io/library/busybox:latest"
    assert lookup.plain_tag("user/app:1.2") == "docker.io/user/app:1.2"
    assert lookup.plain_tag("localhost:5000/app") == "localhost:5000/app:latest"
    assert lookup.plain_tag("index.docker.io/busybox") == "docker.io/library/busybox:latest"
    assert lookup.plain_tag("docker.io/busybox:1") == "docker.io/library/busybox:1"
    for odd in ("foo_bar.com/x", "Busybox", "app@sha256:" + "a" * 64, "a" * 64, ""):
        assert lookup.plain_tag(odd) is None


@given(st.sampled_from(["", "localhost", "localhost:5000/", "docker.io/", "index.docker.io/", "a-b.c:1/",
                        "-x.io/", "x_y.io/"]),
       st.text(alphabet="abcAB019._-:/@", max_size=30))
def test_plain_tag_never_disagrees_with_the_reference_parser(prefix, rest):
    name = prefix + rest
    tag = lookup.plain_tag(name)
    if tag is None:
        return
    try:
        parsed = parse_reference(name)
    except InvalidReference:
        raise AssertionError(f"{name!r}: docker rejects it, the look-up read it as {tag}") from None
    assert tag == str(parsed)
