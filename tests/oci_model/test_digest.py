import hashlib
import subprocess

import pytest

from oci.digest import (
    digest_bytes,
    hasher_digest,
    is_digest,
    new_hasher,
    short_id,
    split_digest,
    validate_digest,
)
from oci.errors import InvalidDigest, UserError

SHA256_EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_digest_of_bytes_matches_sha256sum():
    data = b"hello layer\n"
    out = subprocess.run(["sha256sum"], input=data, capture_output=True, check=True).stdout
    assert digest_bytes(data) == "sha256:" + out.split()[0].decode()


def test_sha512_digest_matches_sha512sum():
    data = b"x" * 1000
    out = subprocess.run(["sha512sum"], input=data, capture_output=True, check=True).stdout
    assert digest_bytes(data, "sha512") == "sha512:" + out.split()[0].decode()


def test_hasher_streams_to_the_same_digest():
    hasher = new_hasher("sha256")
    for chunk in (b"ab", b"", b"cd"):
        hasher.update(chunk)
    assert hasher_digest(hasher) == digest_bytes(b"abcd")
    assert hasher_digest(new_hasher()) == SHA256_EMPTY


@pytest.mark.parametrize(
    "digest",
    [SHA256_EMPTY, "sha512:" + hashlib.sha512(b"").hexdigest()],
)
def test_valid_digests_pass_unchanged(digest):
    assert validate_digest(digest) == digest
    assert is_digest(digest)


@pytest.mark.parametrize(
    "digest, reason",
    [
        ("", "algorithm:encoded"),
        ("sha256", "algorithm:encoded"),
        ("sha256:", "algorithm:encoded"),
        (":abc", "algorithm:encoded"),
        ("SHA256:" + "a" * 64, "algorithm:encoded"),
        ("sha256:" + "A" * 64, "64 lowercase hex"),
        ("sha256:" + "a" * 63, "64 lowercase hex"),
        ("sha256:" + "a" * 65, "64 lowercase hex"),
        ("sha256:" + "g" * 64, "64 lowercase hex"),
        ("sha512:" + "a" * 64, "128 lowercase hex"),
        ("sha384:" + "a" * 96, "unsupported algorithm"),
        ("md5:" + "a" * 32, "unsupported algorithm"),
        ("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", "unsupported algorithm"),
        ("sha256:" + "a" * 64 + "\n", "algorithm:encoded"),
    ],
)
def test_invalid_digests_are_refused_with_a_reason(digest, reason):
    with pytest.raises(InvalidDigest, match=reason) as info:
        validate_digest(digest)
    assert isinstance(info.value, UserError)
    assert not is_digest(digest)


def test_split_gives_algorithm_and_hex():
    assert split_digest(SHA256_EMPTY) == ("sha256", SHA256_EMPTY[7:])


def test_unsupported_hasher_algorithm_is_refused():
    with pytest.raises(InvalidDigest, match="md5"):
        new_hasher("md5")


def test_short_id_is_twelve_hex_characters_as_docker_prints():
    assert short_id(SHA256_EMPTY) == "e3b0c44298fc"
    assert short_id("e3b0c44298fc1c149a") == "e3b0c44298fc"
