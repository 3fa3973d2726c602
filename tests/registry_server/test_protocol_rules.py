"""The pure protocol rules of the server, fed data directly: names, tags, references,
Content-Range, pagination, routing, content negotiation and manifest inspection."""

from __future__ import annotations

import json

import pytest

from registry_server import manifests, uploads
from registry_server.app import resolve
from registry_server.errors import Err, RegistryError
from registry_server.names import parse_reference, validate_name
from registry_server.pagination import Page, next_link, parse_page
from registry_server.ranges import parse_content_range, range_header

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize("name", ["a", "library/ubuntu", "a.b_c__d---e/f0", "x" * 255])
def test_spec_names_are_accepted(name):
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "a/../b", "..", "a/./b", "a//b", "/a", "a/", "a..b",
                                  "-a", "a-", "a___b", "x" * 256, "a b", "a:b"])
def test_names_breaking_the_spec_are_name_invalid(name):
    with pytest.raises(RegistryError) as exc:
        validate_name(name)
    assert exc.value.err is Err.NAME_INVALID


def test_a_reference_is_a_tag_or_a_digest():
    assert parse_reference("v1.0_rc-1") == ("v1.0_rc-1", None)
    assert parse_reference(DIGEST) == (None, DIGEST)
    with pytest.raises(RegistryError) as exc:
        parse_reference("sha256:abc")
    assert exc.value.err is Err.DIGEST_INVALID
    with pytest.raises(RegistryError) as exc:
        parse_reference("-v1")
    assert exc.value.err is Err.TAG_INVALID


@pytest.mark.parametrize("value,expected", [("0-9", (0, 9)), ("bytes 10-19/20", (10, 19)),
                                            ("bytes=5-5", (5, 5)), (" 0-0 ", (0, 0))])
def test_content_range_forms_clients_send(value, expected):
    assert parse_content_range(value) == expected


@pytest.mark.parametrize("value", ["", "0-", "-1", "9-0", "a-b", "0-9-10", "1" * 25 + "-2"])
def test_malformed_content_range_is_416(value):
    with pytest.raises(RegistryError) as exc:
        parse_content_range(value)
    assert exc.value.err.status == 416


def test_range_header_of_an_upload():
    assert range_header(0) == "0-0"
    assert range_header(10) == "0-9"


def test_pagination_link_points_after_the_last_item_and_never_for_n_zero():
    assert parse_page({"n": "2", "last": "a"}) == Page(2, "a")
    assert next_link("/v2/x/tags/list", Page(2, None), ["a", "b"], more=True) == \
        '</v2/x/tags/list?n=2&last=b>; rel="next"'
    assert next_link("/v2/x/tags/list", Page(2, None), ["a", "b"], more=False) is None
    assert next_link("/v2/x/tags/list", Page(0, None), [], more=True) is None
    for bad in ("-1", "x", "1e3", "9" * 20):
        with pytest.raises(RegistryError):
            parse_page({"n": bad})


def test_routes_find_the_resource_from_the_end_of_names_with_slashes():
    assert resolve("/v2/a/blobs/uploads/", "POST") == (uploads.start_upload, {"name": "a"})
    handler, params = resolve("/v2/a/blobs/b/blobs/uploads/0123", "PATCH")
    assert handler is uploads.patch_upload and params == {"name": "a/blobs/b", "upload_id": "0123"}
    handler, params = resolve("/v2/org/manifests/manifests/v1", "GET")
    assert handler is manifests.get_manifest and params == {"name": "org/manifests", "reference": "v1"}
    with pytest.raises(RegistryError) as exc:
        resolve("/v2/a/manifests/v1", "POST")
    assert exc.value.err is Err.METHOD_NOT_ALLOWED and "PUT" in exc.value.headers["Allow"]
    with pytest.raises(RegistryError) as exc:
        resolve("/v2/a/../b/tags/list", "GET")
    assert exc.value.err is Err.NAME_INVALID


def test_content_negotiation():
    oci = manifests.mediatypes.OCI_MANIFEST
    docker = manifests.mediatypes.DOCKER_MANIFEST
    assert manifests.accepts([], oci)
    assert manifests.accepts(["application/json"], oci)
    assert manifests.accepts([f"{docker}, {oci};q=0.5"], oci)
    assert manifests.accepts([docker, "*/*"], oci)
    assert not manifests.accepts([docker], oci)


def test_inspect_manifest_lists_what_must_exist_and_the_referrers_facts():
    config = "sha256:" + "c" * 64
    layer = "sha256:" + "d" * 64
    foreign = "sha256:" + "e" * 64
    body = json.dumps({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.example.cfg", "digest": config, "size": 1},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 1},
            {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
             "digest": foreign, "size": 1, "urls": ["https://example.com/l"]}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": DIGEST,
                    "size": 9}}).encode()
    facts = manifests.inspect_manifest(body, "application/vnd.oci.image.manifest.v1+json")
    assert facts.blobs == [config, layer]
    assert facts.subject == DIGEST
    assert facts.artifact_type == "application/vnd.example.cfg"
    assert facts.media_type == "application/vnd.oci.image.manifest.v1+json"


def test_inspect_manifest_refuses_a_content_type_that_contradicts_the_body():
    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": []}).encode()
    with pytest.raises(RegistryError) as exc:
        manifests.inspect_manifest(body, "application/vnd.oci.image.manifest.v1+json")
    assert exc.value.err is Err.MANIFEST_INVALID
