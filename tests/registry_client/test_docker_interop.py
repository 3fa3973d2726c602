"""docker as the other client of the same CNCF registry: images and logins go both ways."""

from __future__ import annotations

import json


def test_pybuild_push_is_pulled_by_docker_with_the_same_digest(pybuild, busybox_image, docker_registry, dockerd):
    target = f"{docker_registry.address}/interop/from-pybuild:v1"
    pybuild("tag", busybox_image, target)
    digest = pybuild("push", "-q", target).stdout.strip()
    dockerd.docker("pull", target)
    repo_digests = json.loads(dockerd.docker("image", "inspect", "--format", "{{json .RepoDigests}}",
                                             target).stdout)
    assert repo_digests == [f"{docker_registry.address}/interop/from-pybuild@{digest}"]
    assert dockerd.image_id(target) == pybuild.inspect(busybox_image)["Id"]


def test_docker_push_is_pulled_and_run_by_pybuild(pybuild, docker_busybox, docker_registry, dockerd):
    target = f"{docker_registry.address}/interop/from-docker:v1"
    dockerd.docker("tag", docker_busybox, target)
    pushed = dockerd.docker("push", target).stdout
    digest = pushed.split("digest: ")[1].split()[0]
    assert f"Digest: {digest}" in pybuild("pull", target).stdout
    assert pybuild.inspect(target)["Id"] == dockerd.image_id(docker_busybox)
    assert pybuild("run", target, "echo", "hello from docker's image").stdout.strip() == "hello from docker's image"


def test_logins_are_shared_with_docker_both_ways(pybuild, busybox_image, docker_registry_htpasswd, dockerd,
                                                 docker_config, monkeypatch):
    registry = docker_registry_htpasswd
    target = f"{registry.address}/interop/login:v1"
    # pybuild logs in; docker (pointed at the same config) pulls with that login.
    pybuild("login", "-u", registry.user, "--password-stdin", registry.address, input=registry.password)
    pybuild("tag", busybox_image, target)
    pybuild("push", target)
    env = {**dockerd.env(), "DOCKER_CONFIG": str(docker_config)}
    from peers import run

    run([dockerd.clis.debian, "pull", target], env=env)
    # docker logs in to its own config; pybuild uses that login.
    dockerd.docker("login", "-u", registry.user, "--password-stdin", registry.address, input=registry.password)
    monkeypatch.setenv("DOCKER_CONFIG", dockerd.env()["DOCKER_CONFIG"])
    other = type(pybuild)(pybuild.root.parent / "other-store")
    assert "Downloaded newer image" in other("pull", target).stdout
