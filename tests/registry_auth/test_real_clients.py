"""docker (through dockerd), skopeo and podman log in to the registry, push and pull
with the rights of their user, and are refused with a wrong password."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

import peers


@pytest.fixture
def docker(dockerd, tmp_path):
    """docker.io's CLI against the session's dockerd with a DOCKER_CONFIG of this test."""
    config = tmp_path / "docker-config"
    config.mkdir()

    def run(*args, check: bool = True, input: str | None = None):
        env = {**dockerd.env(), "DOCKER_CONFIG": str(config)}
        return peers.run([dockerd.clis.debian, *args], env=env, check=check, input=input)

    run.config = config
    return run


def test_docker_logs_in_pushes_its_namespace_and_pulls_back(registry, docker, docker_busybox):
    wrong = docker("login", "-u", "alice", "--password-stdin", registry.address,
                   input="not-her-password", check=False)
    assert wrong.returncode != 0
    assert "unauthorized" in wrong.stderr.lower()

    login = docker("login", "-u", "alice", "--password-stdin", registry.address,
                   input=registry.passwords["alice"])
    assert "Login Succeeded" in login.stdout
    auths = json.loads((docker.config / "config.json").read_text())["auths"]
    # dockerd asked for an offline token: it keeps the refresh token, not the password,
    # and the push below gets its access tokens with the OAuth2 refresh_token grant.
    assert auths[registry.address]["identitytoken"]

    mine = f"{registry.address}/alice/busybox:1"
    docker("tag", docker_busybox, mine)
    docker("push", mine)
    image_id = docker("image", "inspect", "--format", "{{.Id}}", mine).stdout.strip()
    docker("rmi", mine)
    docker("pull", mine)
    assert docker("image", "inspect", "--format", "{{.Id}}", mine).stdout.strip() == image_id
    docker("rmi", mine)

    theirs = f"{registry.address}/root/busybox:1"
    docker("tag", docker_busybox, theirs)
    denied = docker("push", theirs, check=False)
    docker("rmi", theirs)
    assert denied.returncode != 0
    assert "denied" in denied.stderr.lower()


def test_skopeo_reads_with_credentials_and_is_refused_without(registry, skopeo, docker, docker_busybox):
    name = f"{registry.address}/alice/skopeo:1"
    docker("login", "-u", "alice", "--password-stdin", registry.address, input=registry.passwords["alice"])
    docker("tag", docker_busybox, name)
    docker("push", name)
    docker("rmi", name)

    inspect = skopeo("inspect", "--tls-verify=false", "--creds", f"alice:{registry.passwords['alice']}",
                     f"docker://{name}")
    assert json.loads(inspect.stdout)["Name"] == f"{registry.address}/alice/skopeo"
    wrong = skopeo("inspect", "--tls-verify=false", "--creds", "alice:wrong", f"docker://{name}", check=False)
    assert wrong.returncode != 0 and "unauthorized" in wrong.stderr.lower()
    anonymous = skopeo("inspect", "--tls-verify=false", "--no-creds", f"docker://{name}", check=False)
    assert anonymous.returncode != 0


@pytest.fixture
def podman():
    """podman with its own storage and configuration (PEERS.md) and auth file, in a short
    temp path (podman refuses a run root longer than 50 characters)."""
    home = Path(tempfile.mkdtemp(prefix="pbpodman-"))
    (home / "containers.conf").write_text(
        '[containers]\nnetns = "none"\n'
        'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
        '[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n')
    (home / "registries.conf").write_text("unqualified-search-registries = []\n")
    env = {**os.environ, "CONTAINERS_CONF": str(home / "containers.conf"),
           "CONTAINERS_REGISTRIES_CONF": str(home / "registries.conf"),
           "REGISTRY_AUTH_FILE": str(home / "auth.json")}

    def run(*args, check: bool = True):
        return peers.run(["podman", "--root", home / "root", "--runroot", home / "run",
                          "--storage-driver", "vfs", *args], env=env, check=check)

    run.auth_file = home / "auth.json"
    yield run
    shutil.rmtree(home, ignore_errors=True)


def test_podman_logs_in_and_is_refused_with_a_wrong_password(registry, podman):
    wrong = podman("login", "--tls-verify=false", "-u", "bob", "-p", "wrong", registry.address, check=False)
    assert wrong.returncode != 0
    ok = podman("login", "--tls-verify=false", "-u", "alice", "-p", registry.passwords["alice"],
                registry.address)
    assert "Login Succeeded" in ok.stdout
    assert registry.address in json.loads(Path(podman.auth_file).read_text())["auths"]


def test_pybuild_logs_in_with_the_token_flow_and_pushes_its_namespace(registry, pybuild, busybox_image,
                                                                      tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    pybuild("login", registry.address, "-u", "alice", "--password-stdin", "--insecure",
            input=registry.passwords["alice"])
    auth = json.loads((tmp_path / "docker-config" / "config.json").read_text())["auths"][registry.address]
    assert auth["identitytoken"]  # the refresh token, kept instead of the password

    mine = f"{registry.address}/alice/pybuild:1"
    pybuild("tag", busybox_image, mine)
    assert "digest: sha256:" in pybuild("push", "--insecure", mine).stdout
    theirs = f"{registry.address}/bob/pybuild:1"
    pybuild("tag", busybox_image, theirs)
    denied = pybuild("push", "--insecure", theirs, check=False)
    assert denied.returncode != 0 and "denied" in denied.stderr


def test_image_pushed_by_pybuild_pulls_into_docker_and_skopeo_with_its_digest(
        registry, pybuild, busybox_image, docker, skopeo, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "pybuild-config"))
    pybuild("login", registry.address, "-u", "alice", "--password-stdin", "--insecure",
            input=registry.passwords["alice"])
    name = f"{registry.address}/alice/shared:1"
    pybuild("tag", busybox_image, name)
    pushed = pybuild("push", "--insecure", name).stdout
    digest = pushed.split("digest: ")[1].split()[0]

    docker("login", "-u", "alice", "--password-stdin", registry.address, input=registry.passwords["alice"])
    docker("pull", name)
    repo_digests = docker("image", "inspect", "--format", "{{json .RepoDigests}}", name).stdout
    docker("rmi", name)
    assert f"{registry.address}/alice/shared@{digest}" in json.loads(repo_digests)

    inspect = skopeo("inspect", "--tls-verify=false", "--creds", f"alice:{registry.passwords['alice']}",
                     f"docker://{name}")
    assert json.loads(inspect.stdout)["Digest"] == digest
