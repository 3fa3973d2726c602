"""LayerWriter(portable=True), the gzip of builds with SOURCE_DATE_EPOCH: its blob is stdlib
zlib's deflate of the tar, so it does not depend on which ISA-L kernel the CPU selects."""

import gzip
import hashlib
import io
import os
import random
import struct
import subprocess
import zlib

from oci.compression import PORTABLE_GZIP_LEVEL, LayerWriter
from oci.tarwriter import write_tree

GO_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def layer_tar(root) -> bytes:
    (root / "etc").mkdir()
    (root / "etc" / "motd").write_bytes(b"welcome\n" * 50_000)
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_bytes(random.Random(3).randbytes(1_500_000))
    os.symlink("tool", root / "bin" / "alias")
    out = io.BytesIO()
    write_tree(root, out, source_date_epoch=1_700_000_000)
    return out.getvalue()


def stdlib_gzip(tar: bytes) -> bytes:
    deflate = zlib.compressobj(PORTABLE_GZIP_LEVEL, zlib.DEFLATED, -15)
    body = deflate.compress(tar) + deflate.flush()
    return GO_GZIP_HEADER + body + struct.pack("<II", zlib.crc32(tar), len(tar) & 0xFFFFFFFF)


def portable_blob(tar: bytes, chunk: int) -> bytes:
    out = io.BytesIO()
    writer = LayerWriter(out, "gzip", portable=True)
    for off in range(0, len(tar), chunk):
        writer.write(tar[off:off + chunk])
    writer.close()
    return out.getvalue()


def test_portable_blob_is_stdlib_zlib_output_for_the_same_tar(tmp_path):
    tar = layer_tar(tmp_path)
    expected = stdlib_gzip(tar)
    for chunk in (512, 65_536, 1_000_003, len(tar)):
        assert portable_blob(tar, chunk) == expected
    assert subprocess.run(["gzip", "-t"], input=expected).returncode == 0
    assert gzip.decompress(expected) == tar


def test_portable_digests_describe_the_portable_blob(tmp_path):
    tar = layer_tar(tmp_path)
    out = io.BytesIO()
    writer = LayerWriter(out, "gzip", portable=True)
    writer.write(tar)
    digests = writer.close()
    assert digests.digest == "sha256:" + hashlib.sha256(out.getvalue()).hexdigest()
    assert digests.size == len(out.getvalue())
    assert digests.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()


def test_default_gzip_is_not_the_portable_encoder(tmp_path):
    # The fast path stays ISA-L: builds without an epoch must not pay for portability.
    tar = layer_tar(tmp_path)
    out = io.BytesIO()
    with LayerWriter(out, "gzip") as writer:
        writer.write(tar)
    assert out.getvalue() != stdlib_gzip(tar)
    assert gzip.decompress(out.getvalue()) == tar
