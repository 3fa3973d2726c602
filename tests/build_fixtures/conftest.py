"""Builds every fixture of fixtures/builds/ once per session, with pybuild into a store of
its own and with dockerd's BuildKit, then loads pybuild's images into the same dockerd
and exports a container of each image on both sides, so that one program (docker) merges
the layers of both.

`FROM busybox` means the same image on both sides: the busybox imported into pybuild's
store is `pybuild save`d and `docker load`ed, so dockerd holds it with pybuild's image ID.
Up to four builds run at a time, pybuild's (several processes sharing one store, as in
CI) interleaved with BuildKit's.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import compare  # noqa: E402
import corpus  # noqa: E402
import peers  # noqa: E402

PYBUILD_PREFIX = "pbfx/"
DOCKER_PREFIX = "dkfx/"


@dataclass
class Side:
    image: str
    error: str | None = None  # the build's failure, with its output
    filesystem: compare.Filesystem | None = None
    config: dict[str, object] | None = None
    history: list[compare.Step] | None = None


@dataclass
class FixtureBuild:
    fixture: corpus.Fixture
    pybuild: Side
    docker: Side


@dataclass
class FixtureBuilds:
    store: Path
    pybuild: peers.Pybuild
    dockerd: peers.Dockerd
    home: Path
    saved: list[Path] = field(default_factory=list)  # `pybuild save` archives of pybuild's images
    builds: dict[str, FixtureBuild] = field(default_factory=dict)


def _attempt(side: Side, command: Callable[[], object]) -> None:
    try:
        command()
    except (peers.CommandFailed, subprocess.TimeoutExpired) as e:
        side.error = str(e)


def _build_pybuild(pybuild: peers.Pybuild, build: FixtureBuild, image_of: dict[str, str]) -> None:
    f = build.fixture
    _attempt(build.pybuild, lambda: pybuild(
        "build", "--progress=plain", "-t", build.pybuild.image, *f.common_flags(image_of), f.path, timeout=120))


def _build_docker(dockerd: peers.Dockerd, build: FixtureBuild, image_of: dict[str, str]) -> None:
    f = build.fixture
    _attempt(build.docker, lambda: dockerd.docker(
        "build", "--network", "none", "--progress=plain", "-t", build.docker.image,
        "-f", f.path / f.docker_dockerfile, *f.common_flags(image_of), f.path, buildkit=True, timeout=120))


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: Path):
        super().__init__("docker", timeout=120)
        self.socket_path = socket_path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self.socket_path))


def _engine(dockerd: peers.Dockerd, method: str, path: str, body: dict | None = None,
            reader: Callable[[http.client.HTTPResponse], object] = lambda r: json.loads(r.read() or b"null")):
    """One Engine API call: some 250 create/export/remove calls cost seconds through the CLI."""
    connection = _UnixHTTPConnection(dockerd.socket)
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None,
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        if response.status >= 300:
            raise peers.CommandFailed(f"{method} {path}: {response.status} {response.read()!r}")
        return reader(response)
    finally:
        connection.close()


def _export(dockerd: peers.Dockerd, image: str) -> compare.Filesystem:
    # A command is given because some images have neither Cmd nor Entrypoint; it never runs.
    created = _engine(dockerd, "POST", "/containers/create",
                      {"Image": image, "Cmd": ["/nonexistent"], "HostConfig": {"NetworkMode": "none"}})
    try:
        return _engine(dockerd, "GET", f"/containers/{created['Id']}/export", reader=compare.read_export)
    finally:
        _engine(dockerd, "DELETE", f"/containers/{created['Id']}?v=1")


def _load_into_docker(builds: FixtureBuilds, built: list[FixtureBuild]) -> None:
    """Saves pybuild's images into one archive and loads it into dockerd; if the archive
    cannot be made or loaded, image by image, so a failure lands on its fixture."""
    everything = builds.home / "saved.tar"
    try:
        builds.pybuild("save", "-o", everything, *[b.pybuild.image for b in built])
        builds.dockerd.docker("load", "-i", everything)
        builds.saved.append(everything)
        return
    except peers.CommandFailed:
        pass
    for b in built:
        one = builds.home / f"saved-{b.fixture.name}.tar"
        try:
            builds.pybuild("save", "-o", one, b.pybuild.image)
            builds.dockerd.docker("load", "-i", one)
            builds.saved.append(one)
        except peers.CommandFailed as e:
            b.pybuild.error = f"pybuild save | docker load failed: {e}"


def build_all(builds: FixtureBuilds, fixtures: list[corpus.Fixture]) -> None:
    for f in fixtures:
        builds.builds[f.name] = FixtureBuild(f, Side(PYBUILD_PREFIX + f.name), Side(DOCKER_PREFIX + f.name))
    pybuild_images = {name: b.pybuild.image for name, b in builds.builds.items()}
    docker_images = {name: b.docker.image for name, b in builds.builds.items()}
    with ThreadPoolExecutor(max_workers=4) as pool:
        for wave in corpus.in_build_order(fixtures):
            waiting = [job for f in wave for job in (
                pool.submit(_build_pybuild, builds.pybuild, builds.builds[f.name], pybuild_images),
                pool.submit(_build_docker, builds.dockerd, builds.builds[f.name], docker_images))]
            for future in waiting:
                future.result()

    built = [b for b in builds.builds.values() if b.pybuild.error is None]
    _load_into_docker(builds, built)
    sides = [s for b in builds.builds.values() for s in (b.pybuild, b.docker) if s.error is None]
    inspected = json.loads(builds.dockerd.docker("image", "inspect", *[s.image for s in sides]).stdout)
    for side, image in zip(sides, inspected, strict=True):
        side.config = compare.user_config(image)
    configs = _engine(builds.dockerd, "GET", "/images/get?" + "&".join(f"names={s.image}" for s in sides),
                      reader=compare.read_saved_configs)
    for side, image in zip(sides, inspected, strict=True):
        side.history = compare.history(configs[image["Id"]])

    def export(side: Side) -> None:
        side.filesystem = _export(builds.dockerd, side.image)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(export, sides))


@pytest.fixture(scope="session")
def fixture_builds(dockerd: peers.Dockerd, busybox_rootfs_tar: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> FixtureBuilds:
    home = tmp_path_factory.mktemp("build-fixtures")
    pybuild = peers.Pybuild(home / "store")
    busybox = peers.import_base_image(pybuild, busybox_rootfs_tar, peers.base_images.BUSYBOX)
    pybuild("save", "-o", home / "busybox.tar", busybox)
    dockerd.docker("load", "-i", home / "busybox.tar")
    builds = FixtureBuilds(store=pybuild.root, pybuild=pybuild, dockerd=dockerd, home=home)
    build_all(builds, corpus.all_fixtures())
    return builds
