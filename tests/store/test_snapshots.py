"""Snapshots: each layer unpacked once in overlay form, keyed by chain ID, and removed
when no image needs them."""

import io
import os
import stat
import tarfile

import pytest

from oci.compression import LayerWriter
from oci.config import HistoryEntry, ImageConfig, chain_ids
from oci.errors import DigestMismatch
from oci.manifest import Descriptor
from oci.mediatypes import OCI_LAYER_GZIP
from oci.store import Store


def layer_tar(entries: list[tuple[str, bytes | None]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return raw.getvalue()


def commit(store: Store, layers: list[bytes], tag: str):
    descriptors, diff_ids = [], []
    for data in layers:
        with store.blob_writer() as blob:
            writer = LayerWriter(blob, "gzip")
            writer.write(data)
            digests = writer.close()
            blob.commit(digests.digest)
        descriptors.append(Descriptor(OCI_LAYER_GZIP, digests.digest, digests.size))
        diff_ids.append(digests.diff_id)
    config = ImageConfig(architecture="amd64", os="linux", created="2024-01-01T00:00:00Z", diff_ids=diff_ids,
                         history=[HistoryEntry(created="2024-01-01T00:00:00Z") for _ in layers])
    return store.commit_image(config.to_json(), descriptors, tags=[tag])


BASE = layer_tar([("etc", None), ("etc/keep", b"kept"), ("etc/drop", b"dropped"), ("var", None),
                  ("var/cache", None), ("var/cache/old", b"old")])
TOP = layer_tar([("etc", None), ("etc/.wh.drop", b""), ("var/cache", None), ("var/cache/.wh..wh..opq", b""),
                 ("var/cache/new", b"new")])


def test_snapshots_are_unpacked_once_per_chain_id_in_overlay_form(tmp_path):
    with Store.open(tmp_path) as store:
        image = commit(store, [BASE, TOP], "layered")
        base, top = store.ensure_snapshots(image)
        diff_ids = [d for d in __import__("json").loads(store.config_bytes(image))["rootfs"]["diff_ids"]]
        assert [base, top] == [store.snapshot_path(c) for c in chain_ids(diff_ids)]
        assert (base / "etc" / "keep").read_bytes() == b"kept"
        whiteout = os.lstat(top / "etc" / "drop")
        assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0
        assert os.getxattr(top / "var" / "cache", "trusted.overlay.opaque") == b"y"
        assert (top / "var" / "cache" / "new").read_bytes() == b"new"

        marker = base / "etc" / "unpacked-once"
        marker.write_text("a second ensure must not unpack again")
        store.ensure_snapshots(image)
        assert marker.exists()


def test_images_sharing_a_base_share_its_snapshot(tmp_path):
    with Store.open(tmp_path) as store:
        one = commit(store, [BASE], "one")
        two = commit(store, [BASE, TOP], "two")
        assert store.ensure_snapshots(one)[0] == store.ensure_snapshots(two)[0]
        assert len(os.listdir(tmp_path / "snapshots")) == 2


def test_prune_removes_snapshots_no_image_uses_and_keeps_pinned_ones(tmp_path):
    with Store.open(tmp_path) as store:
        keep = commit(store, [BASE], "keep")
        gone = commit(store, [BASE, TOP], "gone")
        pinned = commit(store, [layer_tar([("pinned", b"p")])], "pinned")
        base = store.ensure_snapshots(keep)[0]
        top = store.ensure_snapshots(gone)[1]
        pinned_path = store.ensure_snapshots(pinned)[0]
        pinned_chain = "sha256:" + pinned_path.name
        store.pin_snapshot(pinned_chain, "container-1")
        store.remove("gone")
        store.remove("pinned")
        assert base.is_dir() and not top.exists() and pinned_path.is_dir()
        store.unpin_snapshot(pinned_chain, "container-1")
        store.prune()
        assert base.is_dir() and not pinned_path.exists()
        assert os.listdir(tmp_path / "tmp") == []


def test_a_layer_blob_that_does_not_match_its_diff_id_never_becomes_a_snapshot(tmp_path):
    with Store.open(tmp_path) as store:
        image = commit(store, [BASE], "tampered")
        layer = store.manifest(image).layers[0]
        # Swap the blob's bytes behind the store's back (disk corruption, a bad copy).
        path = store.blob_path(layer.digest)
        os.chmod(path, 0o644)
        with store.blob_writer() as other:
            writer = LayerWriter(other, "gzip")
            writer.write(TOP)
            writer.close()
            replacement = store.read_blob(other.commit().digest)
        path.write_bytes(replacement)
        with pytest.raises(DigestMismatch, match="expected sha256:"):
            store.ensure_snapshots(image)
        assert os.listdir(tmp_path / "snapshots") == []


def test_add_snapshot_adopts_a_finished_directory_by_rename(tmp_path):
    with Store.open(tmp_path) as store:
        upper = tmp_path / "tmp" / "upperdir"
        (upper / "app").mkdir(parents=True)
        (upper / "app" / "built").write_text("output of a RUN step")
        chain = "sha256:" + "ab" * 32
        path = store.add_snapshot(chain, None, chain, upper)
        assert path == store.snapshot_path(chain)
        assert (path / "app" / "built").read_text() == "output of a RUN step"
        assert not upper.exists()
