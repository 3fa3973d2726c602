"""Images move between pybuild and a real dockerd in both directions unchanged."""

import json
from pathlib import Path

import pytest

import peers

DOCKERFILE = """\
FROM {base}
RUN echo built-by-docker > /hello && mkdir -p /data/sub && ln -s /hello /data/link
ENV GREETING=hi PATH=/usr/bin:/bin
WORKDIR /data
CMD ["cat", "/hello"]
"""


def test_image_saved_by_pybuild_loads_and_runs_in_docker(
        pybuild: peers.Pybuild, busybox_image: str, dockerd: peers.Dockerd, tmp_path: Path):
    archive = tmp_path / "busybox.tar"
    pybuild("save", "-o", archive, busybox_image)

    loaded = dockerd.docker("load", "-i", archive).stdout
    ran = dockerd.docker("run", "--rm", "--network", "none", "busybox", "echo", "ok")

    assert "Loaded image: busybox:latest" in loaded
    assert ran.stdout == "ok\n"
    assert dockerd.image_id("busybox") == pybuild.inspect("busybox")["Id"]


def test_image_saved_by_pybuild_keeps_its_default_command_in_docker(
        pybuild: peers.Pybuild, busybox_image: str, dockerd: peers.Dockerd, tmp_path: Path):
    pybuild("tag", busybox_image, "pybuild-test/cmd:1")
    archive = tmp_path / "cmd.tar"
    pybuild("save", "-o", archive, "pybuild-test/cmd:1")
    dockerd.docker("load", "-i", archive)

    ran = dockerd.docker("run", "--rm", "--network", "none", "-i", "pybuild-test/cmd:1",
                         input="echo from-default-shell\n")

    assert ran.stdout == "from-default-shell\n"


@pytest.mark.parametrize("buildkit", [False, True], ids=["legacy-builder", "buildkit"])
def test_image_built_and_saved_by_docker_loads_with_the_same_id(
        pybuild: peers.Pybuild, dockerd: peers.Dockerd, docker_busybox: str, tmp_path: Path,
        buildkit: bool):
    name = f"pybuild-test/built-{'buildkit' if buildkit else 'legacy'}:1"
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=docker_busybox))
    dockerd.docker("build", "--network", "none", "-t", name, context, buildkit=buildkit)
    archive = tmp_path / "built.tar"
    dockerd.docker("save", "-o", archive, name)
    docker_view = json.loads(dockerd.docker("image", "inspect", name).stdout)[0]

    loaded = pybuild("load", "-i", archive)
    ours = pybuild.inspect(name)

    assert f"Loaded image: {name}" in loaded.stdout
    assert ours["Id"] == docker_view["Id"]
    assert ours["RepoTags"] == [name]
    assert ours["RootFS"]["Layers"] == docker_view["RootFS"]["Layers"]
    assert ours["Config"]["Cmd"] == ["cat", "/hello"]
    assert "GREETING=hi" in ours["Config"]["Env"]
    assert ours["Config"]["WorkingDir"] == "/data"


def test_image_from_docker_goes_back_to_docker_with_the_same_id(
        pybuild: peers.Pybuild, dockerd: peers.Dockerd, docker_busybox: str, tmp_path: Path):
    name = "pybuild-test/round-trip:1"
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=docker_busybox))
    dockerd.docker("build", "--network", "none", "-t", name, context)
    original = dockerd.image_id(name)
    dockerd.docker("save", "-o", tmp_path / "from-docker.tar", name)
    pybuild("load", "-i", tmp_path / "from-docker.tar")
    pybuild("save", "-o", tmp_path / "from-pybuild.tar", name)
    dockerd.docker("rmi", name)

    dockerd.docker("load", "-i", tmp_path / "from-pybuild.tar")

    assert dockerd.image_id(name) == original
    ran = dockerd.docker("run", "--rm", "--network", "none", name)
    assert ran.stdout == "built-by-docker\n"
