"""Registry client speed: pybuild push/pull of a 100 MiB random layer against podman
and docker, and push of an image of 10 x 10 MiB random layers against docker, all
talking to the same local CNCF registry. Median of 5, ratios printed, and the peak
memory of a pull.

Every push starts from an empty registry (its storage is wiped between runs, outside
the timing) so each contender uploads everything; pulls go into an empty store. podman
runs with a configuration of its own (storage, registries, containers.conf in a temp
dir, as /work/shared/PEERS.md says); its pull and docker's also unpack the layer,
pybuild's stores the blob only (it unpacks on first use).

    .venv/bin/python bench/client.py [--runs 5] [--size-mib 100] [--memory-mib 1024]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _peers import peers, report, side_by_side  # noqa: E402


def random_rootfs_tar(path: Path, size: int) -> None:
    payload = path.with_suffix(".bin")
    with open(payload, "wb") as f:
        for _ in range(size // (1 << 20)):
            f.write(os.urandom(1 << 20))
    with tarfile.open(path, "w") as tar:
        tar.add(payload, arcname="random.bin")
    payload.unlink()


def ten_layer_image(store_root: Path, name: str, layers: int = 10, size: int = 10 << 20) -> None:
    """An image of `layers` random layers in the store at `store_root`, tagged `name`."""
    import io
    import json

    from oci.compression import LayerWriter
    from oci.manifest import Descriptor
    from oci.mediatypes import OCI_LAYER_GZIP
    from oci.store import Store

    descriptors, diff_ids = [], []
    with Store.open(store_root) as store:
        for i in range(layers):
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                info = tarfile.TarInfo(f"layer{i}.bin")
                info.size = size
                tar.addfile(info, io.BytesIO(os.urandom(size)))
            with store.blob_writer() as blob:
                writer = LayerWriter(blob, "gzip")
                writer.write(buffer.getvalue())
                digests = writer.close()
                blob.commit(digests.digest)
            descriptors.append(Descriptor(OCI_LAYER_GZIP, digests.digest, digests.size))
            diff_ids.append(digests.diff_id)
        config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids},
                  "config": {}, "history": [{"created_by": f"layer {i}"} for i in range(layers)]}
        store.commit_image(json.dumps(config).encode(), descriptors, tags=[name])


class Podman:
    """podman with storage, registries and engine settings of its own under `home`: the
    host's configuration decides nothing, loopback registries are plain HTTP, and the
    settings PEERS.md lists keep it from touching the network and the host's limits."""

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(parents=True)
        (home / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{home / "graph"}"\nrunroot = "{home / "run"}"\n')
        (home / "registries.conf").write_text(
            'unqualified-search-registries = []\n[[registry]]\nlocation = "127.0.0.1"\ninsecure = true\n')
        (home / "containers.conf").write_text(
            '[containers]\nnetns = "none"\n'
            'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
            '[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n')

    def env(self) -> dict[str, str]:
        return {**os.environ, "CONTAINERS_STORAGE_CONF": str(self.home / "storage.conf"),
                "CONTAINERS_REGISTRIES_CONF": str(self.home / "registries.conf"),
                "CONTAINERS_CONF": str(self.home / "containers.conf")}

    def __call__(self, *args: str | os.PathLike, check: bool = True) -> subprocess.CompletedProcess:
        return peers.run(["podman", *args], check=check, env=self.env())

    def remove(self) -> None:
        self("rmi", "--all", "--force", check=False)
        peers.base_images.remove_tree(self.home)


def peak_rss_mib(command: list, env: dict) -> float:
    """The peak RSS of `command`, measured by a fresh wrapper whose only child it is."""
    probe = ("import resource, subprocess, sys;"
             "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL);"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *map(str, command)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return int(out.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=100)
    parser.add_argument("--memory-mib", type=int, default=1024,
                        help="layer size for the peak-memory pull (0: skip)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pbbench-client-"))
    registry = peers.Registry.start()
    dockerd = peers.Dockerd.start()
    podman = Podman(work / "podman")
    try:
        tar = work / "rootfs.tar"
        random_rootfs_tar(tar, args.size_mib << 20)
        pybuild = peers.Pybuild(work / "store")
        name = f"{registry.address}/bench/random"
        pybuild("import", tar, f"{name}:pybuild")
        dockerd.docker("import", tar, f"{name}:docker")
        podman("import", tar, f"{name}:podman")
        data = registry.home / "data"

        def wipe_registry() -> None:
            shutil.rmtree(data, ignore_errors=True)

        push = side_by_side(args.runs, {
            "pybuild push": (lambda: pybuild("push", f"{name}:pybuild"), wipe_registry),
            "podman push": (lambda: podman("push", f"{name}:podman"), wipe_registry),
            "docker push": (lambda: dockerd.docker("push", f"{name}:docker"), wipe_registry),
        })
        size = f"{args.size_mib} MiB random layer"
        report(f"push of a {size}", push, "pybuild push", "podman push", 0.5)
        report(f"push of a {size}", push, "pybuild push", "docker push", 0.5)

        ten = f"{registry.address}/bench/ten"
        ten_layer_image(pybuild.root, f"{ten}:pybuild")
        pybuild("save", "-o", work / "ten.tar", f"{ten}:pybuild")
        dockerd.docker("load", "-i", work / "ten.tar")
        dockerd.docker("tag", f"{ten}:pybuild", f"{ten}:docker")
        layered = side_by_side(args.runs, {
            "pybuild push": (lambda: pybuild("push", f"{ten}:pybuild"), wipe_registry),
            "docker push": (lambda: dockerd.docker("push", f"{ten}:docker"), wipe_registry),
        })
        report("push of an image of 10 x 10 MiB random layers", layered, "pybuild push", "docker push", 0.5)

        # Neither docker nor podman may find the pulled layer locally (their own imports
        # have the same diff ID): each pulls into a store that holds nothing else.
        dockerd.docker("rmi", f"{name}:docker")
        podman("rmi", "--all", "--force")
        pybuild("push", f"{name}:pybuild")
        pull_store = peers.Pybuild(work / "pull-store")

        def docker_rmi() -> None:
            dockerd.docker("rmi", f"{name}:pybuild", check=False)

        pull = side_by_side(args.runs, {
            "pybuild pull": (lambda: pull_store("pull", "-q", f"{name}:pybuild"),
                             lambda: shutil.rmtree(pull_store.root, ignore_errors=True)),
            "podman pull": (lambda: podman("pull", "-q", f"{name}:pybuild"),
                            lambda: podman("rmi", "--all", "--force")),
            "docker pull": (lambda: dockerd.docker("pull", "-q", f"{name}:pybuild"), docker_rmi),
        })
        report(f"pull of a {size}", pull, "pybuild pull", "podman pull", 0.5)
        report(f"pull of a {size}", pull, "pybuild pull", "docker pull", 0.5)

        if args.memory_mib:
            big = work / "big.tar"
            random_rootfs_tar(big, args.memory_mib << 20)
            pybuild("import", big, f"{name}:big")
            big.unlink()
            pybuild("push", f"{name}:big")
            shutil.rmtree(pull_store.root, ignore_errors=True)
            peak = peak_rss_mib([*pull_store.command, "pull", "-q", f"{name}:big"], pull_store.env())
            verdict = "meets" if peak <= 100 else "MISSES"
            print(f"\npeak RSS of `pybuild pull` of a {args.memory_mib} MiB layer: {peak:.0f} MiB"
                  f"  ({verdict} the target <= 100 MiB)")
    finally:
        podman.remove()
        dockerd.stop()
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
