"""Faults: the server killed with SIGKILL in the middle of concurrent pushes, and
malformed requests of every kind, which must get spec errors and never a 500."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import peers
from regtest import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256, start_server, stop_server


def push_image(url: str, name: str, layer: bytes, stop: threading.Event) -> str | None:
    """Push a one-layer image in 256 KiB chunks; its manifest digest, or None if the
    server went away before the manifest was accepted."""
    try:
        config = b'{"n": "%s"}' % name.encode()
        for blob in (config, layer):
            location = requests.post(f"{url}/v2/{name}/blobs/uploads/").headers["Location"]
            for start in range(0, len(blob), 1 << 18):
                chunk = blob[start:start + (1 << 18)]
                r = requests.patch(f"{url}{location}", data=chunk,
                                   headers={"Content-Range": f"{start}-{start + len(chunk) - 1}"})
                if r.status_code != 202:
                    return None
                location = r.headers["Location"]
                if stop.is_set():
                    return None
            if requests.put(f"{url}{location}", params={"digest": sha256(blob)}).status_code != 201:
                return None
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}]}).encode()
        r = requests.put(f"{url}/v2/{name}/manifests/v1", data=manifest,
                         headers={"Content-Type": OCI_MANIFEST})
        return sha256(manifest) if r.status_code == 201 else None
    except requests.ConnectionError:
        return None


def test_kill_9_during_16_pushes_loses_nothing_that_succeeded(tmp_path):
    root = tmp_path / "root"
    server = start_server(root)
    layers = {f"kill/app{i}": os.urandom((1 << 20) + i * 65536) for i in range(16)}
    stop = threading.Event()
    with ThreadPoolExecutor(16) as pool:
        futures = {name: pool.submit(push_image, server.url, name, layer, stop)
                   for name, layer in layers.items()}
        # Kill once some pushes have finished and others are mid-upload.
        peers.wait_until(lambda: sum(f.done() for f in futures.values()) >= 3, 60, "first pushes")
        for child in _children(server.proc.pid):
            os.kill(child, signal.SIGKILL)
        os.kill(server.proc.pid, signal.SIGKILL)
        stop.set()
        pushed = {name: f.result() for name, f in futures.items()}
    server.proc.wait()
    assert any(pushed.values())

    restarted = start_server(root)
    try:
        for name, digest in pushed.items():
            if digest is None:
                continue
            manifest = requests.get(f"{restarted.url}/v2/{name}/manifests/v1").json()
            layer = manifest["layers"][0]["digest"]
            assert requests.get(f"{restarted.url}/v2/{name}/blobs/{layer}").content == layers[name]
        # Whatever reached the blob store is exactly the bytes of its digest.
        for path in (root / "blobs" / "sha256").iterdir():
            assert sha256(path.read_bytes()) == f"sha256:{path.name}"
        # An upload interrupted by the kill can be resumed from where the server says it is.
        name, layer = next(iter(layers.items()))
        location = requests.post(f"{restarted.url}/v2/{name}/blobs/uploads/").headers["Location"]
        requests.patch(f"{restarted.url}{location}", data=layer[:1000], headers={"Content-Range": "0-999"})
        offset = int(requests.get(f"{restarted.url}{location}").headers["Range"].split("-")[1]) + 1
        r = requests.put(f"{restarted.url}{location}", params={"digest": sha256(layer)},
                         data=layer[offset:], headers={"Content-Range": f"{offset}-{len(layer) - 1}"})
        assert r.status_code == 201
    finally:
        stop_server(restarted)


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


@pytest.fixture(scope="module")
def fuzz_target(registry):
    registry.push_image("fuzz/app", "v1", [b"fuzz layer"])
    return registry


segment = st.one_of(
    st.sampled_from(["fuzz", "app", "blobs", "uploads", "manifests", "tags", "list", "referrers",
                     "_catalog", "..", ".", "", "v1", sha256(b"x"), "sha256:", "sha512:zz",
                     "0" * 32, "%2F", "%00", "A"]),
    st.text(alphabet="abcAZ09._-:%/@~", max_size=20))
header_value = st.text(alphabet="0123456789-=/ bytesa*,;", max_size=30).map(str.strip)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"]),
       segments=st.lists(segment, min_size=1, max_size=6),
       query=st.dictionaries(st.sampled_from(["digest", "mount", "from", "n", "last", "tag",
                                              "artifactType"]), header_value, max_size=3),
       headers=st.dictionaries(st.sampled_from(["Content-Range", "Range", "Accept", "Content-Type"]),
                               header_value, max_size=3),
       body=st.binary(max_size=64))
def test_malformed_requests_never_get_a_server_error(fuzz_target, method, segments, query, headers, body):
    url = f"{fuzz_target.url}/v2/{'/'.join(segments)}"
    r = requests.request(method, url, params=query, headers=headers, data=body or None)
    assert r.status_code < 500, (method, url, query, headers, r.status_code, r.text[:300])


def test_full_disk_gives_a_clean_error_and_leaves_no_partial_blob(tmp_path):
    """The server runs in a mount namespace of its own whose store is a 4 MiB tmpfs
    (unshare: the mount disappears with the process); /proc/PID/root looks inside."""
    root = tmp_path / "root"
    root.mkdir()
    port = peers.free_port()
    log = tmp_path / "server.log"
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         f'mount -t tmpfs -o size=4m pbtest "{root}" && exec "$0" "$@"',
         str(peers.VENV_BIN / "python"), "-m", "pybuild", "registry", "serve",
         "--addr", f"127.0.0.1:{port}", "--root", str(root), "--workers", "1"],
        stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        peers.wait_until(lambda: _answers(url), 30, "registry on tmpfs",
                         alive=lambda: proc.poll() is None, log=log)
        small = os.urandom(1 << 20)
        r = requests.post(f"{url}/v2/full/app/blobs/uploads/", params={"digest": sha256(small)}, data=small)
        assert r.status_code == 201
        big = os.urandom(6 << 20)
        r = requests.post(f"{url}/v2/full/app/blobs/uploads/", params={"digest": sha256(big)}, data=big)
        assert r.status_code == 507 and r.json()["errors"][0]["code"] == "UNKNOWN"
        location = requests.post(f"{url}/v2/full/app/blobs/uploads/").headers["Location"]
        r = requests.put(f"{url}{location}", params={"digest": sha256(big)}, data=big)
        assert r.status_code == 507

        inside = Path(f"/proc/{proc.pid}/root") / root.relative_to("/")
        blobs = {p.name for p in (inside / "blobs" / "sha256").iterdir()}
        assert blobs == {sha256(small).split(":")[1]}
        assert requests.get(f"{url}/v2/full/app/blobs/{sha256(small)}").content == small
        assert requests.head(f"{url}/v2/full/app/blobs/{sha256(big)}").status_code == 404
        # the refused single POST left nothing behind; the session keeps what fit, to resume
        assert [p.name for p in (inside / "uploads").iterdir()] == [location.rsplit("/", 1)[1]]
    finally:
        peers.stop_process(proc)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/v2/", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False
