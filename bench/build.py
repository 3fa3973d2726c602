"""Building images: `pybuild build` side by side with `docker build` (the daemon's legacy
builder), `DOCKER_BUILDKIT=1 docker build` (the daemon's BuildKit) and
`buildah bud --layers`, all with `--network none`, on the same busybox base.

Usage: .venv/bin/python bench/build.py [--runs 5] [--big-mib 1024]

Scenarios and the targets of issue #5 (ratios of medians):
- no-op cached rebuild                     pybuild <= 1.0x docker legacy
- COPY of 5,000 small files, cached        pybuild <= 1.0x BuildKit
- COPY of 5,000 small files, --no-cache    pybuild <= 0.5x BuildKit
- twenty `RUN true`, --no-cache            pybuild <= 0.5x BuildKit
- peak memory of pybuild building a layer of --big-mib MiB: <= 150 MiB (one run)

dockerd comes from tests/peers.py and is stopped at the end; buildah gets a storage,
containers.conf and registries of its own in a temp dir (PEERS.md) and reads the base
image from pybuild's store (an OCI layout).
"""

from __future__ import annotations

import argparse
import compileall
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import peers, report, side_by_side  # noqa: E402

CONTAINERS_CONF = """\
[containers]
netns = "none"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
"""


class Buildah:
    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(parents=True)
        (home / "containers.conf").write_text(CONTAINERS_CONF)
        (home / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{home / "graph"}"\nrunroot = "{home / "run"}"\n')
        (home / "registries.conf").write_text('unqualified-search-registries = []\n')
        self.env = {**os.environ, "CONTAINERS_CONF": str(home / "containers.conf"),
                    "CONTAINERS_STORAGE_CONF": str(home / "storage.conf"),
                    "CONTAINERS_REGISTRIES_CONF": str(home / "registries.conf")}

    def __call__(self, *args: str) -> None:
        subprocess.run(["buildah", *args], env=self.env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)


def write_context(root: Path, dockerfile: str, files: int = 0) -> Path:
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text(dockerfile)
    for i in range(files):
        directory = root / "files" / f"d{i // 100:02d}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"f{i:05d}.txt").write_text(f"file {i}\n")
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description="pybuild build vs docker build vs buildah bud")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--big-mib", type=int, default=1024)
    args = parser.parse_args()

    # pybuild as installed: `pip install` compiles the bytecode; here PYTHONDONTWRITEBYTECODE
    # may be set and an editable tree may have none, and every pybuild process would then
    # compile ~40 modules again (~80 ms of a no-op rebuild).
    root = Path(__file__).resolve().parent.parent
    for package in ("builder", "oci", "pybuild", "runner"):
        compileall.compile_dir(root / package, quiet=1)
    tar = peers.base_images.busybox_tar()
    scratch = Path(tempfile.mkdtemp(prefix="pbbench-build-"))
    dockerd = peers.Dockerd.start()
    try:
        store = peers.Pybuild(scratch / "store")
        peers.import_base_image(store, tar, peers.base_images.BUSYBOX)
        docker_base = "bench/busybox:1"
        dockerd.docker("import", "--change", 'CMD ["sh"]', tar, docker_base)
        buildah = Buildah(scratch / "buildah")
        buildah("pull", "-q", f"oci:{store.root}:busybox")
        # buildah names an image pulled from a layout after the layout's path.
        buildah("tag", f"localhost{store.root}:latest", "localhost/busybox:latest")

        scenarios = {
            "no-op cached rebuild": ("FROM {base}\nRUN echo hi > /x\nCOPY Dockerfile /Dockerfile\n", 0),
            "COPY 5000 files": ("FROM {base}\nCOPY files /files\n", 5000),
            "twenty RUN true": ("FROM {base}\n" + "RUN true\n" * 20, 0),
        }
        ratios = {}
        for title, (template, files) in scenarios.items():
            contexts = {name: write_context(scratch / f"{title.replace(' ', '-')}-{name}",
                                            template.format(base=base), files)
                        for name, base in (("pybuild", "busybox"), ("docker", docker_base),
                                           ("buildah", "localhost/busybox:latest"))}

            def ours(*extra: str, ctx=contexts["pybuild"]) -> None:
                store("build", "-q", "--network", "none", "-t", "bench", *extra, str(ctx))

            def legacy(*extra: str, ctx=contexts["docker"]) -> None:
                dockerd.docker("build", "-q", "--network", "none", "-t", "bench-legacy", *extra, str(ctx))

            def buildkit(*extra: str, ctx=contexts["docker"]) -> None:
                dockerd.docker("build", "-q", "--network", "none", "-t", "bench-bk", *extra, str(ctx), buildkit=True)

            def bud(*extra: str, ctx=contexts["buildah"]) -> None:
                buildah("bud", "-q", "--layers", "--network", "none", "-t", "bench-buildah", *extra, str(ctx))

            for warm in (ours, legacy, buildkit, bud):
                warm()
            if title != "twenty RUN true":
                times = side_by_side(args.runs, {
                    "pybuild": (ours, lambda: None), "docker legacy": (legacy, lambda: None),
                    "docker BuildKit": (buildkit, lambda: None), "buildah bud --layers": (bud, lambda: None)})
                if title == "no-op cached rebuild":
                    ratios[title] = report(f"{title}", times, "pybuild", "docker legacy", 1.0)
                else:
                    ratios[title + ", cached"] = report(f"{title}, cached", times, "pybuild", "docker BuildKit", 1.0)
            if title != "no-op cached rebuild":
                times = side_by_side(args.runs, {
                    "pybuild": (lambda: ours("--no-cache"), lambda: None),
                    "docker legacy": (lambda: legacy("--no-cache"), lambda: None),
                    "docker BuildKit": (lambda: buildkit("--no-cache"), lambda: None),
                    "buildah bud --layers": (lambda: bud("--no-cache"), lambda: None)})
                ratios[title + ", --no-cache"] = report(f"{title}, --no-cache", times, "pybuild",
                                                        "docker BuildKit", 0.5)

        big = write_context(scratch / "big", f"FROM busybox\nRUN dd if=/dev/urandom of=/big bs=1048576 count={args.big_mib}\n")
        peak = subprocess.run(["/usr/bin/time", "-f", "%M", *store.command, "build", "-q", "--network", "none",
                               str(big)], env=store.env(), check=True, capture_output=True, text=True)
        peak_kib = int(peak.stderr.strip().splitlines()[-1])
        print(f"\npeak memory of pybuild building a {args.big_mib} MiB layer: {peak_kib / 1024:.0f} MiB "
              f"({'meets' if peak_kib <= 150 * 1024 else 'MISSES'} the target <= 150 MiB)")
    finally:
        dockerd.stop()
        peers.base_images.remove_tree(scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
