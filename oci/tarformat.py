"""The tar format as image layers use it, without I/O: a `TarEntry` dataclass, encoding an
entry's header blocks and decoding them back.

Headers are POSIX ustar; whatever ustar cannot hold (names or link targets over 100 bytes,
sizes ≥ 8 GiB, large ids, xattrs as `SCHILY.xattr.<name>`) goes into a PAX extended header
before the entry, as Go's archive/tar (docker, containerd, BuildKit) writes it. Owners are
numeric only (uname/gname empty), so a layer means the same on every machine. Decoding also
accepts GNU tar's long-name entries, base-256 numbers and libarchive's xattr records.
"""

from __future__ import annotations

import base64
import os
import struct
import urllib.parse
from dataclasses import dataclass, field

REGULAR = b"0"
HARDLINK = b"1"
SYMLINK = b"2"
CHAR_DEVICE = b"3"
BLOCK_DEVICE = b"4"
DIRECTORY = b"5"
FIFO = b"6"
CONTIGUOUS = b"7"
PAX_HEADER = b"x"
PAX_GLOBAL = b"g"
GNU_LONGNAME = b"L"
GNU_LONGLINK = b"K"

BLOCK_SIZE = 512
END_OF_ARCHIVE = bytes(BLOCK_SIZE * 2)
# Types whose header is never followed by data, whatever the size field says (as Go reads).
HEADER_ONLY_TYPES = frozenset({HARDLINK, SYMLINK, CHAR_DEVICE, BLOCK_DEVICE, DIRECTORY, FIFO})

_USTAR_MAGIC = b"ustar\x0000"
_PAX_NAME = b"././@PaxHeader"
_XATTR_PREFIX = "SCHILY.xattr."
_LIBARCHIVE_XATTR_PREFIX = "LIBARCHIVE.xattr."


@dataclass
class TarEntry:
    """One tar member. `name` is relative, '/'-separated, without a trailing slash; names
    and link targets are str decoded with os.fsdecode, so any bytes round-trip."""

    name: str
    type: bytes = REGULAR
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    size: int = 0
    mtime: int = 0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)


def padding(size: int) -> int:
    """Zero bytes after `size` bytes of data to reach the next block."""
    return -size % BLOCK_SIZE


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\x00" % (width - 1, value)


def _fits(value: int, width: int) -> bool:
    return 0 <= value < 8 ** (width - 1)


def _ustar(name: bytes, mode: int, uid: int, gid: int, size: int, mtime: int, type_: bytes,
           linkname: bytes, devmajor: int, devminor: int) -> bytes:
    header = bytearray(BLOCK_SIZE)
    header[0:len(name[:100])] = name[:100]
    header[100:108] = _octal(mode, 8)
    header[108:116] = _octal(uid, 8)
    header[116:124] = _octal(gid, 8)
    header[124:136] = _octal(size, 12)
    header[136:148] = _octal(mtime, 12)
    header[148:156] = b"        "
    header[156:157] = type_
    header[157:157 + len(linkname[:100])] = linkname[:100]
    header[257:265] = _USTAR_MAGIC
    header[329:337] = _octal(devmajor, 8)
    header[337:345] = _octal(devminor, 8)
    header[148:156] = b"%06o\x00 " % sum(header)
    return bytes(header)


def _pax_record(key: bytes, value: bytes) -> bytes:
    # The length prefix counts itself, so it may need one more digit than the rest.
    body = len(key) + len(value) + 3
    length = body + len(str(body))
    if len(str(length)) > len(str(body)):
        length += 1
    return b"%d %s=%s\n" % (length, key, value)


def encode_header(entry: TarEntry) -> bytes:
    """The header block(s) for `entry`: a PAX extended header when needed, then ustar."""
    name = os.fsencode(entry.name)
    if entry.type == DIRECTORY and not name.endswith(b"/"):
        name += b"/"
    linkname = os.fsencode(entry.linkname)
    records: list[tuple[bytes, bytes]] = []
    if len(name) > 100:
        records.append((b"path", name))
    if len(linkname) > 100:
        records.append((b"linkpath", linkname))
    numbers = {"size": (entry.size, 12), "uid": (entry.uid, 8), "gid": (entry.gid, 8),
               "mtime": (entry.mtime, 12)}
    for key, (value, width) in numbers.items():
        if not _fits(value, width):
            records.append((key.encode(), str(value).encode()))
    for key in sorted(entry.xattrs):
        records.append(((_XATTR_PREFIX + key).encode("utf-8", "surrogateescape"), entry.xattrs[key]))
    header = _ustar(
        name, entry.mode & 0o7777, *(v if _fits(v, 8) else 0 for v in (entry.uid, entry.gid)),
        entry.size if _fits(entry.size, 12) else 0,
        entry.mtime if _fits(entry.mtime, 12) else 0,
        entry.type, linkname, entry.devmajor, entry.devminor,
    )
    if not records:
        return header
    pax = b"".join(_pax_record(k, v) for k, v in records)
    pax_header = _ustar(_PAX_NAME, 0, 0, 0, len(pax), 0, PAX_HEADER, b"", 0, 0)
    return pax_header + pax + bytes(padding(len(pax))) + header


