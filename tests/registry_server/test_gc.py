"""`pybuild registry gc` against a store the real server is serving: what no manifest
uses goes, what is in use or recent stays, and pushes racing the collection succeed."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

import peers
from regtest import OCI_INDEX, OCI_MANIFEST, sha256, start_server, stop_server


@pytest.fixture
def server(tmp_path):
    server = start_server(tmp_path / "root")
    yield server
    stop_server(server)


def gc(server, *args: str) -> str:
    return peers.run([peers.VENV_BIN / "pybuild", "registry", "gc", "--root", server.root, *args]).stdout


def blob_file(server, digest: str):
    return server.root / "blobs" / "sha256" / digest.split(":")[1]


def test_gc_deletes_what_no_manifest_uses_and_keeps_the_rest(server):
    kept_body, kept = server.push_image("gc/app", "v1", [b"kept layer"])
    _, deleted = server.push_image("gc/app", "v2", [b"layer of a deleted manifest"])
    orphan = server.push_blob("gc/app", b"pushed, never used")
    assert requests.delete(f"{server.url}/v2/gc/app/manifests/{deleted}").status_code == 202

    dry = gc(server, "--grace", "0", "--dry-run")
    assert f"would delete blob {orphan}" in dry and f"would delete blob {deleted}" in dry
    assert blob_file(server, orphan).exists()

    out = gc(server, "--grace", "0")
    assert f"deleted blob {orphan}" in out
    assert f"deleted blob {sha256(b'layer of a deleted manifest')}" in out
    for digest in (orphan, deleted, sha256(b"layer of a deleted manifest")):
        assert not blob_file(server, digest).exists()
    assert requests.head(f"{server.url}/v2/gc/app/blobs/{orphan}").status_code == 404

    assert requests.get(f"{server.url}/v2/gc/app/manifests/v1").content == kept_body
    manifest = json.loads(kept_body)
    for descriptor in [manifest["config"], *manifest["layers"]]:
        assert requests.get(f"{server.url}/v2/gc/app/blobs/{descriptor['digest']}").status_code == 200
    assert blob_file(server, kept).exists()


def test_gc_keeps_blobs_younger_than_the_grace_period(server):
    orphan = server.push_blob("gc/young", b"just pushed, manifest still to come")
    out = gc(server)
    assert "0 blobs" in out
    assert requests.head(f"{server.url}/v2/gc/young/blobs/{orphan}").status_code == 200


def test_delete_untagged_keeps_what_tags_reach_through_indexes_and_referrers(server):
    child_body, child = server.push_image("gc/multi", "child", [b"child layer"])
    requests.delete(f"{server.url}/v2/gc/multi/manifests/child")
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": child, "size": len(child_body)}]}).encode()
    assert server.push_manifest("gc/multi", "latest", index, OCI_INDEX).status_code == 201
    empty = server.push_blob("gc/multi", b"{}")
    signature = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.sig",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [], "subject": {"mediaType": OCI_INDEX, "digest": sha256(index),
                                  "size": len(index)}}).encode()
    assert server.push_manifest("gc/multi", sha256(signature), signature).status_code == 201
    _, untagged = server.push_image("gc/multi", "old", [b"untagged layer"])
    requests.delete(f"{server.url}/v2/gc/multi/manifests/old")

    out = gc(server, "--grace", "0", "--delete-untagged")
    assert out.count("deleted manifest") == 1 and f"deleted manifest gc/multi@{untagged}" in out
    assert not blob_file(server, sha256(b"untagged layer")).exists()
    for digest in (child, sha256(index), sha256(signature)):
        assert requests.get(f"{server.url}/v2/gc/multi/manifests/{digest}").status_code == 200
    assert requests.get(f"{server.url}/v2/gc/multi/blobs/{sha256(b'child layer')}").status_code == 200


def test_gc_removes_abandoned_uploads(server):
    location = requests.post(f"{server.url}/v2/gc/uploads/blobs/uploads/").headers["Location"]
    requests.patch(f"{server.url}{location}", data=b"never finished")
    upload_file = server.root / "uploads" / location.rsplit("/", 1)[1]
    past = time.time() - 2 * 86400
    os.utime(upload_file, (past, past))
    assert "1 uploads" in gc(server, "--upload-ttl", "0")
    assert not upload_file.exists()
    assert requests.get(f"{server.url}{location}").status_code == 404


def test_pushes_racing_the_collection_all_succeed(server):
    orphans = [server.push_blob(f"gc/race{i}", os.urandom(1000)) for i in range(4)]
    time.sleep(2.5)  # the orphans are now older than the 2 s grace below
    stop = threading.Event()
    runs = 0

    def collect_until_stopped() -> None:
        nonlocal runs
        while not stop.is_set():
            gc(server, "--grace", str(2 / 60), "--delete-untagged")
            runs += 1

    collector = threading.Thread(target=collect_until_stopped)
    collector.start()
    try:
        layers = {f"gc/race{i}": os.urandom(300_000) for i in range(8)}
        with ThreadPoolExecutor(8) as pool:
            pushed = dict(zip(layers, pool.map(
                lambda item: server.push_image(item[0], "v1", [item[1]]), layers.items())))
    finally:
        stop.set()
        collector.join()
    assert runs >= 1
    for name, (body, _) in pushed.items():
        manifest = requests.get(f"{server.url}/v2/{name}/manifests/v1")
        assert manifest.content == body
        layer = json.loads(body)["layers"][0]["digest"]
        assert requests.get(f"{server.url}/v2/{name}/blobs/{layer}").content == layers[name]
    for orphan in orphans:
        assert not blob_file(server, orphan).exists()
