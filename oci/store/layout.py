"""The OCI image layout files at the store's root: `oci-layout` and `index.json`.

index.json is derived from the database (the source of truth for tags) and rewritten
whole, atomically, by whoever changed the tags while holding the store's write lock.

How tags become `org.opencontainers.image.ref.name`: tools that read a layout
(`skopeo … oci:ROOT:NAME`, `umoci … --image ROOT:NAME`) split at the first colon and look
for an entry whose ref.name equals NAME, and fail when two entries share one. So each tag
gets one entry named by its familiar form (`busybox:latest`, `localhost:5000/app:1.2`),
and a `latest` tag a second entry without the tag (`busybox`), as docker would read the
bare name. `io.containerd.image.name` carries the full reference
(`docker.io/library/busybox:latest`). Images without a tag are listed without a name,
so that layout tools (e.g. `umoci gc`) still see their blobs as in use."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from oci.atomicfile import atomic_write
from oci.mediatypes import OCI_INDEX, OCI_LAYOUT_VERSION
from oci.reference import Reference, parse_reference

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"


@dataclass(frozen=True)
class LayoutEntry:
    media_type: str
    digest: str
    size: int
    reference: str | None  # full reference, None for an image without a tag


def ref_names(reference: Reference) -> list[str]:
    """The ref.name values one tag appears under (see the module docstring)."""
    familiar = reference.familiar()
    names = [familiar]
    if reference.tag == "latest" and familiar.endswith(":latest"):
        names.append(familiar[: -len(":latest")])
    return names


def index_document(entries: list[LayoutEntry]) -> dict:
    manifests = []
    for entry in sorted(entries, key=lambda e: (e.reference or "", e.digest)):
        descriptor = {"mediaType": entry.media_type, "digest": entry.digest, "size": entry.size}
        if entry.reference is None:
            manifests.append(descriptor)
            continue
        for name in ref_names(parse_reference(entry.reference)):
            manifests.append({**descriptor, "annotations": {CONTAINERD_NAME: entry.reference, REF_NAME: name}})
    return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}


def write_oci_layout(root: Path) -> None:
    path = root / "oci-layout"
    if not path.exists():
        atomic_write(path, json.dumps({"imageLayoutVersion": OCI_LAYOUT_VERSION}).encode())


def write_index(root: Path, entries: list[LayoutEntry]) -> None:
    document = index_document(entries)
    atomic_write(root / "index.json", json.dumps(document, indent=2).encode() + b"\n")