class HeaderError(ValueError):
    """A block that is not a valid tar header."""


def _number(field_: bytes) -> int:
    if field_[:1] and field_[0] & 0x80:
        # GNU base-256: big-endian two's complement with the top bit as the marker.
        value = int.from_bytes(field_, "big") & ((1 << (8 * len(field_) - 1)) - 1)
        if field_[0] & 0x40:
            value -= 1 << (8 * len(field_) - 1)
        return value
    text = field_.strip(b" \x00")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        pass
    # Garbage after the terminating NUL, left by some writers.
    text = field_.split(b"\x00", 1)[0].strip(b" ")
    try:
        return int(text, 8) if text else 0
    except ValueError as exc:
        raise HeaderError(f"bad numeric field {field_!r}") from exc


def _string(field_: bytes) -> bytes:
    return field_.split(b"\x00", 1)[0]


@dataclass
class RawHeader:
    """A decoded header block before PAX/GNU overrides are applied."""

    name: bytes
    mode: int
    uid: int
    gid: int
    size: int
    mtime: int
    type: bytes
    linkname: bytes
    devmajor: int
    devminor: int


_LAYOUT = struct.Struct("100s8s8s8s12s12s8sc100s6s2s32s32s8s8s155s")


def decode_header(block: bytes) -> RawHeader:
    """Decode one 512-byte header block, verifying its checksum."""
    (name, mode, uid, gid, size, mtime, checksum, type_, linkname, magic, _version,
     _uname, _gname, devmajor, devminor, prefix) = _LAYOUT.unpack_from(block)
    stored = _number(checksum)
    if stored != sum(block) - sum(checksum) + 256:
        signed = sum(b - 256 if b > 127 else b for b in block[:148] + block[156:]) + 256
        if stored != signed:
            raise HeaderError("header checksum mismatch")
    name = _string(name)
    if magic == b"ustar\x00":
        prefix = _string(prefix)
        if prefix:
            name = prefix + b"/" + name
    if type_ == b"\x00":
        type_ = REGULAR
    return RawHeader(
        name=name, mode=_number(mode), uid=_number(uid), gid=_number(gid), size=_number(size),
        mtime=_number(mtime), type=type_, linkname=_string(linkname),
        devmajor=_number(devmajor), devminor=_number(devminor),
    )


def parse_pax(data: bytes) -> dict[bytes, bytes]:
    """PAX extended header records `<len> <key>=<value>\\n` as raw key → value bytes."""
    records: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break
        space = data.find(b" ", pos)
        if space < 0:
            raise HeaderError("malformed PAX record")
        try:
            length = int(data[pos:space])
        except ValueError as exc:
            raise HeaderError("malformed PAX record length") from exc
        record = data[space + 1:pos + length]
        if length <= 0 or not record.endswith(b"\n") or b"=" not in record:
            raise HeaderError("malformed PAX record")
        key, value = record[:-1].split(b"=", 1)
        records[key] = value
        pos += length
    return records


def build_entry(raw: RawHeader, pax: dict[bytes, bytes], long_name: bytes | None,
                long_link: bytes | None) -> TarEntry:
    """The entry a header describes once PAX records and GNU long names are applied."""
    name = pax.get(b"path", long_name if long_name is not None else raw.name)
    linkname = pax.get(b"linkpath", long_link if long_link is not None else raw.linkname)
    xattrs: dict[str, bytes] = {}
    for key, value in pax.items() if pax else ():
        text = key.decode("utf-8", "surrogateescape")
        if text.startswith(_XATTR_PREFIX):
            xattrs[text[len(_XATTR_PREFIX):]] = value
        elif text.startswith(_LIBARCHIVE_XATTR_PREFIX):
            xattr_name = urllib.parse.unquote(text[len(_LIBARCHIVE_XATTR_PREFIX):])
            xattrs[xattr_name] = base64.b64decode(value + b"=" * (-len(value) % 4))

    def number(key: bytes, default: int) -> int:
        if key not in pax:
            return default
        try:
            return int(float(pax[key])) if key == b"mtime" else int(pax[key])
        except ValueError as exc:
            raise HeaderError(f"bad PAX {key.decode()} record") from exc

    type_ = raw.type
    if type_ in (REGULAR, CONTIGUOUS) and name.endswith(b"/"):
        type_ = DIRECTORY  # pre-POSIX tars mark directories only by the trailing slash
    return TarEntry(
        name=os.fsdecode(name).rstrip("/") or name.decode("utf-8", "surrogateescape"),
        type=type_, mode=raw.mode & 0o7777, uid=number(b"uid", raw.uid),
        gid=number(b"gid", raw.gid), size=number(b"size", raw.size),
        mtime=number(b"mtime", raw.mtime), linkname=os.fsdecode(linkname),
        devmajor=raw.devmajor, devminor=raw.devminor, xattrs=xattrs,
    )
