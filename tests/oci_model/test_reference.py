"""Image references against distribution/reference's own test tables (normalize_test.go,
reference_test.go) run through docker's normalising parser."""

import hashlib
import time

import pytest
from hypothesis import given, settings, strategies as st

from oci.errors import InvalidReference, UserError
from oci.reference import (
    Reference,
    is_full_image_id,
    is_image_id,
    is_valid_tag,
    parse_reference,
)

HEX64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"
FFF = "sha256:" + "f" * 64


@pytest.mark.parametrize(
    "text, full",
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.25", "docker.io/library/nginx:1.25"),
        ("library/nginx", "docker.io/library/nginx:latest"),
        ("docker.io/nginx", "docker.io/library/nginx:latest"),
        ("index.docker.io/nginx", "docker.io/library/nginx:latest"),
        ("index.docker.io/library/debian", "docker.io/library/debian:latest"),
        ("dmcgowan/myapp", "docker.io/dmcgowan/myapp:latest"),
        ("localhost/foo", "localhost/foo:latest"),
        ("localhost:5000/a/b:t", "localhost:5000/a/b:t"),
        ("127.0.0.1:5000/library/debian", "127.0.0.1:5000/library/debian:latest"),
        ("example.com/private/moonbase", "example.com/private/moonbase:latest"),
        ("[::1]:5000/repo", "[::1]:5000/repo:latest"),
        ("[2001:db8::1]/repo:tag", "[2001:db8::1]/repo:tag"),
        ("[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000/library/debian:latest"),
        ("host/repo@" + FFF, "docker.io/host/repo@" + FFF),
        ("registry.local/repo@" + FFF, "registry.local/repo@" + FFF),
        ("busybox:latest@" + FFF, "docker.io/library/busybox:latest@" + FFF),
        ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com"),
        ("b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io/test.example.com/my-app:test.example.com"),
        ("test_com/foo", "docker.io/test_com/foo:latest"),
        ("test-com:8080/foo", "test-com:8080/foo:latest"),
        ("dock__er/docker", "docker.io/dock__er/docker:latest"),
        ("docker---rules/docker", "docker.io/docker---rules/docker:latest"),
        ("Docker/docker", "Docker/docker:latest"),
        ("lowercase:Uppercase", "docker.io/library/lowercase:Uppercase"),
        ("192.168.0.1", "docker.io/library/192.168.0.1:latest"),
        ("192.168.0.1:80", "docker.io/library/192.168.0.1:80"),
        ("docker.io/" + HEX64, "docker.io/library/" + HEX64 + ":latest"),
        (HEX64[:-1], "docker.io/library/" + HEX64[:-1] + ":latest"),
    ],
)
def test_normalises_as_docker_does(text, full):
    assert str(parse_reference(text)) == full


