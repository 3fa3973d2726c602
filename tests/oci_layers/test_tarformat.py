"""The header codec round-trips everything a layer entry can carry, including the values
ustar cannot hold, and reads what other writers emit (GNU base-256, V7 checksums)."""

import io
import tarfile

import pytest

from oci.tarformat import (
    BLOCK_SIZE,
    CHAR_DEVICE,
    HeaderError,
    TarEntry,
    build_entry,
    decode_header,
    encode_header,
    parse_pax,
)


def round_trip(entry: TarEntry) -> TarEntry:
    data = encode_header(entry)
    assert len(data) % BLOCK_SIZE == 0
    pax: dict[bytes, bytes] = {}
    while True:
        raw = decode_header(data[:BLOCK_SIZE])
        data = data[BLOCK_SIZE:]
        if raw.type != b"x":
            return build_entry(raw, pax, None, None)
        length = raw.size + (-raw.size % BLOCK_SIZE)
        pax.update(parse_pax(data[:raw.size]))
        data = data[length:]


@pytest.mark.parametrize("entry", [
    TarEntry(name="small", size=10, mode=0o4755, uid=1, gid=2, mtime=1_700_000_000),
    TarEntry(name="huge", size=9 * 1024**3),
    TarEntry(name="ids", uid=3_000_000_000, gid=2**31),
    TarEntry(name="epoch-before-1970", mtime=-86400),
    TarEntry(name="far-future", mtime=2**40),
    TarEntry(name="x/" * 80 + "deep", xattrs={"user.a": b"\x00\xff\n=", "security.capability": b"\x01" * 20}),
    TarEntry(name="dev", type=CHAR_DEVICE, devmajor=136, devminor=4095),
    TarEntry(name="link", type=b"2", linkname="t" * 5000),
    TarEntry(name="caf\u00e9-\udcff", mode=0o640),
])
def test_header_round_trips(entry):
    assert round_trip(entry) == entry


def test_pax_record_length_counts_its_own_digits():
    # A record whose length crosses from 2 to 3 digits when the prefix is counted.
    for size in range(85, 105):
        entry = TarEntry(name="p" * size + "/" + "q" * 10)
        assert round_trip(entry).name == entry.name


def test_python_tarfile_reads_large_ids_and_xattrs():
    entry = TarEntry(name="f", uid=3_000_000_000, xattrs={"user.k": b"v"})
    data = encode_header(entry) + bytes(1024)
    member = tarfile.open(fileobj=io.BytesIO(data)).getmembers()[0]
    assert member.uid == 3_000_000_000
    assert member.pax_headers["SCHILY.xattr.user.k"] == "v"


def test_gnu_base256_numbers_are_read():
    block = bytearray(encode_header(TarEntry(name="big", size=0)))
    block[124:136] = b"\x80" + (9 * 1024**3).to_bytes(11, "big")
    block[148:156] = b"        "
    block[148:156] = b"%06o\x00 " % sum(block)
    assert decode_header(bytes(block)).size == 9 * 1024**3


def test_corrupt_checksum_is_a_header_error():
    block = bytearray(encode_header(TarEntry(name="f")))
    block[0] ^= 1
    with pytest.raises(HeaderError):
        decode_header(bytes(block))
