"""Descriptors, image manifests and indexes (OCI image-spec v1.1, Docker schema 2).

Parsing validates what a consumer relies on (schemaVersion 2, required fields, digest
syntax, sizes) and raises `InvalidManifest` with one line naming the field. Parsed
objects are for reading: the bytes of a manifest that was pulled or loaded are kept as
they came, since re-serialising would change its digest. `to_json` is for manifests we
make ourselves and is canonical (sorted keys, no spaces), so equal content gives equal
digests on every machine."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from oci import mediatypes
from oci.digest import is_digest
from oci.errors import InvalidManifest


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no insignificant whitespace, UTF-8 (non-ASCII kept as is)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _require(d: dict, key: str, kind: type, where: str) -> Any:
    if key not in d:
        raise InvalidManifest(f"{where}: missing required field {key!r}")
    return _check_type(d[key], kind, f"{where}.{key}")


def _optional(d: dict, key: str, kind: type, where: str) -> Any:
    value = d.get(key)
    if value is None:
        return None
    return _check_type(value, kind, f"{where}.{key}")


_JSON_KINDS = {dict: "object", list: "array", str: "string", int: "integer", bool: "boolean"}


def _check_type(value: Any, kind: type, where: str) -> Any:
    # bool is an int subclass in Python but never a valid size or schemaVersion.
    wrong_bool = isinstance(value, bool) and kind is int
    if wrong_bool or not isinstance(value, kind):
        shown = json.dumps(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise InvalidManifest(f"{where}: expected {_JSON_KINDS[kind]}, got {shown}")
    return value


def _string_map(d: dict, key: str, where: str) -> dict[str, str] | None:
    value = _optional(d, key, dict, where)
    if value is not None:
        for k, v in value.items():
            _check_type(v, str, f"{where}.{key}[{k!r}]")
    return value


def _string_list(d: dict, key: str, where: str) -> list[str] | None:
    value = _optional(d, key, list, where)
    if value is not None:
        for i, item in enumerate(value):
            _check_type(item, str, f"{where}.{key}[{i}]")
    return value


@dataclass(frozen=True)
class Platform:
    architecture: str
    os: str
    variant: str | None = None
    os_version: str | None = None
    os_features: list[str] | None = None
    features: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.features:
            out["features"] = list(self.features)
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "platform") -> Platform:
        _check_type(d, dict, where)
        return cls(
            architecture=_require(d, "architecture", str, where),
            os=_require(d, "os", str, where),
            variant=_optional(d, "variant", str, where),
            os_version=_optional(d, "os.version", str, where),
            os_features=_string_list(d, "os.features", where),
            features=_string_list(d, "features", where),
        )

    def __str__(self) -> str:
        """`linux/arm64/v8`, the form of `--platform`."""
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] | None = None
    platform: Platform | None = None
    artifact_type: str | None = None
    urls: list[str] | None = None
    data: str | None = None  # base64 of the content, embedded (image-spec 1.1)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.data is not None:
            out["data"] = self.data
        if self.platform is not None:
            out["platform"] = self.platform.to_dict()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "descriptor") -> Descriptor:
        _check_type(d, dict, where)
        digest = _require(d, "digest", str, where)
        if not is_digest(digest):
            raise InvalidManifest(
                f"{where}.digest: {digest!r} is not a sha256/sha512 digest (algorithm:hex)"
            )
        size = _require(d, "size", int, where)
        if size < 0:
            raise InvalidManifest(f"{where}.size: must not be negative, got {size}")
        platform = d.get("platform")
        return cls(
            media_type=_require(d, "mediaType", str, where),
            digest=digest,
            size=size,
            annotations=_string_map(d, "annotations", where),
            platform=None if platform is None else Platform.from_dict(platform, f"{where}.platform"),
            artifact_type=_optional(d, "artifactType", str, where),
            urls=_string_list(d, "urls", where),
            data=_optional(d, "data", str, where),
        )


def _schema_version(d: dict, where: str) -> None:
    version = _require(d, "schemaVersion", int, where)
    if version != 2:
        hint = " (Docker schema 1 is not supported)" if version == 1 else ""
        raise InvalidManifest(f"{where}.schemaVersion: expected 2, got {version}{hint}")


@dataclass(frozen=True)
class Manifest:
    config: Descriptor
    layers: list[Descriptor]
    media_type: str | None = mediatypes.OCI_MANIFEST
    schema_version: int = 2
    annotations: dict[str, str] | None = None
    subject: Descriptor | None = None
    artifact_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": self.schema_version}
        if self.media_type:
            out["mediaType"] = self.media_type
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["config"] = self.config.to_dict()
        out["layers"] = [layer.to_dict() for layer in self.layers]
        if self.subject is not None:
            out["subject"] = self.subject.to_dict()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def to_json(self) -> bytes:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, d: Any, where: str = "manifest") -> Manifest:
        _check_type(d, dict, where)
        _schema_version(d, where)
        layers = _require(d, "layers", list, where)
        subject = d.get("subject")
        return cls(
            config=Descriptor.from_dict(_require(d, "config", dict, where), f"{where}.config"),
            layers=[Descriptor.from_dict(x, f"{where}.layers[{i}]") for i, x in enumerate(layers)],
            media_type=_optional(d, "mediaType", str, where),
            schema_version=2,
            annotations=_string_map(d, "annotations", where),
            subject=None if subject is None else Descriptor.from_dict(subject, f"{where}.subject"),
            artifact_type=_optional(d, "artifactType", str, where),
        )


@dataclass(frozen=True)
class Index:
    manifests: list[Descriptor]
    media_type: str | None = mediatypes.OCI_INDEX
    schema_version: int = 2
    annotations: dict[str, str] | None = None
    subject: Descriptor | None = None
    artifact_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": self.schema_version}
        if self.media_type:
            out["mediaType"] = self.media_type
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["manifests"] = [m.to_dict() for m in self.manifests]
        if self.subject is not None:
            out["subject"] = self.subject.to_dict()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def to_json(self) -> bytes:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, d: Any, where: str = "index") -> Index:
        _check_type(d, dict, where)
        _schema_version(d, where)
        manifests = _require(d, "manifests", list, where)
        subject = d.get("subject")
        return cls(
            manifests=[
                Descriptor.from_dict(x, f"{where}.manifests[{i}]") for i, x in enumerate(manifests)
            ],
            media_type=_optional(d, "mediaType", str, where),
            schema_version=2,
            annotations=_string_map(d, "annotations", where),
            subject=None if subject is None else Descriptor.from_dict(subject, f"{where}.subject"),
            artifact_type=_optional(d, "artifactType", str, where),
        )


def parse_manifest(data: bytes, media_type: str | None = None) -> Manifest | Index:
    """Parse manifest or index bytes; `media_type` is what the transport said (the
    registry's Content-Type or the referring descriptor) and must agree with the body."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError) as e:
        raise InvalidManifest(f"manifest is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidManifest("manifest is not a JSON object")
    body_type = doc.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise InvalidManifest("manifest.mediaType: expected string")
    if media_type and body_type and media_type != body_type:
        raise InvalidManifest(f"manifest mediaType {body_type!r} does not match {media_type!r}")
    kind = body_type or media_type
    if kind in (mediatypes.DOCKER_MANIFEST_SCHEMA1, mediatypes.DOCKER_MANIFEST_SCHEMA1_SIGNED):
        raise InvalidManifest("Docker schema 1 manifests are not supported")
    if mediatypes.is_index(kind):
        return Index.from_dict(doc)
    if mediatypes.is_manifest(kind):
        return Manifest.from_dict(doc)
    if kind:
        raise InvalidManifest(f"unsupported manifest media type {kind!r}")
    # mediaType is optional in OCI; the shape tells the two kinds apart.
    if "manifests" in doc:
        return Index.from_dict(doc)
    if "config" in doc or "layers" in doc:
        return Manifest.from_dict(doc)
    raise InvalidManifest("manifest has neither 'manifests' nor 'config'/'layers'")