@pytest.mark.parametrize(
    "text, domain, path",
    [
        ("test.com/foo", "test.com", "foo"),
        ("test_com/foo", "docker.io", "test_com/foo"),
        ("docker/migrator", "docker.io", "docker/migrator"),
        ("test.com:8080/foo", "test.com:8080", "foo"),
        ("foo", "docker.io", "library/foo"),
        ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
        ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
        ("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "bar/baz/quux"),
        ("FOO/bar", "FOO", "bar"),
    ],
)
def test_splits_domain_and_path(text, domain, path):
    ref = parse_reference(text)
    assert (ref.domain, ref.path) == (domain, path)


@pytest.mark.parametrize(
    "text, familiar",
    [
        ("docker.io/fooo/bar", "fooo/bar:latest"),
        ("index.docker.io/fooo/bar", "fooo/bar:latest"),
        ("library/ubuntu", "ubuntu:latest"),
        ("docker.io/library/ubuntu-12.04-base", "ubuntu-12.04-base:latest"),
        ("docker.io/library/foo/bar", "library/foo/bar:latest"),
        ("store/foo/bar", "store/foo/bar:latest"),
        ("other/library", "other/library:latest"),
        ("127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase:latest"),
        ("example.com:8000/private/moonbase", "example.com:8000/private/moonbase:latest"),
        ("localhost:5000/a/b:t", "localhost:5000/a/b:t"),
        ("nginx:latest@" + FFF, "nginx:latest@" + FFF),
        ("Foo/bar", "Foo/bar:latest"),
    ],
)
def test_familiar_form_is_what_docker_images_prints(text, familiar):
    assert parse_reference(text).familiar() == familiar


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "invalid reference format"),
        (":justtag", "invalid reference format"),
        ("@" + FFF, "invalid reference format"),
        ("https://github.com/docker/docker", "invalid reference format"),
        ("-docker", "invalid reference format"),
        ("-docker/docker", "invalid reference format"),
        ("docker-/docker", "invalid reference format"),
        ("-docker.io/docker/docker", "invalid reference format"),
        ("docker///docker", "invalid reference format"),
        ("docker.io/docker///docker", "invalid reference format"),
        ("____/____", "invalid reference format"),
        ("_docker/_docker", "invalid reference format"),
        ("dock..er/docker", "invalid reference format"),
        ("dock_.er/docker", "invalid reference format"),
        ("dock-.er/docker", "invalid reference format"),
        ("docker/", "invalid reference format"),
        ("aa/asdf$$^/aa", "invalid reference format"),
        ("[fc00::1]", "invalid reference format"),
        ("[fc00::1]:5000", "invalid reference format"),
        ("[2001:db8::1]:tag", "invalid reference format"),
        ("fc00::1:5000/debian", "invalid reference format"),
        ("[fe80::1%eth0]:5000/debian", "invalid reference format"),
        ("[2001:db8:3:4::192.0.2.33]:5000/debian", "invalid reference format"),
        ("docker/Docker", "must be lowercase"),
        ("docker.io/docker/Docker", "must be lowercase"),
        ("NGINX", "must be lowercase"),
        ("Uppercase:tag", "must be lowercase"),
        ("test:5000/Uppercase/lowercase:tag", "must be lowercase"),
        (HEX64, "cannot specify 64-byte hexadecimal strings"),
        ("repo@sha256:" + "f" * 34, "invalid checksum digest length"),
        ("repo@sha256:" + "F" * 64, "invalid checksum digest format"),
        ("validname@invaliddigest:" + "f" * 64, "unsupported digest algorithm"),
        ("nginx:" + "t" * 129, "invalid reference format"),
        ("nginx:-tag", "invalid reference format"),
        ("nginx:tag:tag", "invalid reference format"),
    ],
)
def test_rejects_with_dockers_message(text, message):
    with pytest.raises(InvalidReference) as info:
        parse_reference(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_invalid_reference_is_a_user_error_naming_the_input():
    with pytest.raises(UserError, match='"docker/Docker"'):
        parse_reference("docker/Docker")


def test_error_for_a_control_character_stays_on_one_line():
    with pytest.raises(InvalidReference) as info:
        parse_reference("Bad\nName")
    assert "\n" not in str(info.value) and "\\n" in str(info.value)


def test_repository_path_may_be_255_characters_but_not_256():
    ok = "a/" * 127 + "a"
    assert len(ok) == 255
    assert parse_reference(f"example.com/{ok}:tag").path == ok
    with pytest.raises(InvalidReference, match="must not be more than 255 characters"):
        parse_reference("example.com/" + "a/" * 128 + "a:tag")


def test_tag_may_be_128_characters():
    tag = "T" + "a" * 127
    assert parse_reference("nginx:" + tag).tag == tag


def test_name_with_tag_and_digest_keeps_both():
    ref = parse_reference("localhost:5000/app:v1@" + FFF)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("localhost:5000", "app", "v1", FFF)


def test_a_dotted_first_component_that_is_no_host_becomes_part_of_the_path():
    ref = parse_reference("foo_bar.com/x")
    assert (ref.domain, ref.path) == ("", "foo_bar.com/x")
    assert str(ref) == ref.familiar() == "foo_bar.com/x:latest"


def test_digest_only_reference_gets_no_default_tag():
    ref = parse_reference("redis@" + FFF)
    assert ref.tag is None and str(ref) == "docker.io/library/redis@" + FFF


def test_sha512_digest_is_accepted():
    digest = "sha512:" + "f" * 128
    assert parse_reference("xn--7o8h.com/myimage:xn--7o8h.com@" + digest).digest == digest


def test_name_only_when_default_tag_is_off():
    ref = parse_reference("nginx", default_tag=False)
    assert ref.tag is None
    assert str(ref) == "docker.io/library/nginx"
    assert ref.familiar() == "nginx"


def test_name_and_repository_leave_out_tag_and_digest():
    ref = parse_reference("localhost:5000/a/b:t@" + FFF)
    assert ref.name == ref.repository == "localhost:5000/a/b"
    assert ref.familiar_name() == "localhost:5000/a/b"


def test_with_tag_replaces_the_tag_and_validates_it():
    ref = parse_reference("nginx:1")
    assert str(ref.with_tag("2")) == "docker.io/library/nginx:2"
    with pytest.raises(InvalidReference, match="invalid tag format"):
        ref.with_tag("-bad")


def test_with_digest_validates_the_digest():
    ref = parse_reference("nginx", default_tag=False)
    assert ref.with_digest(FFF).familiar() == "nginx@" + FFF
    with pytest.raises(InvalidReference):
        ref.with_digest("sha256:abc")


def test_reference_is_hashable_and_comparable():
    assert parse_reference("nginx") == parse_reference("docker.io/library/nginx:latest")
    assert len({parse_reference("nginx"), parse_reference("index.docker.io/library/nginx")}) == 1
    assert isinstance(parse_reference("nginx"), Reference)


def test_tags_follow_dockers_tag_grammar():
    assert is_valid_tag("v1.2.3-rc_1")
    assert is_valid_tag("_x")
    assert not is_valid_tag(".x")
    assert not is_valid_tag("é")  # \w is ASCII-only in Go
    assert not is_valid_tag("a" * 129)


@pytest.mark.parametrize(
    "text, short, full",
    [
        (HEX64, True, True),
        ("sha256:" + HEX64, True, True),
        ("1a3f5e7d9c1b", True, False),
        ("sha256:1a3f", True, False),
        ("1A3F", False, False),
        ("nginx", False, False),
        (HEX64 + "0", False, False),
        ("", False, False),
    ],
)
def test_recognises_image_ids_and_short_prefixes(text, short, full):
    assert is_image_id(text) is short
    assert is_full_image_id(text) is full


def test_pathological_input_is_refused_promptly():
    # Python's matcher backtracks; the grammar is written so these stay linear.
    started = time.monotonic()
    for text in ("a" * 100_000 + "!", "a-" * 50_000, "a." * 50_000 + "/", "a_" * 50_000 + "__"):
        with pytest.raises(InvalidReference):
            parse_reference(text)
    assert time.monotonic() - started < 5



alnum = st.text("abz059", min_size=1, max_size=3)
separators = st.sampled_from([".", "_", "__", "-", "--"])
components = st.builds(
    lambda first, rest: first + "".join(sep + word for sep, word in rest),
    alnum, st.lists(st.tuples(separators, alnum), max_size=2),
)
domains = st.sampled_from([
    "", "docker.io/", "index.docker.io/", "localhost/", "localhost:5000/", "[::1]:5000/",
    "[2001:db8::1]/", "Foo/", "127.0.0.1:80/", "a-b.example.com/", "x.io:443/",
])
tags = st.one_of(st.just(""), st.text("aZ09_.-", min_size=1, max_size=8).filter(
    lambda t: t[0] not in ".-").map(lambda t: ":" + t))
digests = st.one_of(st.just(""), st.binary(max_size=8).map(lambda b: "@sha256:" + hashlib.sha256(b).hexdigest()))


@settings(max_examples=150, deadline=None)
@given(domains, st.lists(components, min_size=1, max_size=3), tags, digests)
def test_full_and_familiar_forms_parse_back_to_the_same_reference(domain, path, tag, digest):
    ref = parse_reference(domain + "/".join(path) + tag + digest)
    assert parse_reference(str(ref)) == ref
    assert parse_reference(ref.name, default_tag=False) == ref.name_only()
    first = ref.familiar_name().split("/")[0]
    # As in docker, a familiar Docker Hub name whose first component looks like a host
    # ("0.0/x") reads back as that host: only the others round-trip.
    if ref.domain != "docker.io" or not ("." in first or ":" in first or first == "localhost"):
        assert parse_reference(ref.familiar()) == ref
