"""`pybuild search` with the login of docker's config.json, against our server in token
mode: a private repository shows up for the user who may pull it, and only after login
(the server lists nothing to anonymous clients unless anonymous pulls are on)."""

from __future__ import annotations

import json

from registry_client.credentials import Credentials, DockerConfig


def login(pybuild, server, user: str) -> None:
    pybuild("login", "-u", user, "--password-stdin", server.address, input=server.passwords[user] + "\n")


def names(pybuild, server, term: str) -> list[str]:
    out = pybuild("search", "--format", "{{.Name}}", f"{server.address}/{term}").stdout
    return out.split()


def test_search_lists_a_private_repository_only_after_login(pybuild, busybox_image, token_mode_server,
                                                             docker_config):
    server = token_mode_server
    login(pybuild, server, "root")
    # The token server gave login a refresh token: search trades it for a Bearer token.
    assert json.loads((docker_config / "config.json").read_text())["auths"][server.address]["identitytoken"]
    for name in ("root/hidden-search", "library/hidden-search"):
        pybuild("tag", busybox_image, f"{server.address}/{name}:1")
        pybuild("push", f"{server.address}/{name}:1")
    assert sorted(names(pybuild, server, "hidden-search")) == ["library/hidden-search", "root/hidden-search"]
    pybuild("logout", server.address)
    assert names(pybuild, server, "hidden-search") == []  # anonymous pulls are off
    login(pybuild, server, "alice")
    assert names(pybuild, server, "hidden-search") == ["library/hidden-search"]


def test_search_sends_a_stored_password_as_basic(pybuild, busybox_image, token_mode_server, docker_config):
    server = token_mode_server
    login(pybuild, server, "root")
    pybuild("tag", busybox_image, f"{server.address}/root/basic-search:1")
    pybuild("push", f"{server.address}/root/basic-search:1")
    # A `docker login` against a Basic registry leaves the password in config.json.
    (docker_config / "config.json").unlink()
    DockerConfig(docker_config).store(server.address, Credentials("root", server.passwords["root"]))
    assert names(pybuild, server, "basic-search") == ["root/basic-search"]


def test_search_with_a_wrong_stored_password_is_one_unauthorized_line(pybuild, token_mode_server, docker_config):
    server = token_mode_server
    DockerConfig(docker_config).store(server.address, Credentials("root", "not-the-password"))
    result = pybuild("search", f"{server.address}/anything", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: unauthorized") and len(result.stderr.strip().splitlines()) == 1
