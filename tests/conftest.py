"""Fixtures shared by every test area: the store, the pybuild CLI, base rootfs tars and
the real peers (dockerd, the CNCF registry, skopeo, umoci). See docs/testing.md.

Expensive things are session-scoped and made once: one dockerd per test session, the
base rootfs tars once per machine (cached by scripts/base_images.py).
"""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# With --import-mode=importlib the tests directory is not on sys.path; test modules and
# area conftests import the helpers with `import peers`.
sys.path.insert(0, str(Path(__file__).parent))

import peers  # noqa: E402


@pytest.fixture(scope="session")
def base_image_cache() -> Path:
    return peers.base_images.default_cache_dir()


@pytest.fixture(scope="session")
def busybox_rootfs_tar(base_image_cache: Path) -> Path:
    """The busybox rootfs tar (~2 MB, entries bin/busybox, bin/sh -> /bin/busybox, ...)."""
    return peers.base_images.busybox_tar(base_image_cache)


@pytest.fixture(scope="session")
def debian_rootfs_tar(base_image_cache: Path) -> Path:
    """The debootstrap minbase bookworm rootfs tar (~120 MB). The first use on a machine
    takes ~30 s: ask for it only where busybox cannot do."""
    return peers.base_images.debian_tar(base_image_cache)


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    """A fresh, empty PYBUILD_ROOT."""
    return tmp_path / "store"


@pytest.fixture
def pybuild(store_root: Path) -> peers.Pybuild:
    """`pybuild(*args, check=True)` runs the CLI with PYBUILD_ROOT=store_root and returns
    the CompletedProcess (text); `pybuild.inspect(image)` returns the parsed inspect object."""
    return peers.Pybuild(store_root)


@pytest.fixture
def busybox_image(pybuild: peers.Pybuild, busybox_rootfs_tar: Path) -> str:
    """`busybox:latest` imported into this test's store with CMD ["sh"]; its name."""
    return peers.import_base_image(pybuild, busybox_rootfs_tar, peers.base_images.BUSYBOX)


@pytest.fixture(scope="session")
def dockerd() -> Iterator[peers.Dockerd]:
    """A dockerd 20.10 of this session (no bridge, no iptables, own root and socket).
    `dockerd.docker(*args, buildkit=False)` runs docker.io's CLI against it."""
    daemon = peers.Dockerd.start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def docker_busybox(dockerd: peers.Dockerd, busybox_rootfs_tar: Path) -> str:
    """The busybox rootfs in dockerd through docker's own `docker import`, under a name of
    its own so that no test's `docker load` replaces it; the name."""
    name = "pybuild-test/busybox-docker:latest"
    dockerd.docker("import", "--change", 'CMD ["sh"]', busybox_rootfs_tar, name)
    return name


@pytest.fixture(scope="session")
def docker_registry() -> Iterator[peers.Registry]:
    """The CNCF registry on 127.0.0.1:PORT, no auth, deletes enabled."""
    registry = peers.Registry.start()
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def docker_registry_htpasswd() -> Iterator[peers.Registry]:
    """The CNCF registry with htpasswd auth; `.user` and `.password` log in."""
    registry = peers.Registry.start(htpasswd=True)
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def skopeo(tmp_path_factory: pytest.TempPathFactory) -> peers.Skopeo:
    """`skopeo(*args)` with an accept-anything signature policy of its own."""
    return peers.Skopeo(tmp_path_factory.mktemp("skopeo"))


@pytest.fixture(scope="session")
def umoci():
    """`umoci(*args)`; raises with the output when umoci fails."""
    return peers.umoci
