"""The other configurations: Basic auth only, and anonymous pulls of public repositories."""

from __future__ import annotations

import requests

from authtest import start_auth_server, stop_auth_server

ZERO = "sha256:" + "0" * 64


def test_basic_mode_challenges_with_basic_and_has_no_token_endpoint(tmp_path):
    server = start_auth_server(tmp_path / "root", mode="basic")
    try:
        r = requests.get(f"{server.url}/v2/")
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == 'Basic realm="pybuild-registry"'
        assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
        alice = ("alice", server.passwords["alice"])
        assert requests.get(f"{server.url}/v2/", auth=alice).status_code == 200
        assert requests.get(f"{server.url}/token", auth=alice).status_code == 404
        r = requests.post(f"{server.url}/v2/bob/app/blobs/uploads/", auth=alice)
        assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"
        assert requests.post(f"{server.url}/v2/alice/app/blobs/uploads/", auth=alice).status_code == 202
    finally:
        stop_auth_server(server)


def test_anonymous_clients_pull_public_repositories_when_allowed(tmp_path):
    server = start_auth_server(tmp_path / "root", anonymous_pull="true", public="library/*")
    try:
        # Past authentication: the blob is simply unknown.
        r = requests.head(f"{server.url}/v2/library/busybox/blobs/{ZERO}")
        assert r.status_code == 404
        token = requests.get(f"{server.url}/token",
                             params={"scope": "repository:library/busybox:pull,push"}).json()["token"]
        r = requests.get(f"{server.url}/v2/library/busybox/tags/list",
                         headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NAME_UNKNOWN"
        r = requests.post(f"{server.url}/v2/library/busybox/blobs/uploads/",
                          headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401  # anonymous: may not push, logging in may help
        assert requests.head(f"{server.url}/v2/alice/app/blobs/{ZERO}").status_code == 401
        assert requests.get(f"{server.url}/v2/").status_code == 401
    finally:
        stop_auth_server(server)
