"""What authentication costs on the hot path: manifest GET by tag with 32 concurrent
keep-alive clients (`ab`), pybuild's registry with a Bearer token (ES256 verified on every
request) and with Basic credentials (bcrypt once, then remembered), side by side with the
CNCF registry (`docker-registry`) with htpasswd Basic auth (bcrypt on every request).

Usage: .venv/bin/python bench/auth.py [--requests 20000] [--workers 2]

Target: ours/theirs requests/s >= 1.0x for both of our modes; p99 printed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import REPO, peers  # noqa: E402

from registry_server.accounts import Accounts, Role  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REPO_NAME = "bench/manifest"


def start_ours(root: Path, workers: int, user: str, password: str) -> tuple[subprocess.Popen, str]:
    accounts = Accounts.in_root(root)
    accounts.add(user, password, Role.ADMIN)
    accounts.close()
    port = peers.free_port()
    proc = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "python"), "-m", "pybuild", "registry", "serve",
         "--addr", f"127.0.0.1:{port}", "--root", str(root), "--workers", str(workers)],
        stdout=subprocess.DEVNULL, stderr=open(root.parent / "server.log", "wb"))
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return requests.get(f"{url}/v2/", timeout=1).status_code == 401
        except requests.ConnectionError:
            return False

    peers.wait_until(ready, 30, "pybuild registry", alive=lambda: proc.poll() is None,
                     log=root.parent / "server.log")
    return proc, url


def push_manifest(url: str, auth: tuple[str, str]) -> None:
    config = b"{}"
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    r = requests.post(f"{url}/v2/{REPO_NAME}/blobs/uploads/", params={"digest": digest}, data=config, auth=auth)
    if r.status_code == 202:  # the CNCF registry wants POST then PUT
        location = r.headers["Location"]
        location = location if location.startswith("http") else url + location
        r = requests.put(location, params={"digest": digest}, data=config, auth=auth)
    assert r.status_code == 201, r.text
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {
        "mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest, "size": 2},
        "layers": []})
    r = requests.put(f"{url}/v2/{REPO_NAME}/manifests/latest", data=manifest, auth=auth,
                     headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, r.text


def ab(url: str, total: int, header: str) -> tuple[float, str, str]:
    out = subprocess.run(
        ["ab", "-q", "-k", "-n", str(total), "-c", "32", "-H", f"Accept: {OCI_MANIFEST}", "-H", header,
         f"{url}/v2/{REPO_NAME}/manifests/latest"],
        capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"^\s*99%\s+(\d+)", out, re.M).group(1)
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    return rps, p99, non2xx.group(1) if non2xx else "0"


def basic(user: str, password: str) -> str:
    return "Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def main() -> int:
    parser = argparse.ArgumentParser(description="authentication cost on manifest GETs")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="pbauth-bench-"))
    theirs = peers.Registry.start(htpasswd=True)
    ours, url = start_ours(home / "root", args.workers, "bench", "bench-password")
    try:
        push_manifest(url, ("bench", "bench-password"))
        push_manifest(theirs.url, (theirs.user, theirs.password))
        token = requests.get(f"{url}/token", auth=("bench", "bench-password"),
                             params={"scope": f"repository:{REPO_NAME}:pull"}).json()["token"]
        print(f"manifest GET by tag, 32 concurrent keep-alive clients, {args.requests} requests (ab)")
        results = {
            "pybuild, Bearer token": ab(url, args.requests, f"Authorization: Bearer {token}"),
            "pybuild, Basic": ab(url, args.requests, basic("bench", "bench-password")),
            "docker-registry, Basic": ab(theirs.url, args.requests, basic(theirs.user, theirs.password)),
        }
        for name, (rps, p99, non2xx) in results.items():
            print(f"  {name:<24} {rps:9.0f} req/s  p99 {p99} ms  non-2xx {non2xx}")
        theirs_rps = results["docker-registry, Basic"][0]
        worst = 1e9
        for name in ("pybuild, Bearer token", "pybuild, Basic"):
            ratio = results[name][0] / theirs_rps
            worst = min(worst, ratio)
            print(f"  {name} / docker-registry = {ratio:.2f}x "
                  f"({'meets' if ratio >= 1.0 else 'MISSES'} >= 1.0x)")
    finally:
        peers.stop_process(ours)
        theirs.stop()
        shutil.rmtree(home, ignore_errors=True)
    return 0 if worst >= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
