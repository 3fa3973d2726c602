"""`pybuild import`: a root filesystem tar (plain, gzip, zstd, xz, bzip2) becomes a
one-layer image, as `docker import` makes it.

The tar is read once: decompressed, checked entry by entry against the extraction rules
(oci.layercheck: a layer that would write outside its root is refused now, as docker
refuses it), hashed for the diff ID, recompressed with gzip and written into a new blob,
all in one streaming pass (no unpacking: the snapshot is made on first use). The layer keeps the tar's bytes exactly, so its diff ID is the sha256 of
the uncompressed input, as docker computes it."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import BinaryIO

from oci.compression import LayerWriter, open_decompressed
from oci.config import HistoryEntry, ImageConfig, apply_changes
from oci.errors import InvalidArchive
from oci.layercheck import LayerCheck, TeeReader
from oci.manifest import Descriptor
from oci.mediatypes import OCI_LAYER_GZIP
from oci.store import Store, StoredImage
from oci.tarformat import BLOCK_SIZE, HeaderError, decode_header

CHUNK = 1 << 20

# Python's machine names → GOARCH, the names image configs use.
_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
           "armv7l": "arm", "i686": "386", "i386": "386", "ppc64le": "ppc64le", "s390x": "s390x",
           "riscv64": "riscv64"}


def host_architecture() -> str:
    machine = platform.machine().lower()
    return _GOARCH.get(machine, machine)


def rfc3339_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class ImportOptions:
    changes: Sequence[str] = field(default_factory=list)  # `--change` Dockerfile lines
    message: str | None = None  # `-m`; docker's default is "Imported from -"


def check_tar_start(data: bytes, name: str) -> None:
    """Refuse input that does not start with a tar header (a zip, a text file), before
    it becomes a layer no runtime could unpack; an empty archive (zero blocks) passes."""
    block = data[:BLOCK_SIZE]
    if len(block) < BLOCK_SIZE:
        raise InvalidArchive(f"{name}: not a tar archive (too short)")
    if block == bytes(BLOCK_SIZE):
        return
    try:
        decode_header(block)
    except HeaderError:
        raise InvalidArchive(f"{name}: not a tar archive (plain or gzip, zstd, xz, bzip2)") from None


def import_rootfs(store: Store, tar: BinaryIO, reference: str | None,
                  options: ImportOptions | None = None) -> StoredImage:
    options = options or ImportOptions()
    name = getattr(tar, "name", None)
    name = name if isinstance(name, str) and name != "<stdin>" else "-"
    # A bad --change fails here, before the tar is read and stored.
    config = apply_changes(ImageConfig(architecture=host_architecture(), os="linux"), options.changes)
    with store.lease():
        with store.blob_writer() as blob:
            layer = LayerWriter(blob, "gzip")
            source = open_decompressed(tar)
            first = b""
            while len(first) < BLOCK_SIZE and (more := source.read(CHUNK)):
                first += more  # a stream may hand out fewer bytes than asked
            check_tar_start(first, name)
            stream = TeeReader(source, layer.write, head=first)
            LayerCheck().check_stream(stream)
            stream.drain()
            uncompressed = stream.size
            digests = layer.close()
            blob.commit(digests.digest, digests.size)
        store.record_layer_size(digests.diff_id, uncompressed)
        # docker's CLI sends a file as the request body, so the daemon's default
        # message names the source "-" whether the tar came from a file or stdin.
        comment = options.message or "Imported from -"
        config.created = rfc3339_now()
        config.diff_ids = [digests.diff_id]
        config.history = [HistoryEntry(created=config.created, comment=comment)]
        config.extra = {**config.extra, "comment": comment}
        return store.commit_image(
            config.to_json(),
            [Descriptor(OCI_LAYER_GZIP, digests.digest, digests.size)],
            tags=[reference] if reference else [],
        )
