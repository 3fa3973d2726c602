"""The sans-IO protocol rules, fed with the strings registries really send."""

import json

import pytest

from registry_client import protocol
from registry_client.auth import parse_token_response
from registry_client.platforms import PlatformSpec, parse_platform, select_manifest
from registry_client.search import (SearchFilters, apply_filters, catalog_matches, parse_filters,
                                    results_from_v1, split_term)
from oci.errors import UserError
from oci.manifest import Index


def test_docker_hub_bearer_challenge_is_read_with_all_params():
    header = ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
              'scope="repository:library/busybox:pull"')
    [challenge] = protocol.parse_www_authenticate(header)
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.docker.io/token"
    assert challenge.service == "registry.docker.io"
    assert challenge.scope == "repository:library/busybox:pull"


def test_cncf_basic_challenge_and_unquoted_or_escaped_values():
    assert protocol.parse_www_authenticate('Basic realm="pybuild-test"') == [
        protocol.Challenge("basic", {"realm": "pybuild-test"})]
    [c] = protocol.parse_www_authenticate('Bearer Realm=http://h/t, error="invalid_token", x="a\\"b"')
    assert c.params == {"realm": "http://h/t", "error": "invalid_token", "x": 'a"b'}


def test_two_challenges_in_one_header_are_both_seen():
    header = 'Basic realm="r1", Bearer realm="https://t/token",service="s"'
    assert [c.scheme for c in protocol.parse_www_authenticate(header)] == ["basic", "bearer"]


def test_scopes_of_one_repository_merge_into_one_sorted_scope():
    scopes = [protocol.repository_scope("b/app", "push"), protocol.repository_scope("b/app", "pull"),
              protocol.repository_scope("a/base", "pull"), "registry:catalog:*"]
    assert protocol.merge_scopes(scopes) == [
        "registry:catalog:*", "repository:a/base:pull", "repository:b/app:pull,push"]
    assert protocol.repository_scope("x", "pull", "push", "pull") == "repository:x:pull,push"


def test_content_range_parses_and_rejects_inconsistent_ranges():
    assert protocol.parse_content_range("bytes 100-199/1000") == protocol.ContentRange(100, 199, 1000)
    assert protocol.parse_content_range("bytes 0-0/*").total is None
    for bad in ("bytes 5-4/10", "bytes 0-10/10", "0-9/10", "bytes a-b/c"):
        with pytest.raises(ValueError):
            protocol.parse_content_range(bad)


def test_upload_ranges_follow_the_distribution_spec_form():
    assert protocol.upload_content_range(0, 1024) == "0-1023"
    assert protocol.upload_content_range(1024, 1) == "1024-1024"
    assert protocol.upload_offset("0-1023") == 1024
    assert protocol.upload_offset("0-0") == 0
    assert protocol.upload_offset(None) == 0
    assert protocol.range_header(4096) == "bytes=4096-"


def test_next_link_is_resolved_against_the_request_url():
    header = '</v2/_catalog?last=b&n=2>; rel="next"'
    assert protocol.next_link(header, "http://127.0.0.1:5000/v2/_catalog?n=2") == \
        "http://127.0.0.1:5000/v2/_catalog?last=b&n=2"
    assert protocol.next_link('<http://x/v2/a/tags/list?n=1&last=t>; rel="prev"', "http://x/") is None
    assert protocol.next_link(None, "http://x/") is None


def test_retry_after_takes_seconds_or_an_http_date():
    assert protocol.retry_after("3", now=0, default=1) == 3
    assert protocol.retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0, default=1) == 10
    assert protocol.retry_after("soon", now=0, default=0.5) == 0.5
    assert protocol.retry_after(None, now=0, default=0.5) == 0.5


def test_spec_error_bodies_become_one_line():
    body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required",
                                   "detail": [{"Type": "repository"}]}]}).encode()
    assert protocol.error_message(401, body) == "unauthorized: authentication required"
    two = json.dumps({"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown to registry"},
                                 {"code": "DENIED", "message": "no\nway"}]}).encode()
    assert protocol.error_message(404, two) == "blob unknown: blob unknown to registry; denied: no way"
    assert protocol.error_codes(two) == {"BLOB_UNKNOWN", "DENIED"}


