"""pybuild's registry server side by side with the CNCF registry (`docker-registry`, the
distribution 2.8 of Debian), same machine, same client, same runs interleaved:

- blob push of 100 MiB monolithic (POST + PUT) and in 10 MiB chunks (POST, PATCH…, PUT),
  and blob pull (GET): throughput, target ours/theirs >= 1.0x;
- manifest GET by tag with 32 concurrent keep-alive clients (`ab`): requests/s and p99,
  target >= 1.0x;
- `docker push` and `docker pull` of a 100 MiB image through dockerd: time, target
  ours/theirs <= 1.0x;
- peak memory of our server (all workers) under 32 concurrent 100 MiB uploads, target
  <= 200 MiB.

    .venv/bin/python bench/registry.py [--runs 5] [--workers 2] [--gib] [--no-docker]

`--gib` adds the 1 GiB blob runs. The client is http.client from memory buffers (bytes
sent with sendall, pulls read with readinto) so it costs the same for both servers.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from _peers import REPO, peers, report, timed

MIB = 1 << 20
CHUNK = 10 * MIB
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass
class Target:
    name: str
    url: str
    blob_dir: Path  # where the server keeps sha256 blobs, to free disk between runs

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def forget(self, digest: str) -> None:
        """Delete a blob's bytes behind the server's back (ours: `<hex>`, distribution:
        `<hex[:2]>/<hex>/data`), so repeated runs do not fill the disk."""
        hex_ = digest.split(":")[1]
        (self.blob_dir / hex_).unlink(missing_ok=True)
        shutil.rmtree(self.blob_dir / hex_[:2] / hex_, ignore_errors=True)


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, target: Target) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=300)
        self.buffer = bytearray(MIB)

    def request(self, method: str, path: str, body=None, headers: dict | None = None,
                expect: int | tuple = 200) -> http.client.HTTPResponse:
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        view = memoryview(self.buffer)
        while response.readinto(view):
            pass
        expected = expect if isinstance(expect, tuple) else (expect,)
        if response.status not in expected:
            raise RuntimeError(f"{method} {path}: {response.status}")
        return response

    def close(self) -> None:
        self.conn.close()


def location(response: http.client.HTTPResponse) -> str:
    parts = urlsplit(response.headers["Location"])
    return parts.path + (f"?{parts.query}" if parts.query else "")


def with_query(path: str, **params: str) -> str:
    joined = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{path}{'&' if '?' in path else '?'}{joined}"


def push_monolithic(client: Client, repo: str, data, digest: str) -> None:
    start = client.request("POST", f"/v2/{repo}/blobs/uploads/", expect=202)
    client.request("PUT", with_query(location(start), digest=digest), body=data,
                   headers={"Content-Type": "application/octet-stream"}, expect=201)


def push_chunked(client: Client, repo: str, data, digest: str) -> None:
    where = location(client.request("POST", f"/v2/{repo}/blobs/uploads/", expect=202))
    view = memoryview(data)
    for offset in range(0, len(data), CHUNK):
        chunk = view[offset:offset + CHUNK]
        response = client.request("PATCH", where, body=chunk, expect=202, headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
            "Content-Length": str(len(chunk))})
        where = location(response)
    client.request("PUT", with_query(where, digest=digest), expect=201)


def pull(client: Client, repo: str, digest: str) -> None:
    client.request("GET", f"/v2/{repo}/blobs/{digest}")


class Blobs:
    """A fresh blob for every push (a changed prefix), so no server can skip the work."""

    def __init__(self, size: int) -> None:
        self.data = bytearray(os.urandom(size))
        self.counter = 0

    def next(self) -> tuple[bytearray, str]:
        self.counter += 1
        self.data[:16] = os.urandom(16)
        return self.data, "sha256:" + hashlib.sha256(self.data).hexdigest()


def start_ours(workers: int) -> tuple[Target, subprocess.Popen, Path]:
    root = Path(tempfile.mkdtemp(prefix="pbreg-bench-"))
    port = peers.free_port()
    proc = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "python"), "-m", "pybuild", "registry", "serve",
         "--addr", f"127.0.0.1:{port}", "--root", str(root / "data"), "--workers", str(workers)],
        stdout=subprocess.DEVNULL, stderr=open(root / "server.log", "wb"))
    target = Target("pybuild registry", f"http://127.0.0.1:{port}", root / "data" / "blobs" / "sha256")

    def ready() -> bool:
        try:
            Client(target).request("GET", "/v2/")
            return True
        except OSError:
            return False

    peers.wait_until(ready, 30, "pybuild registry", alive=lambda: proc.poll() is None,
                     log=root / "server.log")
    return target, proc, root


def blob_bench(targets: list[Target], size: int, runs: int, label: str) -> None:
    blobs = Blobs(size)
    repo = "bench/blobs"
    for kind, push in (("monolithic", push_monolithic), ("10 MiB chunks", push_chunked)):
        times: dict[str, list[float]] = {t.name: [] for t in targets}
        for i in range(runs + 1):
            for target in targets:
                data, digest = blobs.next()
                client = Client(target)
                start = time.perf_counter()
                push(client, repo, data, digest)
                elapsed = time.perf_counter() - start
                client.close()
                target.forget(digest)
                if i:
                    times[target.name].append(elapsed)
        throughput_report(f"push {label} {kind}", times, size, targets)

    times = {t.name: [] for t in targets}
    pulled = {}
    for target in targets:
        data, digest = blobs.next()
        client = Client(target)
        push_monolithic(client, repo, data, digest)
        client.close()
        pulled[target.name] = digest
    for i in range(runs + 1):
        for target in targets:
            client = Client(target)
            start = time.perf_counter()
            pull(client, repo, pulled[target.name])
            elapsed = time.perf_counter() - start
            client.close()
            if i:
                times[target.name].append(elapsed)
    throughput_report(f"pull {label}", times, size, targets)


def throughput_report(title: str, times: dict[str, list[float]], size: int, targets: list[Target]) -> None:
    print(f"\n{title} (median of {len(times[targets[0].name])})")
    rates = {}
    for name, samples in times.items():
        rates[name] = size / MIB / statistics.median(samples)
        print(f"  {name:<20} {statistics.median(samples):7.3f} s  {rates[name]:8.1f} MiB/s")
    ours, theirs = targets[0].name, targets[1].name
    ratio = rates[ours] / rates[theirs]
    print(f"  throughput ours/theirs = {ratio:.2f}x ({'meets' if ratio >= 1.0 else 'MISSES'} >= 1.0x)")


def manifest_bench(targets: list[Target], requests_total: int) -> None:
    print(f"\nmanifest GET by tag, 32 concurrent keep-alive clients, {requests_total} requests (ab)")
    rates = {}
    for target in targets:
        client = Client(target)
        config = b"{}"
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        push_monolithic(client, "bench/manifest", config, config_digest)
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
            "size": 2}, "layers": []}).encode()
        client.request("PUT", "/v2/bench/manifest/manifests/latest", body=manifest,
                       headers={"Content-Type": OCI_MANIFEST}, expect=201)
        client.close()
        out = subprocess.run(
            ["ab", "-q", "-k", "-n", str(requests_total), "-c", "32", "-H", f"Accept: {OCI_MANIFEST}",
             f"{target.url}/v2/bench/manifest/manifests/latest"],
            capture_output=True, text=True, check=True).stdout
        rps = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))
        p99 = re.search(r"^\s*99%\s+(\d+)", out, re.M).group(1)
        failed = re.search(r"Failed requests:\s+(\d+)", out).group(1)
        non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
        rates[target.name] = rps
        print(f"  {target.name:<20} {rps:9.0f} req/s  p99 {p99} ms  failed {failed}"
              + (f"  non-2xx {non2xx.group(1)}" if non2xx else ""))
    ratio = rates[targets[0].name] / rates[targets[1].name]
    print(f"  req/s ours/theirs = {ratio:.2f}x ({'meets' if ratio >= 1.0 else 'MISSES'} >= 1.0x)")


def random_rootfs_tar(path: Path, payload: bytearray) -> None:
    """A rootfs tar holding one file of incompressible bytes (changed prefix: a new layer)."""
    payload[:16] = os.urandom(16)
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("payload.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))


def docker_bench(targets: list[Target], runs: int, size: int) -> None:
    """`docker push` of a fresh one-layer image (so nothing is skipped or mounted), then
    `docker rmi` and `docker pull` of it, through a dockerd of our own."""
    daemon = peers.Dockerd.start()
    work = Path(tempfile.mkdtemp(prefix="pbreg-docker-"))
    payload = bytearray(os.urandom(size))
    pushes: dict[str, list[float]] = {t.name: [] for t in targets}
    pulls: dict[str, list[float]] = {t.name: [] for t in targets}
    try:
        for i in range(runs + 1):
            for target in targets:
                random_rootfs_tar(work / "rootfs.tar", payload)
                ref = f"{target.url.removeprefix('http://')}/bench/docker:run{i}"
                daemon.docker("import", work / "rootfs.tar", ref)
                push_time = timed(lambda: daemon.docker("push", ref))
                daemon.docker("rmi", ref)
                pull_time = timed(lambda: daemon.docker("pull", ref))
                daemon.docker("rmi", ref)
                if i:
                    pushes[target.name].append(push_time)
                    pulls[target.name].append(pull_time)
    finally:
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
    for title, times in ((f"docker push of a {size // MIB} MiB image", pushes),
                         (f"docker pull of a {size // MIB} MiB image", pulls)):
        report(title, times, targets[0].name, targets[1].name, target=1.0)


def tree_pss_mib(pid: int) -> float:
    """Proportional set size of a process and its children, in MiB: pages the forked
    workers share with the parent are counted once, not once per process as RSS would."""
    total = 0
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return 0.0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += int(re.search(r"^Pss:\s+(\d+)", f.read(), re.M).group(1))
        except (FileNotFoundError, AttributeError):
            pass
    return total / 1024


def memory_bench(target: Target, proc: subprocess.Popen, uploads: int, size: int) -> None:
    data = bytearray(os.urandom(size))
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    peak = tree_pss_mib(proc.pid)
    idle = peak
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_pss_mib(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    with ThreadPoolExecutor(uploads) as pool:
        def upload(i: int) -> None:
            client = Client(target)
            push_monolithic(client, f"bench/mem{i}", data, digest)
            client.close()
        list(pool.map(upload, range(uploads)))
    done.set()
    sampler.join()
    print(f"\nserver memory (PSS, all processes) under {uploads} concurrent {size // MIB} MiB "
          f"uploads: idle {idle:.0f} MiB, peak {peak:.0f} MiB "
          f"({'meets' if peak <= 200 else 'MISSES'} <= 200 MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gib", action="store_true", help="also push and pull 1 GiB blobs")
    parser.add_argument("--manifest-requests", type=int, default=20000)
    parser.add_argument("--no-docker", action="store_true", help="skip docker push/pull")
    args = parser.parse_args()

    ours, proc, root = start_ours(args.workers)
    cncf = peers.Registry.start()
    theirs = Target("docker-registry", cncf.url, cncf.home / "data" / "docker" / "registry" / "v2"
                    / "blobs" / "sha256")
    targets = [ours, theirs]
    print(f"pybuild registry ({args.workers} workers) vs docker-registry 2.8, {os.cpu_count()} CPUs")
    try:
        blob_bench(targets, 100 * MIB, args.runs, "100 MiB")
        if args.gib:
            blob_bench(targets, 1024 * MIB, max(1, args.runs // 2), "1 GiB")
        manifest_bench(targets, args.manifest_requests)
        if not args.no_docker:
            docker_bench(targets, args.runs, 100 * MIB)
        memory_bench(ours, proc, 32, 100 * MIB)
    finally:
        peers.stop_process(proc)
        cncf.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
