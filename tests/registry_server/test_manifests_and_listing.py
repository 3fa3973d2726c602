"""Manifests (push, pull, content negotiation, deletion), tags and catalog listing with
pagination, the referrers API, and the name/tag rules, against the real server."""

from __future__ import annotations

import hashlib
import json
import socket

import requests

from regtest import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, sha256

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def error_code(response: requests.Response) -> str:
    return response.json()["errors"][0]["code"]


def test_manifest_round_trip_by_tag_and_digest_keeps_the_bytes(registry):
    body, digest = registry.push_image("app/web", "v1", [b"layer one", b"layer two"])
    for reference in ("v1", digest):
        r = requests.get(f"{registry.url}/v2/app/web/manifests/{reference}",
                         headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200
        assert r.content == body
        assert r.headers["Content-Type"] == OCI_MANIFEST
        assert r.headers["Docker-Content-Digest"] == digest
        head = requests.head(f"{registry.url}/v2/app/web/manifests/{reference}")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["Content-Length"] == str(len(body))
        assert head.headers["Docker-Content-Digest"] == digest


def test_manifest_put_answers_location_and_digest(registry):
    config = registry.push_blob("app/put", b"{}")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": config, "size": 2},
                           "layers": []}).encode()
    r = registry.push_manifest("app/put", "latest", manifest)
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/app/put/manifests/{sha256(manifest)}"
    assert r.headers["Docker-Content-Digest"] == sha256(manifest)


def test_docker_schema2_manifest_and_list_are_served_with_their_types(registry):
    config = registry.push_blob("docker/img", b'{"architecture":"amd64","os":"linux"}')
    layer = registry.push_blob("docker/img", b"gzipped layer bytes")
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "digest": config, "size": 37},
        "layers": [{"mediaType": DOCKER_LAYER, "digest": layer, "size": 19}]}).encode()
    assert registry.push_manifest("docker/img", "amd64", manifest, DOCKER_MANIFEST).status_code == 201
    index = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
        {"mediaType": DOCKER_MANIFEST, "digest": sha256(manifest), "size": len(manifest),
         "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()
    assert registry.push_manifest("docker/img", "latest", index, DOCKER_LIST).status_code == 201

    r = requests.get(f"{registry.url}/v2/docker/img/manifests/latest",
                     headers={"Accept": f"{DOCKER_MANIFEST}, {DOCKER_LIST}"})
    assert r.headers["Content-Type"] == DOCKER_LIST and r.content == index
    r = requests.get(f"{registry.url}/v2/docker/img/manifests/amd64")
    assert r.headers["Content-Type"] == DOCKER_MANIFEST and r.content == manifest


def test_a_client_that_does_not_accept_the_stored_type_gets_404(registry):
    registry.push_image("negotiation/app", "v1", [b"x"])
    r = requests.get(f"{registry.url}/v2/negotiation/app/manifests/v1",
                     headers={"Accept": DOCKER_MANIFEST})
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    r = requests.get(f"{registry.url}/v2/negotiation/app/manifests/v1", headers={"Accept": "*/*"})
    assert r.status_code == 200


def test_put_with_tag_query_tags_a_manifest_pushed_by_digest(registry):
    config = registry.push_blob("tagged/app", b"{}")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": config, "size": 2},
                           "layers": []}).encode()
    r = requests.put(f"{registry.url}/v2/tagged/app/manifests/{sha256(manifest)}?tag=a&tag=b",
                     data=manifest, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201
    assert r.headers.get("OCI-Tag") == "a, b"
    tags = requests.get(f"{registry.url}/v2/tagged/app/tags/list").json()["tags"]
    assert tags == ["a", "b"]


def test_manifest_referencing_a_missing_blob_is_manifest_blob_unknown(registry):
    missing = sha256(b"not uploaded")
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": missing, "size": 12}, "layers": []}
    r = registry.push_manifest("missing/blob", "v1", manifest)
    assert r.status_code == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    assert missing in r.text


def test_index_referencing_a_missing_manifest_is_manifest_blob_unknown(registry):
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha256(b"absent manifest"), "size": 15}]}
    r = registry.push_manifest("missing/child", "v1", index, OCI_INDEX)
    assert r.status_code == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"


