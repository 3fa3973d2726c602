"""LayerWriter: one pass gives the blob digest, its size and the diff ID; gzip and zstd
output is valid for the real tools and the same bytes every time."""

import gzip
import hashlib
import io
import os
import random
import subprocess

import pytest
import zstandard

from oci.compression import LayerWriter, detect_compression, open_decompressed

DATA = (b"".join(b"line %d of a layer that compresses\n" % i for i in range(200_000))
        + random.Random(1).randbytes(300_000))


def compress(data: bytes, compression, chunk: int = 65536):
    out = io.BytesIO()
    writer = LayerWriter(out, compression)
    for off in range(0, len(data), chunk):
        writer.write(data[off:off + chunk])
    digests = writer.close()
    return out.getvalue(), digests


@pytest.mark.parametrize("compression,tool", [("gzip", "gzip"), ("zstd", "zstd"), (None, None)])
def test_digests_describe_the_blob_and_the_uncompressed_tar(compression, tool):
    blob, digests = compress(DATA, compression)
    assert digests.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert digests.size == len(blob)
    assert digests.diff_id == "sha256:" + hashlib.sha256(DATA).hexdigest()
    if tool:
        assert len(blob) < len(DATA) / 2
        unpacked = subprocess.run([tool, "-dc"], input=blob, capture_output=True, check=True).stdout
        assert unpacked == DATA


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_same_input_gives_the_same_bytes_whatever_the_write_sizes(compression):
    # The splits a pipe might give; ISA-L alone would compress some of them differently.
    blobs = {compress(DATA, compression, chunk=chunk)[0] for chunk in (100, 4093, 65536, 1_000_003)}
    out = io.BytesIO()
    writer = LayerWriter(out, compression)
    rng = random.Random(7)
    pos = 0
    while pos < len(DATA):
        step = rng.choice([1, 511, 4096, 70_000, 1 << 20, 3_000_000])
        writer.write(memoryview(DATA)[pos:pos + step])
        pos += step
    writer.close()
    blobs.add(out.getvalue())
    assert len(blobs) == 1


def test_gzip_header_has_no_name_and_zero_mtime():
    blob, _ = compress(b"hello", "gzip")
    assert blob[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    assert gzip.decompress(blob) == b"hello"
    listing = subprocess.run(["gzip", "-lv"], input=blob, capture_output=True)
    assert subprocess.run(["gzip", "-t"], input=blob).returncode == 0
    assert listing.returncode == 0


def test_empty_layer_is_still_a_valid_gzip_stream():
    blob, digests = compress(b"", "gzip")
    assert gzip.decompress(blob) == b""
    assert digests.diff_id == "sha256:" + hashlib.sha256(b"").hexdigest()


def test_open_decompressed_reads_multi_member_gzip():
    blob = gzip.compress(b"first ") + gzip.compress(b"second")
    assert open_decompressed(io.BytesIO(blob)).read() == b"first second"


def test_open_decompressed_passes_plain_data_through_unchanged():
    assert open_decompressed(io.BytesIO(b"abc")).read() == b"abc"
    assert open_decompressed(io.BytesIO(b"")).read() == b""


@pytest.mark.parametrize("tool,kind", [(["gzip"], "gzip"), (["zstd", "-q"], "zstd"),
                                       (["bzip2"], "bzip2"), (["xz"], "xz")])
def test_magic_detection_matches_the_real_tools(tool, kind):
    packed = subprocess.run(tool + ["-c"], input=b"payload", capture_output=True, check=True).stdout
    assert detect_compression(packed[:6]) == kind
    assert open_decompressed(io.BytesIO(packed)).read() == b"payload"


def test_unknown_compression_name_is_rejected():
    with pytest.raises(ValueError, match="lz4"):
        LayerWriter(io.BytesIO(), "lz4")


def test_zstd_stream_led_by_a_skippable_frame_is_detected():
    skippable = b"\x50\x2a\x4d\x18" + (4).to_bytes(4, "little") + b"meta"
    blob = skippable + zstandard.ZstdCompressor().compress(b"payload")
    assert detect_compression(blob[:6]) == "zstd"
    assert open_decompressed(io.BytesIO(blob)).read() == b"payload"


@pytest.mark.parametrize("wrap", [gzip.compress, zstandard.ZstdCompressor().compress, lambda d: d])
def test_closing_the_decompressed_stream_leaves_the_source_open(wrap):
    source = io.BufferedReader(io.BytesIO(wrap(b"layer bytes")))
    with open_decompressed(source) as stream:
        assert stream.read() == b"layer bytes"
    assert not source.closed
