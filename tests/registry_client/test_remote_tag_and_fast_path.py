"""`pybuild tag --remote`, the hand-parsed fast path of `push`/`pull`, and a download
whose sink fails while the writer thread holds it."""

from __future__ import annotations

import errno
import io
import json
import os

import pytest

from oci.digest import digest_bytes
from oci.manifest import Descriptor
from registry_client.client import RegistryClient
from registry_client.transport import Options

FAST = Options(backoff=0.05, max_backoff=2)


def test_remote_tag_retags_in_the_registry_without_the_store(pybuild, busybox_image, docker_registry, repo,
                                                             skopeo, tmp_path):
    source = f"{docker_registry.address}/{repo}:v1"
    pybuild("tag", busybox_image, source)
    digest = pybuild("push", "-q", source).stdout.strip()
    empty = type(pybuild)(tmp_path / "empty-store")
    empty("tag", "--remote", source, f"{docker_registry.address}/{repo}:v2")
    empty("tag", "--remote", source, f"{docker_registry.address}/{repo}-other:v3")
    assert empty("ls", f"{docker_registry.address}/{repo}").stdout.split() == ["v1", "v2"]
    for target in (f"{repo}:v2", f"{repo}-other:v3"):
        inspected = json.loads(skopeo("inspect", "--tls-verify=false",
                                      f"docker://{docker_registry.address}/{target}").stdout)
        assert inspected["Digest"] == digest
    assert empty("images", "-q").stdout.strip() == ""


def test_remote_tag_of_a_missing_image_names_it_in_one_line(pybuild, docker_registry, repo):
    missing = f"{docker_registry.address}/{repo}:nope"
    result = pybuild("tag", "--remote", missing, f"{docker_registry.address}/{repo}:v2", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"Error: {missing}: manifest unknown: manifest unknown"]


def test_fast_path_knows_exactly_the_flags_of_the_typer_commands():
    import typer

    from pybuild.commands import registry_client as commands

    group = typer.main.get_command(commands.app)
    for name in ("push", "pull"):
        typer_flags = {opt for param in group.commands[name].params for opt in param.opts if opt.startswith("-")}
        assert typer_flags == set(commands._FAST_FLAGS[name]), name


@pytest.mark.parametrize("args, parsed", [
    (["-q", "reg:5000/a:1"], {"image": "reg:5000/a:1", "quiet": True}),
    (["reg:5000/a:1", "--platform=linux/arm64"], {"image": "reg:5000/a:1", "platform": "linux/arm64"}),
    (["--help"], None),
    (["--platform"], None),
    (["a", "b"], None),
    (["--quiet=yes", "a"], None),
])
def test_fast_path_parses_the_usual_pull_and_declines_the_rest(args, parsed):
    from pybuild.commands.registry_client import parse_fast_args

    assert parse_fast_args("pull", args) == parsed


class FullDisk(io.RawIOBase):
    def __init__(self) -> None:
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.size >= 1 << 20:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.size += len(data)
        return len(data)


def test_sink_failing_in_the_middle_of_a_download_raises_its_error(docker_registry, repo):
    data = os.urandom(8 << 20)
    digest = digest_bytes(data)
    with RegistryClient(docker_registry.address, FAST) as client:
        client.upload_blob(repo, digest, len(data), lambda: io.BytesIO(data))
        with pytest.raises(OSError, match="No space left"):
            client.fetch_blob(repo, Descriptor("application/octet-stream", digest, len(data)), FullDisk())