def test_invalid_manifests_are_manifest_invalid(registry):
    config = registry.push_blob("invalid/m", b"{}")
    good = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config, "size": 2}, "layers": []}
    bad_bodies = [
        b"not json", b"[1, 2]", b"[" * 100_000 + b"]" * 100_000,
        json.dumps({**good, "schemaVersion": 1}).encode(),
        json.dumps({**good, "config": {"mediaType": OCI_CONFIG, "digest": "sha256:zz", "size": 2}}).encode(),
        json.dumps({**good, "layers": "nope"}).encode(),
        json.dumps({**good, "mediaType": OCI_INDEX}).encode(),
    ]
    for body in bad_bodies:
        r = registry.push_manifest("invalid/m", "v1", body)
        assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID", body[:80]


def test_manifest_over_4_mib_is_413(registry):
    body = b'{"schemaVersion": 2, "pad": "' + b"x" * (4 << 20) + b'"}'
    r = registry.push_manifest("big/manifest", "v1", body)
    assert r.status_code == 413 and error_code(r) == "SIZE_INVALID"


def test_put_by_digest_that_does_not_match_the_body_is_digest_invalid(registry):
    config = registry.push_blob("mismatch/m", b"{}")
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config, "size": 2}, "layers": []}
    r = registry.push_manifest("mismatch/m", sha256(b"other"), manifest)
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"


def test_delete_tag_keeps_the_manifest_and_delete_digest_removes_it_and_its_tags(registry):
    _, digest = registry.push_image("delete/app", "v1", [b"a"])
    requests.put(f"{registry.url}/v2/delete/app/manifests/v2",
                 data=requests.get(f"{registry.url}/v2/delete/app/manifests/v1").content,
                 headers={"Content-Type": OCI_MANIFEST})

    assert requests.delete(f"{registry.url}/v2/delete/app/manifests/v1").status_code == 202
    r = requests.get(f"{registry.url}/v2/delete/app/manifests/v1")
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    assert requests.get(f"{registry.url}/v2/delete/app/manifests/{digest}").status_code == 200

    assert requests.delete(f"{registry.url}/v2/delete/app/manifests/{digest}").status_code == 202
    assert requests.get(f"{registry.url}/v2/delete/app/manifests/{digest}").status_code == 404
    assert requests.get(f"{registry.url}/v2/delete/app/manifests/v2").status_code == 404
    r = requests.delete(f"{registry.url}/v2/delete/app/manifests/{digest}")
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"


def test_tags_list_paginates_with_n_last_and_link(registry):
    _, digest = registry.push_image("paged/app", "t0", [b"p"])
    body = requests.get(f"{registry.url}/v2/paged/app/manifests/t0").content
    for tag in ("b", "a", "C", "t1"):
        registry.push_manifest("paged/app", tag, body)
    url = f"{registry.url}/v2/paged/app/tags/list"
    assert requests.get(url).json() == {"name": "paged/app", "tags": ["C", "a", "b", "t0", "t1"]}

    r = requests.get(url, params={"n": 2})
    assert r.json()["tags"] == ["C", "a"]
    assert r.headers["Link"] == '</v2/paged/app/tags/list?n=2&last=a>; rel="next"'
    r = requests.get(f"{registry.url}/v2/paged/app/tags/list?n=2&last=a")
    assert r.json()["tags"] == ["b", "t0"]
    r = requests.get(url, params={"n": 2, "last": "t0"})
    assert r.json()["tags"] == ["t1"] and "Link" not in r.headers
    r = requests.get(url, params={"n": 0})
    assert r.json()["tags"] == [] and "Link" not in r.headers
    assert requests.get(url, params={"last": "b"}).json()["tags"] == ["t0", "t1"]
    r = requests.get(url, params={"n": "-1"})
    assert r.status_code == 400


def test_tags_of_an_unknown_repository_is_name_unknown(registry):
    r = requests.get(f"{registry.url}/v2/no/such/repo/tags/list")
    assert r.status_code == 404 and error_code(r) == "NAME_UNKNOWN"


def test_catalog_lists_repositories_with_pagination(registry):
    for name in ("catalog/b", "catalog/a", "catalog/c"):
        registry.push_image(name, "v1", [b"c"])
    names = requests.get(f"{registry.url}/v2/_catalog").json()["repositories"]
    assert [n for n in names if n.startswith("catalog/")] == ["catalog/a", "catalog/b", "catalog/c"]
    assert names == sorted(names)
    r = requests.get(f"{registry.url}/v2/_catalog", params={"n": 1, "last": "catalog/a"})
    assert r.json() == {"repositories": ["catalog/b"]}
    assert r.headers["Link"] == '</v2/_catalog?n=1&last=catalog%2Fb>; rel="next"'


