"""Reference parsing against the docker CLI itself: current docker CLIs parse a `pull`
argument before they contact any daemon, so with DOCKER_HOST pointing nowhere the CLI
either refuses the reference (printing distribution/reference's message) or tries to
connect (the reference was valid). No daemon is started or reached."""

import subprocess

import pytest

from oci.errors import InvalidReference
from oci.reference import parse_reference

from peers import DockerCLIs

F64 = "f" * 64

CASES = [
    "nginx", "NGINX", "docker/Docker", "Foo/bar", "FOO/bar", "[::1]:5000/x:t", "[fe80::1%eth0]:5000/x",
    "[2001:db8::1]", "[2001:db8::1]/repo", "a@sha256:abc", "a/" * 128 + "a", "a/" * 127 + "a",
    "example.com/" + "a/" * 127 + "a", ":x", "nginx:-x", "nginx:" + "t" * 128, "nginx:" + "t" * 129,
    "1" * 64, "1" * 63, f"repo@sha256:{'f' * 34}", f"repo@sha256:{F64.upper()}",
    f"validname@invaliddigest:{F64}", f"repo@sha384:{F64}", f"repo@sha512:{'f' * 128}",
    "docker.io/", "Uppercase:tag", "a:b:c", "localhost:5000/a/b:t", "index.docker.io/x",
    "test:5000/Uppercase/lowercase:tag", "dock__er/x", "dock___er/x", "a--b/c", "a-/b", "a/b.",
    "xn--n3h.com/myimage:xn--n3h.com", "foo_bar.com:8080", "192.168.1.1:5000/repo:5050",
    "sub-dom1.foo.com/bar/baz/quux:some-long-tag", "-x/y", "x/-y", "x//y", "x y", "x\ty",
    "nginx@" + "sha256:" + F64, "busybox:latest@sha256:" + F64, "café", "tag:é",
    "foo_bar.com/x", "Foo_bar/x", "a_b:5000/c",
]


def docker_verdict(cli, reference: str) -> str | None:
    """None if docker accepts the reference, else its error message."""
    result = subprocess.run(
        [cli, "pull", "--", reference], capture_output=True, text=True, timeout=30,
        env={"DOCKER_HOST": "unix:///nonexistent/pybuild-test.sock", "PATH": "/usr/bin:/bin",
             "HOME": "/nonexistent"},
    )
    output = (result.stdout + result.stderr).strip()
    if "Cannot connect to the Docker daemon" in output:
        return None
    assert result.returncode != 0, output
    return output.splitlines()[-1]


@pytest.fixture(scope="module")
def docker_cli():
    return DockerCLIs.find().newest


@pytest.mark.parametrize("reference", CASES)
def test_accepts_and_refuses_what_the_docker_cli_does(docker_cli, reference):
    expected = docker_verdict(docker_cli, reference)
    if expected is None:
        parse_reference(reference)
    else:
        with pytest.raises(InvalidReference) as info:
            parse_reference(reference)
        assert str(info.value).startswith(expected)