def test_error_without_spec_body_names_the_status():
    assert protocol.error_message(404, b"404 page not found\n") == "not found: 404 page not found"
    assert protocol.error_message(502, b"<html><body>Bad gateway</body></html>", "Bad Gateway") == \
        "HTTP 502: Bad Gateway"
    assert protocol.error_message(401, b"") == "unauthorized"
    assert "\n" not in protocol.error_message(500, b"line one\nline two")


def test_token_responses_of_both_spellings_and_default_lifetime():
    token = parse_token_response(b'{"token":"t1","expires_in":300}', now=1000)
    assert (token.value, token.expires_at) == ("t1", 1300)
    oauth = parse_token_response(b'{"access_token":"t2","refresh_token":"r"}', now=1000)
    assert (oauth.value, oauth.expires_at, oauth.refresh_token) == ("t2", 1060, "r")


def _index(*platforms):
    return Index.from_dict({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1,
         "digest": "sha256:" + str(i) * 64, "platform": p} for i, p in enumerate(platforms)]})


def test_platform_choice_matches_os_architecture_and_variant():
    index = _index({"os": "linux", "architecture": "amd64"},
                   {"os": "linux", "architecture": "arm", "variant": "v6"},
                   {"os": "linux", "architecture": "arm", "variant": "v7"},
                   {"os": "linux", "architecture": "arm64", "variant": "v8"})
    assert select_manifest(index, parse_platform("linux/arm/v7")).digest == "sha256:" + "2" * 64
    assert select_manifest(index, parse_platform("linux/arm64")).digest == "sha256:" + "3" * 64
    assert select_manifest(index, parse_platform("x86_64")).digest == "sha256:" + "0" * 64
    with pytest.raises(UserError, match="no matching manifest for linux/s390x"):
        select_manifest(index, PlatformSpec("linux", "s390x"))


def test_search_terms_filters_and_catalog_fallback():
    assert split_term("127.0.0.1:5000/busy") == ("127.0.0.1:5000", "busy")
    assert split_term("library/busybox") == ("docker.io", "library/busybox")
    assert parse_filters(["stars=3", "is-official=true"]) == SearchFilters(3, True)
    with pytest.raises(UserError, match="invalid filter 'color'"):
        parse_filters(["color=red"])
    results = results_from_v1({"results": [
        {"name": "a", "description": "d", "star_count": 5, "is_official": True},
        {"name": "b", "star_count": 1}, {"bogus": 1}]})
    assert [r.name for r in apply_filters(results, SearchFilters(stars=2))] == ["a"]
    assert [r.name for r in catalog_matches("h:1", ["lib/BusyBox", "app", "busy2"], "busy", 25)] == [
        "h:1/lib/BusyBox", "h:1/busy2"]


def test_a_wider_token_serves_narrower_scopes_only():
    granted = ["repository:a:pull,push", "repository:b:pull"]
    assert protocol.scopes_cover(granted, ["repository:a:pull"])
    assert protocol.scopes_cover(granted, ["repository:a:push", "repository:b:pull"])
    assert not protocol.scopes_cover(granted, ["repository:b:push"])
    assert not protocol.scopes_cover(granted, ["repository:c:pull"])


def test_referrers_tag_schema_names_and_entries_follow_the_spec():
    assert protocol.referrers_tag("sha256:" + "a" * 64) == "sha256-" + "a" * 64
    assert protocol.referrers_tag("sha512:" + "b" * 128) == "sha512-" + "b" * 64
    subject = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + "c" * 64, "size": 1}
    signed = json.dumps({"schemaVersion": 2, "config": {"mediaType": "application/vnd.example.sig"},
                         "layers": [], "subject": subject, "annotations": {"k": "v"}}).encode()
    assert protocol.referrer_entry(signed, "application/vnd.oci.image.manifest.v1+json", "sha256:d") == (
        "sha256:" + "c" * 64,
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:d", "size": len(signed),
         "artifactType": "application/vnd.example.sig", "annotations": {"k": "v"}})
    assert protocol.referrer_entry(b'{"schemaVersion": 2, "layers": []}', "x", "sha256:d") is None