def test_referrers_lists_manifests_with_that_subject_and_filters_by_artifact_type(registry):
    subject_body, subject = registry.push_image("refs/app", "v1", [b"subject layer"])
    subject_descriptor = {"mediaType": OCI_MANIFEST, "digest": subject, "size": len(subject_body)}
    empty = registry.push_blob("refs/app", b"{}")
    sig = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.sig",
           "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
           "layers": [], "subject": subject_descriptor, "annotations": {"org.example": "yes"}}
    sig_body = json.dumps(sig).encode()
    r = registry.push_manifest("refs/app", sha256(sig_body), sig_body)
    assert r.status_code == 201 and r.headers["OCI-Subject"] == subject
    sbom_config = registry.push_blob("refs/app", b'{"sbom": true}')
    sbom = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.example.sbom", "digest": sbom_config, "size": 14},
            "layers": [], "subject": subject_descriptor}
    sbom_body = json.dumps(sbom).encode()
    assert registry.push_manifest("refs/app", sha256(sbom_body), sbom_body).status_code == 201

    r = requests.get(f"{registry.url}/v2/refs/app/referrers/{subject}")
    assert r.status_code == 200 and r.headers["Content-Type"] == OCI_INDEX
    assert "OCI-Filters-Applied" not in r.headers
    index = r.json()
    assert index["schemaVersion"] == 2 and index["mediaType"] == OCI_INDEX
    by_digest = {d["digest"]: d for d in index["manifests"]}
    assert by_digest[sha256(sig_body)] == {
        "mediaType": OCI_MANIFEST, "digest": sha256(sig_body), "size": len(sig_body),
        "artifactType": "application/vnd.example.sig", "annotations": {"org.example": "yes"}}
    assert by_digest[sha256(sbom_body)]["artifactType"] == "application/vnd.example.sbom"

    r = requests.get(f"{registry.url}/v2/refs/app/referrers/{subject}",
                     params={"artifactType": "application/vnd.example.sbom"})
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in r.json()["manifests"]] == [sha256(sbom_body)]


def test_referrers_of_an_unknown_subject_is_an_empty_index_and_bad_digest_is_400(registry):
    r = requests.get(f"{registry.url}/v2/refs/none/referrers/{sha256(b'nothing')}")
    assert r.status_code == 200 and r.json()["manifests"] == []
    r = requests.get(f"{registry.url}/v2/refs/none/referrers/sha256:nope")
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"


def raw_get(registry, path: str) -> tuple[int, bytes]:
    """A GET whose path goes on the wire exactly as given (clients normalise `..`)."""
    host, port = registry.address.split(":")
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_invalid_repository_names_are_name_invalid(registry):
    for path in ("/v2/a/../b/tags/list", "/v2/Upper/tags/list", "/v2/a//b/tags/list",
                 "/v2/-a/tags/list", "/v2/a./tags/list", "/v2/a%2F..%2Fb/manifests/v1",
                 "/v2/" + "a" * 256 + "/tags/list", "/v2/./blobs/" + sha256(b"x")):
        status, body = raw_get(registry, path)
        assert status == 400, path
        assert json.loads(body)["errors"][0]["code"] == "NAME_INVALID", path


def test_invalid_tags_are_tag_invalid(registry):
    for tag in (".hidden", "-dash", "a" * 129, "t%20t"):
        r = requests.get(f"{registry.url}/v2/some/app/manifests/{tag}")
        assert r.status_code == 400 and error_code(r) == "TAG_INVALID", tag


def test_unknown_endpoints_and_methods_get_spec_errors(registry):
    r = requests.get(f"{registry.url}/v2/some/app/nothing/here")
    assert r.status_code == 404 and error_code(r) == "UNSUPPORTED"
    r = requests.post(f"{registry.url}/v2/some/app/manifests/v1")
    assert r.status_code == 405 and "PUT" in r.headers["Allow"]


def test_manifest_pushed_by_sha512_digest_is_served_under_it(registry):
    config = registry.push_blob("sha512/app", b"{}")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": config, "size": 2},
                           "layers": []}).encode()
    digest = "sha512:" + hashlib.sha512(manifest).hexdigest()
    r = requests.put(f"{registry.url}/v2/sha512/app/manifests/{digest}?tag=latest", data=manifest,
                     headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201 and r.headers["Docker-Content-Digest"] == digest
    r = requests.get(f"{registry.url}/v2/sha512/app/manifests/latest")
    assert r.content == manifest and r.headers["Docker-Content-Digest"] == digest
