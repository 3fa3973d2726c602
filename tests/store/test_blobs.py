import hashlib
import io
import os

import pytest

from oci.errors import DigestMismatch
from oci.store import Store


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def leftovers(root) -> list[str]:
    return os.listdir(root / "tmp")


def test_ingest_stores_content_under_its_digest(tmp_path):
    with Store.open(tmp_path) as store:
        info = store.ingest(io.BytesIO(b"layer bytes"), expected_digest=sha256(b"layer bytes"))
        assert info.size == len(b"layer bytes")
        path = tmp_path / "blobs" / "sha256" / info.digest.split(":")[1]
        assert path.read_bytes() == b"layer bytes"
        assert store.read_blob(info.digest) == b"layer bytes"
        assert leftovers(tmp_path) == []


def test_content_with_the_wrong_digest_is_never_stored(tmp_path):
    claimed = sha256(b"what the registry promised")
    with Store.open(tmp_path) as store:
        with pytest.raises(DigestMismatch, match=claimed):
            store.ingest(io.BytesIO(b"what arrived instead"), expected_digest=claimed)
        assert not store.has_blob(claimed)
        assert not store.has_blob(sha256(b"what arrived instead"))
        assert list((tmp_path / "blobs" / "sha256").iterdir()) == []
        assert leftovers(tmp_path) == []


def test_content_longer_than_announced_is_refused(tmp_path):
    data = b"x" * 5000
    with Store.open(tmp_path) as store:
        with pytest.raises(DigestMismatch):
            store.ingest(io.BytesIO(data), expected_digest=sha256(data), expected_size=100)
        assert not store.has_blob(sha256(data))


def test_a_failed_stream_leaves_no_blob_and_no_temp_file(tmp_path):
    class Broken(io.RawIOBase):
        def readinto(self, buffer):
            raise ConnectionError("peer went away")

    with Store.open(tmp_path) as store:
        with pytest.raises(ConnectionError):
            store.ingest(Broken())
        assert list((tmp_path / "blobs" / "sha256").iterdir()) == []
        assert leftovers(tmp_path) == []


def test_blob_writer_publishes_only_on_commit(tmp_path):
    with Store.open(tmp_path) as store:
        with store.blob_writer() as writer:
            writer.write(b"part one, ")
            writer.write(b"part two")
            assert list((tmp_path / "blobs" / "sha256").iterdir()) == []
            info = writer.commit(sha256(b"part one, part two"))
        assert store.read_blob(info.digest) == b"part one, part two"


def test_ingesting_the_same_content_twice_keeps_one_blob(tmp_path):
    with Store.open(tmp_path) as store:
        first = store.ingest_bytes(b"same")
        second = store.ingest(io.BytesIO(b"same"))
        assert first == second
        assert len(list((tmp_path / "blobs" / "sha256").iterdir())) == 1


def test_sha512_digests_are_verified_and_stored_under_their_algorithm(tmp_path):
    data = b"sha512 content"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    with Store.open(tmp_path) as store:
        store.ingest(io.BytesIO(data), expected_digest=digest)
        assert (tmp_path / "blobs" / "sha512" / digest.split(":")[1]).read_bytes() == data
