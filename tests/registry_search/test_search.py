"""`GET /v1/search` in Docker Hub's format: relevance ranking, descriptions from the
image label (editable), stars, pagination and visibility; `docker search` and
`podman search` list the results."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import requests

import peers
from authtest import start_auth_server, stop_auth_server
from searchtest import push_image


@pytest.fixture(scope="module")
def pushed(registry):
    for name, description in [("team/cache", "a redis cache in front of the api"),
                              ("team/myredis", "our fork"),
                              ("team/redis-tools", "cli tools"),
                              ("library/redis", "the official one"),
                              ("redis", None),
                              ("library/nginx", "web server"),
                              ("root/secret-redis", "private")]:
        push_image(registry, name, "latest", description)
    return registry


def search(registry, q: str, auth=None, **params) -> dict:
    r = requests.get(f"{registry.url}/v1/search", params={"q": q, **params}, auth=auth)
    assert r.status_code == 200, r.text
    return r.json()


def names(body: dict) -> list[str]:
    return [result["name"] for result in body["results"]]


def test_results_rank_exact_name_then_prefix_then_substring_then_description(pushed):
    body = search(pushed, "redis", auth=("root", pushed.passwords["root"]))
    assert names(body) == ["redis", "library/redis", "team/redis-tools", "root/secret-redis",
                           "team/myredis", "team/cache"]


def test_the_response_has_docker_hubs_fields(pushed):
    body = search(pushed, "nginx")
    assert body == {"num_results": 1, "query": "nginx", "page": 1, "page_size": 25, "num_pages": 1,
                    "results": [{"name": "library/nginx", "description": "web server",
                                 "star_count": 0, "is_official": True, "is_automated": False}]}


def test_anonymous_clients_see_only_public_repositories(pushed):
    assert names(search(pushed, "redis")) == ["library/redis", "team/redis-tools", "team/myredis",
                                              "team/cache"]
    assert "root/secret-redis" not in names(search(pushed, "redis", auth=("alice", pushed.passwords["alice"])))


def test_pages_split_the_results(pushed):
    auth = ("root", pushed.passwords["root"])
    first = search(pushed, "redis", auth=auth, n=4)
    second = search(pushed, "redis", auth=auth, n=4, page=2)
    assert (first["num_results"], first["num_pages"], first["page_size"]) == (6, 2, 4)
    assert names(first) + names(second) == names(search(pushed, "redis", auth=auth))
    assert second["page"] == 2


def test_short_and_multi_word_queries(pushed):
    assert names(search(pushed, "ng")) == ["library/nginx"]
    assert names(search(pushed, "redis api")) == ["team/cache"]
    assert search(pushed, "no-such-thing")["results"] == []


def test_a_bad_page_size_is_a_spec_error(pushed):
    r = requests.get(f"{pushed.url}/v1/search", params={"q": "x", "n": "many"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "UNSUPPORTED"


def test_the_description_follows_the_latest_tag_until_edited(pushed):
    push_image(pushed, "alice/app", "v1", "first words", user="alice")
    alice = ("alice", pushed.passwords["alice"])
    assert search(pushed, "alice/app", auth=alice)["results"][0]["description"] == "first words"
    push_image(pushed, "alice/app", "latest", "latest words", user="alice")
    assert search(pushed, "alice/app", auth=alice)["results"][0]["description"] == "latest words"

    url = f"{pushed.url}/api/v1/repositories/alice/app"
    assert requests.patch(url, json={"description": "x"}).status_code == 401
    assert requests.patch(url, json={"description": "x"},
                          auth=("bob", pushed.passwords["bob"])).status_code == 404  # bob cannot see it
    r = requests.patch(url, json={"description": "edited by alice"}, auth=alice)
    assert r.status_code == 200 and r.json()["description_edited"] is True
    push_image(pushed, "alice/app", "latest", "newer label", user="alice")
    assert search(pushed, "edited", auth=alice)["results"][0]["description"] == "edited by alice"
    requests.patch(url, json={"description": None}, auth=alice)
    assert search(pushed, "alice/app", auth=alice)["results"][0]["description"] == "newer label"


def test_the_description_of_a_multi_platform_image_comes_from_its_amd64_image(pushed):
    arm = push_image(pushed, "team/multi", "arm", "the arm64 words", architecture="arm64")
    amd = push_image(pushed, "team/multi", "amd", "the amd64 words")
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [arm, amd]}
    r = requests.put(f"{pushed.url}/v2/team/multi/manifests/latest", json=index,
                     auth=("root", pushed.passwords["root"]),
                     headers={"Content-Type": "application/vnd.oci.image.index.v1+json"})
    assert r.status_code == 201, r.text
    assert search(pushed, "team/multi")["results"][0]["description"] == "the amd64 words"


def test_users_star_repositories_and_the_count_shows_in_results(pushed):
    url = f"{pushed.url}/api/v1/repositories/library/nginx/star"
    assert requests.put(url).status_code == 401
    for user in ("alice", "bob", "alice"):
        assert requests.put(url, auth=(user, pushed.passwords[user])).status_code == 200
    assert search(pushed, "nginx")["results"][0]["star_count"] == 2
    r = requests.delete(url, auth=("bob", pushed.passwords["bob"]))
    assert r.json() == {"name": "library/nginx", "star_count": 1, "starred": False}
    info = requests.get(f"{pushed.url}/api/v1/repositories/library/nginx",
                        auth=("alice", pushed.passwords["alice"])).json()
    assert info["starred"] is True and info["star_count"] == 1


def test_docker_search_lists_the_results(pushed, dockerd, tmp_path):
    assert requests.get(f"{pushed.url}/v1/_ping").status_code == 200
    out = dockerd.docker("search", f"{pushed.address}/redis").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL", "AUTOMATED"]
    assert [line.split()[0] for line in lines[1:]] == [
        "library/redis", "team/redis-tools", "team/myredis", "team/cache"]
    assert lines[1].split() == ["library/redis", "the", "official", "one", "0", "[OK]"]

    env = {**dockerd.env(), "DOCKER_CONFIG": str(tmp_path)}
    peers.run([dockerd.clis.debian, "login", "-u", "root", "--password-stdin", pushed.address],
              env=env, input=pushed.passwords["root"])
    out = peers.run([dockerd.clis.debian, "search", f"{pushed.address}/redis"], env=env).stdout
    # Logged in, dockerd sends the credentials and the admin sees private repositories.
    assert [line.split()[0] for line in out.splitlines()[1:3]] == ["redis", "library/redis"]
    assert "root/secret-redis" in out


def test_podman_search_lists_the_results(pushed):
    home = Path(tempfile.mkdtemp(prefix="pbpodman-"))
    try:
        (home / "registries.conf").write_text("unqualified-search-registries = []\n")
        env = {**os.environ, "CONTAINERS_REGISTRIES_CONF": str(home / "registries.conf")}
        out = peers.run(["podman", "--root", home / "root", "--runroot", home / "run",
                         "--storage-driver", "vfs", "search", "--tls-verify=false",
                         f"{pushed.address}/nginx"], env=env).stdout
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert f"{pushed.address}/library/nginx" in out and "web server" in out


def test_a_registry_without_accounts_lists_everything_and_has_no_stars(tmp_path):
    server = start_auth_server(tmp_path / "root", users={})
    try:
        r = requests.put(f"{server.url}/v2/solo/app/manifests/latest", data=b"{}")
        assert r.status_code == 400  # no authentication in the way: the manifest is just invalid
        push_image(server, "solo/app", "latest", "open registry", user=None)
        assert search(server, "solo")["results"][0]["description"] == "open registry"
        r = requests.put(f"{server.url}/api/v1/repositories/solo/app/star")
        assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"
        r = requests.patch(f"{server.url}/api/v1/repositories/solo/app", json={"description": "edited"})
        assert r.status_code == 200 and r.json()["description"] == "edited"
    finally:
        stop_auth_server(server)
