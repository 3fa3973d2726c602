"""Blob pull (GET/HEAD/Range/DELETE) and every way of pushing a blob, with their error
paths, against the real server."""

from __future__ import annotations

import hashlib
import os
import socket
import time

import requests

from regtest import sha256


def error_code(response: requests.Response) -> str:
    return response.json()["errors"][0]["code"]


def test_api_version_check_answers_200_with_the_version_header(registry):
    r = requests.get(f"{registry.url}/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-Api-Version"] == "registry/2.0"


def test_monolithic_post_then_get_head_and_ranges(registry):
    data = os.urandom(100_000)
    digest = registry.push_blob("mono/blob", data)
    url = f"{registry.url}/v2/mono/blob/blobs/{digest}"

    r = requests.get(url)
    assert r.status_code == 200 and r.content == data
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Content-Type"] == "application/octet-stream"

    head = requests.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(data))
    assert head.headers["Docker-Content-Digest"] == digest

    part = requests.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"

    beyond = requests.get(url, headers={"Range": f"bytes={len(data) + 5}-"})
    assert beyond.status_code == 416


def test_blob_of_another_repository_is_unknown_until_mounted(registry):
    data = b"shared layer"
    digest = registry.push_blob("mount/source", data)
    r = requests.get(f"{registry.url}/v2/mount/target/blobs/{digest}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UNKNOWN"

    r = requests.post(f"{registry.url}/v2/mount/target/blobs/uploads/",
                      params={"mount": digest, "from": "mount/source"})
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/mount/target/blobs/{digest}"
    assert r.headers["Docker-Content-Digest"] == digest
    assert requests.get(f"{registry.url}/v2/mount/target/blobs/{digest}").content == data


def test_mount_without_from_finds_the_blob_in_any_repository(registry):
    digest = registry.push_blob("mount/anywhere-source", b"found without from")
    r = requests.post(f"{registry.url}/v2/mount/anywhere/blobs/uploads/", params={"mount": digest})
    assert r.status_code == 201
    assert requests.head(f"{registry.url}/v2/mount/anywhere/blobs/{digest}").status_code == 200


def test_mount_of_an_unknown_blob_starts_an_upload_session_instead(registry):
    digest = sha256(b"never pushed")
    r = requests.post(f"{registry.url}/v2/mount/missing/blobs/uploads/",
                      params={"mount": digest, "from": "mount/source"})
    assert r.status_code == 202
    assert r.headers["Location"].startswith("/v2/mount/missing/blobs/uploads/")


def test_post_then_put_monolithic_upload(registry):
    data = os.urandom(5000)
    r = requests.post(f"{registry.url}/v2/put/mono/blobs/uploads/")
    assert r.status_code == 202
    location = r.headers["Location"]
    assert r.headers["Docker-Upload-UUID"] in location
    r = requests.put(f"{registry.url}{location}", params={"digest": sha256(data)}, data=data,
                     headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/put/mono/blobs/{sha256(data)}"
    assert requests.get(f"{registry.url}{r.headers['Location']}").content == data


def test_chunked_upload_with_status_and_out_of_order_chunk(registry):
    data = os.urandom(30_000)
    first, second, last = data[:10_000], data[10_000:25_000], data[25_000:]
    location = requests.post(f"{registry.url}/v2/chunked/blob/blobs/uploads/").headers["Location"]

    r = requests.patch(f"{registry.url}{location}", data=first,
                       headers={"Content-Range": "0-9999", "Content-Type": "application/octet-stream"})
    assert r.status_code == 202
    assert r.headers["Range"] == "0-9999"
    location = r.headers["Location"]

    r = requests.patch(f"{registry.url}{location}", data=second,
                       headers={"Content-Range": "20000-34999"})
    assert r.status_code == 416
    assert r.headers["Range"] == "0-9999"

    status = requests.get(f"{registry.url}{location}")
    assert status.status_code == 204
    assert status.headers["Range"] == "0-9999"
    assert status.headers["Location"] == location

    r = requests.patch(f"{registry.url}{location}", data=second,
                       headers={"Content-Range": "10000-24999"})
    assert r.status_code == 202 and r.headers["Range"] == "0-24999"

    r = requests.put(f"{registry.url}{location}", params={"digest": sha256(data)}, data=last,
                     headers={"Content-Range": "25000-29999"})
    assert r.status_code == 201, r.text
    assert requests.get(f"{registry.url}/v2/chunked/blob/blobs/{sha256(data)}").content == data


def test_streamed_patch_without_content_range(registry):
    data = os.urandom(3 << 20)
    location = requests.post(f"{registry.url}/v2/streamed/blob/blobs/uploads/").headers["Location"]

    def body():
        for i in range(0, len(data), 65536):
            yield data[i:i + 65536]

    r = requests.patch(f"{registry.url}{location}", data=body())  # chunked transfer encoding
    assert r.status_code == 202
    assert r.headers["Range"] == f"0-{len(data) - 1}"
    r = requests.put(f"{registry.url}{r.headers['Location']}", params={"digest": sha256(data)})
    assert r.status_code == 201
    got = requests.get(f"{registry.url}/v2/streamed/blob/blobs/{sha256(data)}").content
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()


def test_sha512_digests_are_accepted(registry):
    data = b"hashed with sha512"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    r = requests.post(f"{registry.url}/v2/sha512/blob/blobs/uploads/", params={"digest": digest}, data=data)
    assert r.status_code == 201
    r = requests.get(f"{registry.url}/v2/sha512/blob/blobs/{digest}")
    assert r.content == data and r.headers["Docker-Content-Digest"] == digest


def test_put_with_the_wrong_digest_is_digest_invalid_and_stores_nothing(registry):
    location = requests.post(f"{registry.url}/v2/bad/digest/blobs/uploads/").headers["Location"]
    wrong = sha256(b"something else")
    r = requests.put(f"{registry.url}{location}", params={"digest": wrong}, data=b"the real bytes")
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    assert requests.head(f"{registry.url}/v2/bad/digest/blobs/{wrong}").status_code == 404
    assert not (registry.root / "blobs" / "sha256" / wrong.split(":")[1]).exists()
    # the failed session is gone
    assert requests.get(f"{registry.url}{location}").status_code == 404


def test_single_post_with_the_wrong_digest_is_digest_invalid(registry):
    r = requests.post(f"{registry.url}/v2/bad/digest/blobs/uploads/",
                      params={"digest": sha256(b"x")}, data=b"y")
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"


def test_put_without_digest_or_with_a_malformed_one_is_digest_invalid(registry):
    location = requests.post(f"{registry.url}/v2/bad/digest/blobs/uploads/").headers["Location"]
    for params in ({}, {"digest": "sha256:xyz"}, {"digest": "md5:" + "0" * 32}):
        r = requests.put(f"{registry.url}{location}", params=params, data=b"abc")
        assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID", params


def test_malformed_content_range_is_416(registry):
    location = requests.post(f"{registry.url}/v2/bad/range/blobs/uploads/").headers["Location"]
    for value in ("abc", "5-1", "-3", "0-"):
        r = requests.patch(f"{registry.url}{location}", data=b"abc", headers={"Content-Range": value})
        assert r.status_code == 416, value


def test_chunk_shorter_than_its_content_range_is_refused(registry):
    location = requests.post(f"{registry.url}/v2/bad/range/blobs/uploads/").headers["Location"]
    r = requests.patch(f"{registry.url}{location}", data=b"abc", headers={"Content-Range": "0-9"})
    assert r.status_code == 416
    assert requests.get(f"{registry.url}{location}").headers["Range"] == "0-0"


def test_cancelled_upload_is_gone(registry):
    location = requests.post(f"{registry.url}/v2/cancel/me/blobs/uploads/").headers["Location"]
    requests.patch(f"{registry.url}{location}", data=b"partial")
    assert requests.delete(f"{registry.url}{location}").status_code == 204
    r = requests.get(f"{registry.url}{location}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"
    r = requests.patch(f"{registry.url}{location}", data=b"more")
    assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"


def test_unknown_or_foreign_upload_ids_are_unknown(registry):
    location = requests.post(f"{registry.url}/v2/owner/repo/blobs/uploads/").headers["Location"]
    upload_id = location.rsplit("/", 1)[1]
    for path in (f"/v2/other/repo/blobs/uploads/{upload_id}",
                 "/v2/owner/repo/blobs/uploads/" + "0" * 32,
                 "/v2/owner/repo/blobs/uploads/not-a-uuid"):
        r = requests.get(f"{registry.url}{path}")
        assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN", path


def test_blob_delete_then_unknown(registry):
    digest = registry.push_blob("delete/blob", b"to be deleted")
    r = requests.delete(f"{registry.url}/v2/delete/blob/blobs/{digest}")
    assert r.status_code == 202
    r = requests.get(f"{registry.url}/v2/delete/blob/blobs/{digest}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UNKNOWN"
    r = requests.delete(f"{registry.url}/v2/delete/blob/blobs/{digest}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UNKNOWN"


def test_malformed_blob_digest_is_digest_invalid(registry):
    for digest in ("sha256:short", "sha256:" + "G" * 64, "nocolon", "sha256:" + "A" * 64):
        r = requests.get(f"{registry.url}/v2/some/repo/blobs/{digest}")
        assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID", digest


def send_cut_off_patch(registry, location: str, content_range: str | None) -> None:
    """A PATCH announcing 100,000 bytes whose client disconnects after 50,000."""
    host, port = registry.address.split(":")
    with socket.create_connection((host, int(port))) as conn:
        head = f"PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
        if content_range:
            head += f"Content-Range: {content_range}\r\n"
        conn.sendall(head.encode() + b"\r\n" + b"a" * 50_000)
        time.sleep(0.2)


def test_disconnect_mid_chunk_takes_the_chunk_back_and_mid_stream_keeps_what_arrived(registry):
    streamed = requests.post(f"{registry.url}/v2/cut/off/blobs/uploads/").headers["Location"]
    send_cut_off_patch(registry, streamed, None)
    chunked = requests.post(f"{registry.url}/v2/cut/off/blobs/uploads/").headers["Location"]
    send_cut_off_patch(registry, chunked, "0-99999")

    def settled_range(location: str, expected: str) -> str:
        """The upload's Range once the server has noticed the disconnect (a moment later)."""
        deadline = time.monotonic() + 5
        while True:
            value = requests.get(f"{registry.url}{location}").headers["Range"]
            if value == expected or time.monotonic() > deadline:
                return value
            time.sleep(0.05)

    assert settled_range(streamed, "0-49999") == "0-49999"
    data = b"a" * 50_000 + b"b" * 10
    r = requests.put(f"{registry.url}{streamed}", params={"digest": sha256(data)}, data=b"b" * 10,
                     headers={"Content-Range": "50000-50009"})
    assert r.status_code == 201
    assert settled_range(chunked, "0-0") == "0-0"
    r = requests.patch(f"{registry.url}{chunked}", data=b"c" * 10, headers={"Content-Range": "0-9"})
    assert r.status_code == 202 and r.headers["Range"] == "0-9"
