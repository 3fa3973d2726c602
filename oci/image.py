"""The one interface every place an image lives offers (the local store, a registry, a
docker-archive or OCI tarball), after go-containerregistry's `v1.Image`: push, pull,
save, load and copy are "read an Image from one place, write it to another"."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from oci.config import ImageConfig
from oci.manifest import Descriptor, Manifest


@runtime_checkable
class Image(Protocol):
    def digest(self) -> str:
        """The manifest's digest: the sha256 of its bytes as stored, never re-serialised."""
        ...

    def manifest(self) -> Manifest:
        ...

    def config(self) -> ImageConfig:
        """The config the manifest points to; its digest is docker's image ID."""
        ...

    def layers(self) -> list[Descriptor]:
        """The layer descriptors, base layer first (the manifest's `layers`)."""
        ...
