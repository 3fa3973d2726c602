"""Choosing one image of a multi-platform index, as `docker pull --platform` does."""

from __future__ import annotations

import platform as host_platform
from dataclasses import dataclass

from oci.errors import UserError
from oci.manifest import Descriptor, Index

_MACHINE_ARCH = {
    "x86_64": ("amd64", None), "amd64": ("amd64", None), "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"), "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"),
    "i386": ("386", None), "i686": ("386", None), "ppc64le": ("ppc64le", None),
    "s390x": ("s390x", None), "riscv64": ("riscv64", None),
}


@dataclass(frozen=True)
class PlatformSpec:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def host_platform_spec() -> PlatformSpec:
    architecture, variant = _MACHINE_ARCH.get(host_platform.machine().lower(), (host_platform.machine(), None))
    return PlatformSpec("linux", architecture, variant)


def parse_platform(text: str) -> PlatformSpec:
    """`linux/arm64/v8`, `linux/amd64`, `arm64` (os defaults to linux)."""
    parts = [p.strip().lower() for p in text.split("/")]
    if not all(parts) or not 1 <= len(parts) <= 3:
        raise UserError(f"invalid platform {text!r}: expected os/arch[/variant]")
    if len(parts) == 1:
        return PlatformSpec("linux", *_normalise_arch(parts[0], None))
    variant = parts[2] if len(parts) == 3 else None
    return PlatformSpec(parts[0], *_normalise_arch(parts[1], variant))


def _normalise_arch(architecture: str, variant: str | None) -> tuple[str, str | None]:
    if architecture in ("x86_64", "x86-64"):
        return "amd64", None
    if architecture == "aarch64":
        return "arm64", variant
    return architecture, variant


def select_manifest(index: Index, wanted: PlatformSpec) -> Descriptor:
    """The first entry whose platform matches: os and architecture equal; the variant
    equal when both name one (arm64's `v8` is its default, so none matches it)."""
    for descriptor in index.manifests:
        p = descriptor.platform
        if p is None or p.os != wanted.os or p.architecture != wanted.architecture:
            continue
        have = p.variant or ("v8" if p.architecture == "arm64" else None)
        want = wanted.variant or ("v8" if wanted.architecture == "arm64" else None)
        if want is None or have is None or have == want:
            return descriptor
    raise UserError(f"no matching manifest for {wanted} in the manifest list entries")
