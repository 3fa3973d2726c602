"""Helpers for the web page tests: `pybuild registry serve` (two workers) with accounts
(an admin and a user, anonymous pull on) holding a few images, and a headless Chromium
driven by selenium."""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import requests

import peers

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ADMIN = ("admin", "admin-password")
ALICE = ("alice", "alice-password")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class WebRegistry:
    url: str
    root: Path
    proc: subprocess.Popen
    log: Path

    @property
    def address(self) -> str:
        return self.url.removeprefix("http://")

    def push_image(self, name: str, tag: str, layers: list[bytes], config: dict,
                   auth=ADMIN) -> str:
        """Push an image as `auth`; the manifest digest."""
        def blob(data: bytes) -> dict:
            digest = sha256(data)
            r = requests.post(f"{self.url}/v2/{name}/blobs/uploads/", params={"digest": digest},
                              data=data, auth=auth)
            assert r.status_code == 201, r.text
            return {"digest": digest, "size": len(data)}

        config_bytes = json.dumps(config).encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, **blob(config_bytes)},
            "layers": [{"mediaType": OCI_LAYER, **blob(layer)} for layer in layers]}).encode()
        r = requests.put(f"{self.url}/v2/{name}/manifests/{tag}", data=manifest, auth=auth,
                         headers={"Content-Type": OCI_MANIFEST})
        assert r.status_code == 201, r.text
        return sha256(manifest)


def image_config(description: str, commands: list[str]) -> dict:
    return {
        "architecture": "arm64", "os": "linux", "variant": "v8",
        "created": "2026-01-02T03:04:05Z",
        "config": {"Labels": {"org.opencontainers.image.description": description}},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [{"created": "2026-01-02T03:04:05Z", "created_by": command}
                    for command in commands],
    }


def start_registry(root: Path) -> WebRegistry:
    from registry_server.accounts import Accounts, Role

    root.mkdir(parents=True)
    accounts = Accounts.in_root(root)
    accounts.add(*ADMIN, role=Role.ADMIN)
    accounts.add(*ALICE)
    accounts.close()
    port = peers.free_port()
    log = root.parent / "server.log"
    config = root.parent / "registry.toml"
    config.write_text("workers = 2\n[auth]\nanonymous_pull = true\n")
    proc = subprocess.Popen(
        [str(peers.VENV_BIN / "python"), "-m", "pybuild", "registry", "serve", "--config", str(config),
         "--addr", f"127.0.0.1:{port}", "--root", str(root)],
        stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return requests.get(f"{url}/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    peers.wait_until(ready, 30, "pybuild registry", alive=lambda: proc.poll() is None, log=log)
    return WebRegistry(url, root, proc, log)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_chromium(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.implicitly_wait(0)
    return driver
