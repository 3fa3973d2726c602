"""Image archives: what `docker save` writes and `docker load` reads, and OCI layout tars.

`save` writes one tar that both kinds of reader understand, as docker 25+ does: blobs
under `blobs/sha256/`, an OCI `oci-layout` + `index.json` (entries annotated with
`io.containerd.image.name` = the full reference and `org.opencontainers.image.ref.name`
= the tag), and docker's `manifest.json` + `repositories` pointing at the same blobs.
Layers go out as stored (usually gzip); docker load decompresses them itself.

`load` reads docker's `manifest.json` first (docker 20.10's legacy layout with
`<id>.json` and `<layer>/layer.tar`, and docker 25's blobs layout), else an OCI layout's
`index.json`. Config bytes are stored exactly as found, so the image ID (the config
digest) stays the one docker shows; every layer is checked against the config's
diff IDs, every OCI blob against its descriptor's digest and size."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from oci.compression import detect_compression, open_decompressed
from oci.config import ImageConfig
from oci.digest import digest_bytes, hasher_digest, new_hasher, split_digest
from oci.errors import InvalidArchive, UserError
from oci.layercheck import LayerCheck, TeeReader
from oci.manifest import Descriptor, Index, Manifest, parse_manifest
from oci.mediatypes import OCI_INDEX, OCI_LAYOUT_VERSION, is_index, is_manifest, layer_media_type
from oci.reference import parse_reference
from oci.store import Store, StoredImage
from oci.store.layout import CONTAINERD_NAME, REF_NAME

CHUNK = 1 << 20


# ---- save --------------------------------------------------------------------------

@dataclass
class SaveEntry:
    image: StoredImage
    tags: list[str]  # full references


def select_images(store: Store, names: list[str]) -> list[SaveEntry]:
    """What `docker save NAME…` exports: a tag saves that tag, a bare repository name
    all its tags, an ID the image with none. One entry per image, in the order named."""
    entries: dict[str, SaveEntry] = {}

    def add(image: StoredImage, tags: list[str]) -> None:
        entry = entries.setdefault(image.id, SaveEntry(image, []))
        entry.tags.extend(t for t in tags if t not in entry.tags)

    for name in names:
        try:
            bare = parse_reference(name, default_tag=False)
        except UserError:
            bare = None
        if bare is not None and bare.tag is None and bare.digest is None:
            tagged = store.tagged(bare.name)
            if tagged:
                for tag, image in tagged:
                    add(image, [tag])
                continue
        image, matched = store.lookup(name)
        add(image, [matched] if matched and "@" not in matched else [])
    return list(entries.values())


class _ArchiveWriter:
    def __init__(self, out: BinaryIO) -> None:
        self._tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)
        self._written: set[str] = set()

    def _info(self, name: str, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = 0o755 if directory else 0o644
        info.mtime = 0
        info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
        return info

    def directory(self, name: str) -> None:
        if name not in self._written:
            self._tar.addfile(self._info(name, directory=True))
            self._written.add(name)

    def file(self, name: str, data: bytes) -> None:
        self._tar.addfile(self._info(name, len(data)), io.BytesIO(data))
        self._written.add(name)

    def blob(self, store: Store, digest: str) -> str:
        algorithm, hexpart = split_digest(digest)
        name = f"blobs/{algorithm}/{hexpart}"
        if name not in self._written:
            self.directory("blobs")
            self.directory(f"blobs/{algorithm}")
            with store.open_blob(digest) as f:
                size = f.seek(0, io.SEEK_END)
                f.seek(0)
                self._tar.addfile(self._info(name, size), f)
            self._written.add(name)
        return name

    def close(self) -> None:
        self._tar.close()


def save(store: Store, entries: list[SaveEntry], out: BinaryIO) -> None:
    writer = _ArchiveWriter(out)
    docker_manifest = []
    repositories: dict[str, dict[str, str]] = {}
    index_entries = []
    for entry in entries:
        image = entry.image
        manifest = store.manifest(image)
        writer.blob(store, image.manifest_digest)
        config_path = writer.blob(store, manifest.config.digest)
        layer_paths = [writer.blob(store, layer.digest) for layer in manifest.layers]
        familiar_tags = [parse_reference(t).familiar() for t in entry.tags]
        docker_manifest.append({"Config": config_path, "RepoTags": familiar_tags or None, "Layers": layer_paths})
        descriptor = image.manifest_descriptor.to_dict()
        for tag in entry.tags:
            reference = parse_reference(tag)
            if layer_paths:
                repositories.setdefault(reference.familiar_name(), {})[reference.tag] = layer_paths[-1].rsplit("/", 1)[1]
            index_entries.append({**descriptor, "annotations": {CONTAINERD_NAME: tag, REF_NAME: reference.tag}})
        if not entry.tags:
            index_entries.append(descriptor)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index_entries}
    writer.file("index.json", json.dumps(index).encode())
    writer.file("manifest.json", json.dumps(docker_manifest).encode())
    writer.file("oci-layout", json.dumps({"imageLayoutVersion": OCI_LAYOUT_VERSION}).encode())
    if repositories:
        writer.file("repositories", json.dumps(repositories).encode())
    writer.close()


# ---- load --------------------------------------------------------------------------

@dataclass
class LoadedImage:
    image: StoredImage
    tags: list[str]  # familiar references, as `Loaded image:` prints them


class _Archive:
    """Random access to the members of a tar file by normalised name."""

    def __init__(self, fileobj: BinaryIO, shown: str) -> None:
        try:
            self._tar = tarfile.open(fileobj=fileobj, mode="r:")
            self._members = {self._normal(m.name): m for m in self._tar.getmembers()}
        except (tarfile.TarError, EOFError, OSError):
            raise InvalidArchive(f"{shown}: not a tar archive (plain or gzip, bzip2, xz, zstd)") from None

    @staticmethod
    def _normal(name: str) -> str:
        while name.startswith("./"):
            name = name[2:]
        return name.strip("/")

    def has(self, name: str) -> bool:
        return self._normal(name) in self._members

    def open(self, name: str) -> BinaryIO:
        member = self._members.get(self._normal(name))
        if member is None:
            raise InvalidArchive(f"archive has no {name}")
        if member.issym():
            # docker save links a layer shared between images to its first copy.
            target = "/".join([*member.name.split("/")[:-1], member.linkname]).split("/")
            parts: list[str] = []
            for part in target:
                if part == "..":
                    parts and parts.pop()
                elif part not in ("", "."):
                    parts.append(part)
            return self.open("/".join(parts))
        f = self._tar.extractfile(member)
        if f is None:
            raise InvalidArchive(f"archive member {name} is not a file")
        return f

    def read(self, name: str) -> bytes:
        with self.open(name) as f:
            return f.read()

    def json(self, name: str):
        try:
            return json.loads(self.read(name))
        except ValueError as e:
            raise InvalidArchive(f"{name} in the archive is not valid JSON: {e}") from None


def load(store: Store, fileobj: BinaryIO) -> list[LoadedImage]:
    """Load every image of the archive `fileobj` (plain, or compressed as docker load
    accepts it: gzip, bzip2, xz, zstd; a pipe is fine too)."""
    name = getattr(fileobj, "name", None)
    shown = name if isinstance(name, str) else "input"
    with store.lease():
        head = _peek(fileobj)
        if detect_compression(head) is None and _seekable(fileobj):
            return _load_from(store, fileobj, shown)
        # Members are read in any order: a compressed stream or a pipe is unpacked into
        # one seekable temp file first, instead of being decompressed again per member.
        with tempfile.TemporaryFile(dir=store.tmp_dir) as spool:
            shutil.copyfileobj(open_decompressed(fileobj), spool, CHUNK)
            spool.seek(0)
            return _load_from(store, spool, shown)


def _peek(fileobj: BinaryIO) -> bytes:
    peek = getattr(fileobj, "peek", None)
    return peek(8)[:8] if peek else b""


def _seekable(fileobj: BinaryIO) -> bool:
    try:
        return fileobj.seekable()
    except (AttributeError, OSError):
        return False


def _load_from(store: Store, fileobj: BinaryIO, shown: str) -> list[LoadedImage]:
    archive = _Archive(fileobj, shown)
    if archive.has("manifest.json"):
        return list(_load_docker(store, archive))
    if archive.has("index.json"):
        return list(_load_oci(store, archive))
    raise InvalidArchive(f"{shown}: has neither manifest.json (docker save) nor index.json (OCI layout)")


def _load_docker(store: Store, archive: _Archive) -> Iterator[LoadedImage]:
    entries = archive.json("manifest.json")
    if not isinstance(entries, list):
        raise InvalidArchive("manifest.json in the archive is not a list")
    for n, entry in enumerate(entries):
        where = f"manifest.json[{n}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) \
                or not isinstance(entry.get("Layers"), list):
            raise InvalidArchive(f"{where}: needs Config and Layers")
        config_bytes = archive.read(entry["Config"])
        tags = [str(parse_reference(t)) for t in entry.get("RepoTags") or []]
        known = _existing_image(store, config_bytes)
        if known is not None:
            # Same config digest, same diff IDs: the layers are already here.
            yield _tag_known(store, known, tags)
            continue
        config = ImageConfig.from_json(config_bytes)
        if len(config.diff_ids) != len(entry["Layers"]):
            raise InvalidArchive(f"{where}: {len(entry['Layers'])} layers but the config lists "
                                 f"{len(config.diff_ids)} diff IDs")
        check = LayerCheck()
        layers = []
        for path, diff_id in zip(entry["Layers"], config.diff_ids):
            with archive.open(path) as member:
                layers.append(_ingest_layer(store, member, check, path, diff_id))
        image = store.commit_image(config_bytes, layers, tags=tags)
        yield LoadedImage(image, [parse_reference(t).familiar() for t in tags])


def _existing_image(store: Store, config_bytes: bytes) -> StoredImage | None:
    try:
        return store.get(digest_bytes(config_bytes))
    except UserError:
        return None


def _tag_known(store: Store, image: StoredImage, tags: list[str]) -> LoadedImage:
    for tag in tags:
        store.tag(image, tag)
    return LoadedImage(store.get(image.id), [parse_reference(t).familiar() for t in tags])


def _ingest_layer(store: Store, member: BinaryIO, check: LayerCheck, path: str, diff_id: str,
                  descriptor: Descriptor | None = None) -> Descriptor:
    """Store one layer as found (compressed or not) while checking its entries and its
    diff ID in the same pass; returns its descriptor."""
    peek = getattr(member, "peek", None)
    compression = detect_compression(peek(8)[:8]) if peek else None
    if compression not in (None, "gzip", "zstd"):
        raise InvalidArchive(f"layer {path}: {compression} layers are not supported (gzip, zstd or none)")
    with store.blob_writer() as blob:
        raw = TeeReader(member, blob.write)
        stream = raw if compression is None else TeeReader(open_decompressed(raw), lambda _data: None)
        got = check.check_stream(stream)
        raw.drain()
        if got != diff_id:
            raise InvalidArchive(f"layer {path}: content does not match diff ID {diff_id}")
        if descriptor is None:
            info = blob.commit()
            descriptor = Descriptor(layer_media_type(compression), info.digest, info.size)
        else:
            blob.commit(descriptor.digest, descriptor.size)
    store.record_layer_size(diff_id, stream.size)
    return descriptor


def _load_oci(store: Store, archive: _Archive) -> Iterator[LoadedImage]:
    index = parse_manifest(archive.read("index.json"))
    if not isinstance(index, Index):
        raise InvalidArchive("index.json in the archive is not an image index")
    for descriptor, name in _image_manifests(archive, index, None):
        manifest_bytes = _read_blob(archive, descriptor)
        manifest = parse_manifest(manifest_bytes, descriptor.media_type)
        assert isinstance(manifest, Manifest)
        tags = [name] if name else []
        config_bytes = _read_blob(archive, manifest.config)
        known = _existing_image(store, config_bytes)
        if known is not None and known.manifest_digest == descriptor.digest:
            yield _tag_known(store, known, tags)
            continue
        store.ingest_bytes(config_bytes, manifest.config.digest)
        diff_ids = ImageConfig.from_json(config_bytes).diff_ids
        if len(diff_ids) != len(manifest.layers):
            raise InvalidArchive(f"manifest {descriptor.digest}: {len(manifest.layers)} layers but the config "
                                 f"lists {len(diff_ids)} diff IDs")
        check = LayerCheck()
        for layer, diff_id in zip(manifest.layers, diff_ids):
            path = _blob_name(layer.digest)
            with archive.open(path) as member:
                _ingest_layer(store, member, check, path, diff_id, layer)
        image = store.add_image(manifest_bytes, descriptor.media_type, tags=tags)
        yield LoadedImage(image, [parse_reference(t).familiar() for t in tags])


def _image_manifests(archive: _Archive, index: Index, inherited: str | None) -> Iterator[tuple[Descriptor, str | None]]:
    """Each image manifest with its full reference, descending nested indexes; of a
    multi-platform index only the host's platform (linux/amd64) is taken."""
    from oci.importer import host_architecture

    for descriptor in index.manifests:
        name = _reference_of(descriptor) or inherited
        if is_index(descriptor.media_type):
            nested = parse_manifest(_read_blob(archive, descriptor), descriptor.media_type)
            assert isinstance(nested, Index)
            yield from _image_manifests(archive, nested, name)
        elif is_manifest(descriptor.media_type):
            platform = descriptor.platform
            if platform is None or (platform.os == "linux" and platform.architecture == host_architecture()):
                yield descriptor, name


def _reference_of(descriptor: Descriptor) -> str | None:
    annotations = descriptor.annotations or {}
    name = annotations.get(CONTAINERD_NAME)
    if not name:
        ref_name = annotations.get(REF_NAME, "")
        # A ref.name that is only a tag ("latest") names no repository.
        name = ref_name if ("/" in ref_name or ":" in ref_name) else None
    if not name:
        return None
    try:
        return str(parse_reference(name))
    except UserError:
        return None


def _blob_name(digest: str) -> str:
    algorithm, hexpart = split_digest(digest)
    return f"blobs/{algorithm}/{hexpart}"


def _read_blob(archive: _Archive, descriptor: Descriptor) -> bytes:
    data = archive.read(_blob_name(descriptor.digest))
    hasher = new_hasher(split_digest(descriptor.digest)[0])
    hasher.update(data)
    if hasher_digest(hasher) != descriptor.digest or len(data) != descriptor.size:
        raise InvalidArchive(f"blob {descriptor.digest} in the archive does not match its descriptor")
    return data
