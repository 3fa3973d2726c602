"""Starting a container: `pybuild run --rm busybox true` side by side with
`docker run --rm busybox true` and `runc run` of the same image's bundle.

Usage: .venv/bin/python bench/runner.py [--runs 20]

The busybox rootfs tar of scripts/base_images.py is imported into a fresh pybuild store
and into a dockerd started here (tests/peers.py; stopped at the end); the runc bundle is
`umoci unpack` of the pybuild store's own OCI layout, with process.terminal=false. All
three use the host network (dockerd runs with --bridge=none). Targets: pybuild <= 0.5x
docker's median and <= 1.0x runc's. A fourth line times `runner.run` of the same snapshot
called in this process: what a build's RUN step pays, without the CLI's start-up; a fifth
runs the same CLI from a venv without the editable-install finder (see
`finder_free_pybuild`).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _peers import peers, report, side_by_side  # noqa: E402

from runner import RunSpec, run  # noqa: E402


def runc_bundle(store_root: Path, bundle: Path) -> None:
    peers.run(["umoci", "unpack", "--image", f"{store_root}:busybox", str(bundle)])
    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = ["true"]
    config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "network"]
    config_path.write_text(json.dumps(config))


def finder_free_pybuild(directory: Path) -> Path:
    """The same pybuild and dependencies in a venv whose `site` has no editable-install
    finder (a `.pth` naming the repo and this venv's site-packages), as a regular
    `pip install .` or `pip install -e . --config-settings editable_mode=compat` starts:
    the finder of a default `pip install -e .` costs ~12 ms of every start."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(directory)], check=True)
    (site_packages,) = directory.glob("lib/python*/site-packages")
    (site_packages / "pybuild-repo.pth").write_text(f"{REPO}\n{sysconfig.get_paths()['purelib']}\n")
    script = directory / "bin" / "pybuild"
    entry = (Path(sys.executable).parent / "pybuild").read_text().split("\n", 1)[1]
    script.write_text(f"#!{directory / 'bin' / 'python3'}\n{entry}")
    script.chmod(0o755)
    return script


def main() -> int:
    parser = argparse.ArgumentParser(description="pybuild run vs docker run vs runc run")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    tar = peers.base_images.busybox_tar()
    scratch = Path(tempfile.mkdtemp(prefix="pbbench-run-"))
    dockerd = peers.Dockerd.start()
    try:
        store = peers.Pybuild(scratch / "store")
        peers.import_base_image(store, tar, peers.base_images.BUSYBOX)
        dockerd.docker("import", "--change", 'CMD ["sh"]', tar, "bench/busybox:1")
        bundle = scratch / "bundle"
        runc_bundle(store.root, bundle)
        runc_root = scratch / "runc-state"
        counter = iter(range(10**6))
        store("run", "--rm", "busybox", "true")  # unpacks the snapshot once
        layers = [str(p) for p in sorted((store.root / "snapshots").iterdir())]
        assert len(layers) == 1, layers
        no_finder = peers.Pybuild(store.root, [str(finder_free_pybuild(scratch / "venv"))])
        # as an installed pybuild has them (pip compiles at install): this session sets
        # PYTHONDONTWRITEBYTECODE, and a module without its .pyc is compiled on every start
        for package in ("pybuild", "oci", "runner"):
            compileall.compile_dir(REPO / package, quiet=1)
        load_before = os.getloadavg()
        times = side_by_side(args.runs, {
            "pybuild run": (lambda: store("run", "--rm", "--network", "host", "busybox", "true"), lambda: None),
            "pybuild run (no -e finder)": (lambda: no_finder("run", "--rm", "--network", "host", "busybox", "true"),
                                           lambda: None),
            "docker run": (lambda: dockerd.docker("run", "--rm", "--network", "host", "bench/busybox:1", "true"),
                           lambda: None),
            "runc run": (lambda: subprocess.run(["runc", "--root", str(runc_root), "run", "--bundle", str(bundle),
                                                 f"pbbench-{next(counter)}"], check=True,
                                                stdin=subprocess.DEVNULL), lambda: None),
            "runner.run (in-process)": (lambda: run(RunSpec(layers=layers, argv=["true"])), lambda: None),
        })
        print("load average (1, 5, 15 min): before %.2f %.2f %.2f, after %.2f %.2f %.2f  (2 cores: above ~1 the "
              "medians grow with the load, pybuild's most: three processes hand over to each other)"
              % (*load_before, *os.getloadavg()))
        report("pybuild run --rm busybox true vs docker", times, "pybuild run", "docker run", 0.5)
        report("pybuild run --rm busybox true vs runc", times, "pybuild run", "runc run", 1.0)
        report("the same, started as a non-editable install starts", times, "pybuild run (no -e finder)",
               "runc run", 1.0)
        report("runner.run in-process vs runc", times, "runner.run (in-process)", "runc run", 1.0)
    finally:
        dockerd.stop()
        peers.base_images.remove_tree(scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
