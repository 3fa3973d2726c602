"""Helpers for the registry server tests: start a real `pybuild registry serve`, and push
blobs, manifests and images with requests."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import requests

import peers

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Server:
    url: str
    root: Path
    proc: subprocess.Popen
    log: Path

    @property
    def address(self) -> str:
        return self.url.removeprefix("http://")

    def push_blob(self, name: str, data: bytes) -> str:
        digest = sha256(data)
        r = requests.post(f"{self.url}/v2/{name}/blobs/uploads/", params={"digest": digest}, data=data)
        assert r.status_code == 201, r.text
        return digest

    def push_manifest(self, name: str, reference: str, manifest: dict | bytes,
                      media_type: str = OCI_MANIFEST) -> requests.Response:
        body = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        return requests.put(f"{self.url}/v2/{name}/manifests/{reference}", data=body,
                            headers={"Content-Type": media_type})

    def push_image(self, name: str, tag: str, layers: list[bytes], config: bytes = b"{}",
                   **extra) -> tuple[bytes, str]:
        """Push config, layers and an OCI manifest; the manifest bytes and digest."""
        manifest = {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": self.push_blob(name, config),
                       "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": self.push_blob(name, layer),
                        "size": len(layer)} for layer in layers],
            **extra,
        }
        body = json.dumps(manifest).encode()
        r = self.push_manifest(name, tag, body)
        assert r.status_code == 201, r.text
        return body, sha256(body)


def write_blob(layout: Path, data: bytes) -> dict:
    digest = sha256(data)
    (layout / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def make_oci_layout(layout: Path, tag: str) -> str:
    """A one-layer image in an OCI image layout; the manifest digest."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        payload = os.urandom(200_000)
        info = tarfile.TarInfo("data/random.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    layer = gzip.compress(tar_bytes.getvalue(), mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha256(tar_bytes.getvalue())]},
                         "config": {"Cmd": ["/bin/sh"]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, **write_blob(layout, config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    **write_blob(layout, layer)}]}).encode()
    descriptor = write_blob(layout, manifest)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_MANIFEST, **descriptor,
         "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    return descriptor["digest"]


def start_server(root: Path, workers: int = 2, extra_args: list[str] = ()) -> Server:
    port = peers.free_port()
    log = root.parent / f"{root.name}.log"
    log_file = open(log, "wb")
    proc = subprocess.Popen(
        [str(peers.VENV_BIN / "python"), "-m", "pybuild", "registry", "serve",
         "--addr", f"127.0.0.1:{port}", "--root", str(root), "--workers", str(workers),
         *extra_args],
        stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return requests.get(f"{url}/v2/", timeout=1).status_code in (200, 401)
        except requests.ConnectionError:
            return False

    peers.wait_until(ready, 30, "pybuild registry", alive=lambda: proc.poll() is None, log=log)
    return Server(url, root, proc, log)




def stop_server(server: Server) -> None:
    """SIGTERM, and check it stopped cleanly without an internal error on the way."""
    peers.stop_process(server.proc)
    log = server.log.read_text()
    assert server.proc.returncode == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
