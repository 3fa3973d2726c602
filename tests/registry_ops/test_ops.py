"""Operating the server: health, Prometheus metrics summed over workers, the access log,
graceful shutdown, TLS, scheduled garbage collection."""

from __future__ import annotations

import hashlib
import re
import signal
import socket
import ssl
import threading
import time

import pytest
import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text (0 when absent)."""
    selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = "^" + re.escape(name + (f"{{{selector}}}" if labels else "")) + r" (\S+)$"
    match = re.search(pattern, text, re.M)
    return float(match.group(1)) if match else 0.0


def test_healthz_reports_ok(serve):
    server = serve("--workers", "1")
    r = requests.get(server.url + "/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_metrics_add_up_the_requests_of_every_worker(serve):
    server = serve("--workers", "2")
    blob = b"m" * 5000
    digest = sha256(blob)
    assert requests.post(f"{server.url}/v2/ops/app/blobs/uploads/", params={"digest": digest},
                         data=blob).status_code == 201
    for _ in range(40):  # fresh connections, so the kernel spreads them over both workers
        assert requests.head(f"{server.url}/v2/ops/app/blobs/{digest}").status_code == 200
    for _ in range(3):
        assert requests.get(f"{server.url}/v2/ops/app/manifests/missing").status_code == 404
    route = "/v2/{name}/blobs/{digest}"
    deadline = time.monotonic() + 15  # every worker writes its counters every two seconds
    while True:
        text = requests.get(server.url + "/metrics").text
        heads = metric(text, "pybuild_registry_requests_total", method="HEAD", route=route, status="200")
        if heads >= 40 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert "# TYPE pybuild_registry_requests_total counter" in text
    assert metric(text, "pybuild_registry_requests_total", method="HEAD", route=route, status="200") == 40
    assert metric(text, "pybuild_registry_requests_total", method="GET",
                  route="/v2/{name}/manifests/{reference}", status="404") == 3
    assert metric(text, "pybuild_registry_requests_total", method="POST",
                  route="/v2/{name}/blobs/uploads/", status="201") == 1
    assert metric(text, "pybuild_registry_received_bytes_total") >= len(blob)
    assert metric(text, "pybuild_registry_repositories") == 1
    assert metric(text, "pybuild_registry_blobs") == 1
    assert metric(text, "pybuild_registry_uploads_in_progress") == 0


def test_metrics_count_bytes_sent_for_blob_downloads(serve):
    server = serve("--workers", "1")
    blob = b"d" * 300_000
    digest = sha256(blob)
    requests.post(f"{server.url}/v2/ops/dl/blobs/uploads/", params={"digest": digest}, data=blob)
    before = metric(requests.get(server.url + "/metrics").text, "pybuild_registry_sent_bytes_total")
    assert requests.get(f"{server.url}/v2/ops/dl/blobs/{digest}").content == blob
    after = metric(requests.get(server.url + "/metrics").text, "pybuild_registry_sent_bytes_total")
    assert after - before >= len(blob)


def test_access_log_is_off_by_default_and_writes_a_line_per_request_when_asked(serve, tmp_path):
    quiet = serve("--workers", "1")
    requests.get(quiet.url + "/v2/")
    quiet.stop()
    assert "GET /v2/" not in quiet.log.read_text()

    log = tmp_path / "access.log"
    server = serve("--workers", "2", "--access-log", str(log))
    for _ in range(10):
        requests.get(server.url + "/v2/nothing/tags/list")
    server.stop()  # flushes what is buffered
    lines = [line for line in log.read_text().splitlines() if "/v2/nothing/tags/list" in line]
    assert len(lines) == 10
    assert re.fullmatch(r'127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
                        r'"GET /v2/nothing/tags/list HTTP/1\.1" 404 \d+ \d+\.\d{4}', lines[0])


def test_sigterm_lets_an_upload_in_progress_finish(serve):
    server = serve("--workers", "2")
    start = requests.post(f"{server.url}/v2/ops/slow/blobs/uploads/")
    location = start.headers["Location"]
    chunk = b"s" * 100_000
    sent_first = threading.Event()

    def body():
        yield chunk
        sent_first.set()
        time.sleep(1.5)  # SIGTERM arrives while the request is in flight
        yield chunk

    result = {}
    thread = threading.Thread(target=lambda: result.update(
        response=requests.patch(server.url + location, data=body())))
    thread.start()
    assert sent_first.wait(10)
    time.sleep(0.3)
    server.proc.send_signal(signal.SIGTERM)
    thread.join(20)
    assert result["response"].status_code == 202
    assert result["response"].headers["Range"] == f"0-{2 * len(chunk) - 1}"
    assert server.proc.wait(20) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/v2/", timeout=2)


def test_self_signed_tls_serves_https_for_127_0_0_1_and_keeps_its_certificate(serve):
    server = serve("--workers", "1", "--tls-self-signed", scheme="https", verify=False)
    cert = server.root / "tls" / "self-signed.crt"
    assert requests.get(server.url + "/v2/", verify=str(cert)).status_code == 200
    context = ssl.create_default_context(cafile=str(cert))
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(server.url.replace("https", "http") + "/v2/", timeout=5)
    first = cert.read_bytes()
    server.stop()
    again = serve("--workers", "1", "--root", str(server.root), "--tls-self-signed",
                  scheme="https", verify=str(cert))
    assert requests.get(again.url + "/healthz", verify=str(cert)).status_code == 200
    assert cert.read_bytes() == first


def test_tls_flags_take_an_operators_certificate_and_key(serve, tmp_path):
    from registry_server.tls import make_self_signed

    cert, key = make_self_signed(tmp_path / "pki")
    server = serve("--workers", "2", "--tls-cert", str(cert), "--tls-key", str(key),
                   scheme="https", verify=str(cert))
    assert requests.get(server.url + "/v2/", verify=str(cert)).status_code == 200
    assert not (server.root / "tls").exists()


def test_gc_interval_collects_unused_blobs_while_serving(serve, tmp_path):
    config = tmp_path / "registry.toml"
    config.write_text("[gc]\ninterval = 0.02\ngrace = 0\n")  # every 1.2 s, nothing kept for being new
    server = serve("--workers", "1", "--config", str(config))
    blob = b"orphan" * 100
    digest = sha256(blob)
    requests.post(f"{server.url}/v2/ops/gc/blobs/uploads/", params={"digest": digest}, data=blob)
    path = server.root / "blobs" / "sha256" / digest.split(":")[1]
    assert path.exists()
    deadline = time.monotonic() + 15
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not path.exists()
    assert requests.get(server.url + "/healthz").status_code == 200
    assert "registry gc: deleted 0 manifests, 1 blobs" in server.log.read_text()
