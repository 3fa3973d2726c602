"""The local image store: see the package docstring for the layout and the rules."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from oci.errors import BlobNotFound, ImageConflict, ImageNotFound, InvalidReference, UserError
from oci.manifest import Descriptor, Manifest, parse_manifest
from oci.mediatypes import OCI_CONFIG, OCI_MANIFEST
from oci.reference import parse_reference
from oci.store import db, layout, lookup
from oci.store.blobs import BlobInfo, BlobStore, BlobWriter
from oci.store.lock import FileLock
from oci.store.snapshots import Snapshots

_HEX_PREFIX = re.compile(r"[0-9a-f]{1,64}")


def default_root() -> Path:
    """`PYBUILD_ROOT`, else `/var/lib/pybuild` for root, else `$XDG_DATA_HOME/pybuild`."""
    return Path(lookup.default_root())


@dataclass(frozen=True)
class StoredImage:
    id: str  # the config digest, docker's image ID
    manifest_digest: str
    manifest_media_type: str
    manifest_size: int
    created: str | None
    size: int
    added: float
    tags: tuple[str, ...]  # full references, sorted
    repo_digests: tuple[str, ...]  # name@sha256:… , sorted

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:12]

    @property
    def manifest_descriptor(self) -> Descriptor:
        return Descriptor(self.manifest_media_type, self.manifest_digest, self.manifest_size)


@dataclass
class RemovalReport:
    untagged: list[str]  # familiar references, as docker prints them
    deleted: list[str]  # image IDs
    reclaimed: int = 0


def familiar(name: str) -> str:
    """`docker.io/library/busybox:latest` → `busybox:latest`; digests kept."""
    return parse_reference(name).familiar()


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        self.blobs = BlobStore(root / "blobs", self.tmp_dir)
        self.snapshots = Snapshots(root / "snapshots", self.tmp_dir)
        self._write_lock = FileLock(root / "lock")
        self._gc_lock = FileLock(root / "gc.lock")
        self._thread_lock = threading.RLock()
        self._db = db.connect(root / "pybuild.db")

    @classmethod
    def open(cls, root: Path | str | None = None) -> Store:
        root = Path(root) if root is not None else default_root()
        for directory in (root, root / "blobs" / "sha256", root / "tmp", root / "snapshots"):
            directory.mkdir(parents=True, exist_ok=True)
        layout.write_oci_layout(root)
        store = cls(root)
        if not (root / "index.json").exists():
            with store._writing():
                store._rewrite_index()
        return store

    def close(self) -> None:
        self._db.close()
        self._write_lock.close()
        self._gc_lock.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- locking -------------------------------------------------------------------

    @contextmanager
    def lease(self) -> Iterator[None]:
        """Keep garbage collection away while held (shared among processes): wrap the
        span from ingesting blobs to `add_image`, or from `ensure_snapshots` to the end of
        their use, so a concurrent prune cannot delete what is not yet referenced."""
        with self._gc_lock.hold(shared=True):
            yield

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Serialise tag and image changes (and the index.json they imply) between
        threads and processes; the SQLite transaction inside commits before the lock
        is released, so index.json is always rewritten from committed state."""
        with self._thread_lock, self._write_lock.hold():
            yield

    def _all(self, sql: str, params: tuple = ()) -> list[tuple]:
        # One connection serves all threads; the lock keeps a reader out of another
        # thread's open write transaction.
        with self._thread_lock:
            return self._db.execute(sql, params).fetchall()

    def _one(self, sql: str, params: tuple = ()) -> tuple | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    # ---- blobs ---------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self.blobs.path(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blobs.has(digest)

    def open_blob(self, digest: str) -> BinaryIO:
        try:
            return self.blobs.open(digest)
        except FileNotFoundError:
            raise BlobNotFound(f"blob {digest} is not in the store {self.root}") from None

    def read_blob(self, digest: str) -> bytes:
        with self.open_blob(digest) as f:
            return f.read()

    @contextmanager
    def blob_writer(self, algorithm: str = "sha256") -> Iterator[BlobWriter]:
        """A new blob to stream into; call `.commit(expected_digest)` inside the block."""
        with self.lease(), self.blobs.writer(algorithm) as writer:
            yield writer

    def ingest(self, stream: BinaryIO, expected_digest: str | None = None,
               expected_size: int | None = None) -> BlobInfo:
        """Store what `stream` yields as a blob; a digest or size that does not match
        raises DigestMismatch and nothing is stored."""
        if expected_digest is not None and self.blobs.has(expected_digest):
            return BlobInfo(expected_digest, self.blobs.size(expected_digest))
        with self.lease():
            return self.blobs.ingest(stream, expected_digest, expected_size)

    def ingest_bytes(self, data: bytes, expected_digest: str | None = None) -> BlobInfo:
        with self.lease():
            return self.blobs.ingest_bytes(data, expected_digest)

    def layer_size(self, diff_id: str) -> int | None:
        row = self._one("SELECT size FROM layers WHERE diff_id = ?", (diff_id,))
        return row[0] if row else None

    def record_layer_size(self, diff_id: str, size: int) -> None:
        """Remember the uncompressed size of a layer (what `images` shows as SIZE)."""
        with self._thread_lock, db.write(self._db):
            self._db.execute("INSERT OR REPLACE INTO layers(diff_id, size) VALUES (?, ?)", (diff_id, size))

    # ---- images --------------------------------------------------------------------

    def add_image(self, manifest: bytes, media_type: str | None = None, *,
                  tags: Iterable[str] = (), repo_digests: Iterable[str] = ()) -> StoredImage:
        """Register an image whose config and layer blobs are in the store, from its
        manifest bytes (kept exactly). Tags move to it from any image that had them."""
        with self.lease():
            return self._add_image(manifest, media_type, tags, repo_digests)

    def _add_image(self, manifest: bytes, media_type: str | None, tags: Iterable[str],
                   repo_digests: Iterable[str]) -> StoredImage:
        parsed = parse_manifest(manifest, media_type)
        if not isinstance(parsed, Manifest):
            raise UserError("an image index cannot be stored as one image; add each platform's manifest")
        for descriptor in [parsed.config, *parsed.layers]:
            if not self.blobs.has(descriptor.digest):
                raise BlobNotFound(f"blob {descriptor.digest} of manifest is not in the store")
        config = json.loads(self.blobs.read(parsed.config.digest))
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        manifest_info = self.ingest_bytes(manifest)
        tag_names = [self._tag_name(t) for t in tags]
        digest_names = [str(parse_reference(r)) for r in repo_digests]
        with self._writing():
            with db.write(self._db) as conn:
                size = self._image_size(conn, parsed, diff_ids)
                conn.execute(
                    "INSERT INTO images(id, manifest_digest, manifest_media_type, manifest_size, created, size, added)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
                    " manifest_digest=excluded.manifest_digest, manifest_media_type=excluded.manifest_media_type,"
                    " manifest_size=excluded.manifest_size, size=excluded.size",
                    (parsed.config.digest, manifest_info.digest, parsed.media_type or media_type or OCI_MANIFEST,
                     manifest_info.size, config.get("created"), size, time.time()),
                )
                for name in tag_names:
                    conn.execute("INSERT OR REPLACE INTO tags(name, image_id) VALUES (?, ?)",
                                 (name, parsed.config.digest))
                for name in digest_names:
                    conn.execute("INSERT OR REPLACE INTO repo_digests(name, image_id) VALUES (?, ?)",
                                 (name, parsed.config.digest))
            self._rewrite_index()
        return self.get(parsed.config.digest)

    def commit_image(self, config: bytes, layers: list[Descriptor], *, tags: Iterable[str] = (),
                     annotations: dict[str, str] | None = None) -> StoredImage:
        """Store `config` (bytes kept as given), write an OCI manifest for it and
        `layers` (blobs already in the store) and register the image."""
        config_info = self.ingest_bytes(config)
        manifest = Manifest(
            config=Descriptor(OCI_CONFIG, config_info.digest, config_info.size),
            layers=layers, media_type=OCI_MANIFEST, annotations=annotations,
        )
        return self.add_image(manifest.to_json(), OCI_MANIFEST, tags=tags)

    def _image_size(self, conn, manifest: Manifest, diff_ids: list[str]) -> int:
        total = 0
        for i, layer in enumerate(manifest.layers):
            row = None
            if i < len(diff_ids):
                row = conn.execute("SELECT size FROM layers WHERE diff_id = ?", (diff_ids[i],)).fetchone()
            total += row[0] if row else layer.size
        return total

    def _row_to_image(self, row) -> StoredImage:
        image_id = row[0]
        tags = tuple(r[0] for r in self._all("SELECT name FROM tags WHERE image_id = ? ORDER BY name", (image_id,)))
        digests = tuple(r[0] for r in self._all(
            "SELECT name FROM repo_digests WHERE image_id = ? ORDER BY name", (image_id,)))
        return StoredImage(*row, tags=tags, repo_digests=digests)

    _COLUMNS = "id, manifest_digest, manifest_media_type, manifest_size, created, size, added"

    def get(self, image_id: str) -> StoredImage:
        row = self._one(f"SELECT {self._COLUMNS} FROM images WHERE id = ?", (image_id,))
        if row is None:
            raise ImageNotFound(f"No such image: {image_id}")
        return self._row_to_image(row)

    def tagged(self, repository: str) -> list[tuple[str, StoredImage]]:
        """Every tag (full reference) of `repository` (`docker.io/library/busybox`)."""
        rows = self._all("SELECT name, image_id FROM tags WHERE name >= ? AND name < ? ORDER BY name",
                         (f"{repository}:", f"{repository};"))
        return [(name, self.get(image_id)) for name, image_id in rows]

    def images(self) -> list[StoredImage]:
        """All images, newest first (by the config's created time, as docker sorts)."""
        rows = self._all(f"SELECT {self._COLUMNS} FROM images")
        images = [self._row_to_image(r) for r in rows]
        return sorted(images, key=lambda i: (i.created or "", i.added), reverse=True)

    def resolve(self, name: str) -> StoredImage:
        """The image `name` means as docker reads it: a reference (`busybox`,
        `busybox:1.36`, `name@sha256:…`), a full image ID, `sha256:` + ID prefix, or an ID
        prefix. Raises ImageNotFound naming the reference."""
        return self.lookup(name)[0]

    def lookup(self, name: str) -> tuple[StoredImage, str | None]:
        """The image, and the tag or repo digest (full form) `name` matched, if it was
        a reference rather than an ID."""
        if name.startswith("sha256:"):
            return self._by_id_prefix(name[len("sha256:"):], name), None
        try:
            reference = parse_reference(name)
        except InvalidReference:
            reference = None
        if reference is not None:
            if reference.digest:
                key = f"{reference.name}@{reference.digest}"
                row = self._one("SELECT image_id FROM repo_digests WHERE name = ?", (key,))
            else:
                key = str(reference)
                row = self._one("SELECT image_id FROM tags WHERE name = ?", (key,))
            if row is not None:
                return self.get(row[0]), key
        if _HEX_PREFIX.fullmatch(name):
            return self._by_id_prefix(name, name), None
        raise ImageNotFound(f"No such image: {reference.familiar() if reference else name}")

    def _by_id_prefix(self, prefix: str, shown: str) -> StoredImage:
        if not _HEX_PREFIX.fullmatch(prefix):
            raise ImageNotFound(f"No such image: {shown}")
        rows = self._all("SELECT id FROM images WHERE id >= ? AND id < ?",
                         (f"sha256:{prefix}", f"sha256:{prefix}g"))
        if not rows:
            raise ImageNotFound(f"No such image: {shown}")
        if len(rows) > 1:
            raise UserError(f"image ID prefix {shown} is ambiguous: {len(rows)} images match")
        return self.get(rows[0][0])

    def manifest_bytes(self, image: StoredImage) -> bytes:
        return self.read_blob(image.manifest_digest)

    def manifest(self, image: StoredImage) -> Manifest:
        parsed = parse_manifest(self.manifest_bytes(image), image.manifest_media_type)
        assert isinstance(parsed, Manifest)
        return parsed

    def config_bytes(self, image: StoredImage) -> bytes:
        return self.read_blob(image.id)

    # ---- tags ----------------------------------------------------------------------

    @staticmethod
    def _tag_name(name: str) -> str:
        reference = parse_reference(name)
        if reference.digest:
            raise InvalidReference(f"refusing to create a tag with a digest reference: {name}")
        return str(reference)

    def tag(self, image: StoredImage, target: str) -> None:
        """Point tag `target` at `image` (moving it from any other image)."""
        name = self._tag_name(target)
        with self._writing():
            with db.write(self._db) as conn:
                conn.execute("INSERT OR REPLACE INTO tags(name, image_id) VALUES (?, ?)", (name, image.id))
            self._rewrite_index()

    def remove(self, name: str, *, force: bool = False) -> RemovalReport:
        """`docker rmi NAME` semantics. A tag is untagged; the image goes when no tag is
        left. An image ID removes the image with all its tags, but only with `force`
        when the tags span several repositories."""
        image, matched = self.lookup(name)
        report = RemovalReport([], [])
        with self._writing():
            with db.write(self._db) as conn:
                if matched is not None:
                    conn.execute("DELETE FROM tags WHERE name = ?", (matched,))
                    conn.execute("DELETE FROM repo_digests WHERE name = ?", (matched,))
                    report.untagged.append(familiar(matched))
                    still_tagged = conn.execute("SELECT 1 FROM tags WHERE image_id = ?", (image.id,)).fetchone()
                else:
                    repositories = {parse_reference(t).name for t in image.tags}
                    if len(repositories) > 1 and not force:
                        raise ImageConflict(f"conflict: unable to delete {image.short_id} (must be forced)"
                                            " - image is referenced in multiple repositories")
                    for tag in image.tags:
                        conn.execute("DELETE FROM tags WHERE name = ?", (tag,))
                        report.untagged.append(familiar(tag))
                    still_tagged = None
                if not still_tagged:
                    for (digest_name,) in conn.execute(
                            "SELECT name FROM repo_digests WHERE image_id = ? ORDER BY name", (image.id,)).fetchall():
                        report.untagged.append(familiar(digest_name))
                    conn.execute("DELETE FROM repo_digests WHERE image_id = ?", (image.id,))
                    conn.execute("DELETE FROM images WHERE id = ?", (image.id,))
                    report.deleted.append(image.id)
            self._rewrite_index()
        if report.deleted:
            # Space comes back at once, as with docker, unless a lease or prune in
            # another process holds the GC lock: then the next prune frees it.
            report.reclaimed = self.collect_garbage(blocking=False) or 0
        return report

    # ---- index.json ----------------------------------------------------------------

    def _rewrite_index(self) -> None:
        rows = self._all(
            "SELECT i.manifest_media_type, i.manifest_digest, i.manifest_size, t.name"
            " FROM images i LEFT JOIN tags t ON t.image_id = i.id")
        entries = [layout.LayoutEntry(mt, digest, size, name) for mt, digest, size, name in rows]
        layout.write_index(self.root, entries)

    # ---- snapshots -----------------------------------------------------------------

    def snapshot_path(self, chain_id: str) -> Path:
        return self.snapshots.path(chain_id)

    def ensure_snapshots(self, image: StoredImage) -> list[Path]:
        """Unpack whichever of `image`'s layers are not unpacked yet; returns the
        snapshot directories, base layer first. Hold a `lease()` while using them."""
        from oci.config import chain_ids

        manifest = self.manifest(image)
        diff_ids = json.loads(self.config_bytes(image)).get("rootfs", {}).get("diff_ids") or []
        if len(diff_ids) != len(manifest.layers):
            raise UserError(f"image {image.short_id}: {len(manifest.layers)} layers but {len(diff_ids)} diff_ids")
        chains = chain_ids(diff_ids)
        paths = []
        with self.lease():
            for i, (layer, chain_id) in enumerate(zip(manifest.layers, chains)):
                if not self.snapshots.exists(chain_id):
                    self.snapshots.unpack(chain_id, diff_ids[i], lambda d=layer.digest: self.open_blob(d))
                    self._record_snapshot(chain_id, chains[i - 1] if i else None, diff_ids[i])
                paths.append(self.snapshots.path(chain_id))
        return paths

    def add_snapshot(self, chain_id: str, parent: str | None, diff_id: str, directory: Path) -> Path:
        """Adopt a finished directory in overlay form (a RUN step's upperdir, on the
        store's filesystem) as snapshot `chain_id`, by rename."""
        with self.lease():
            path = self.snapshots.adopt(chain_id, directory)
            self._record_snapshot(chain_id, parent, diff_id)
        return path

    def _record_snapshot(self, chain_id: str, parent: str | None, diff_id: str) -> None:
        with self._thread_lock, db.write(self._db) as conn:
            conn.execute("INSERT OR IGNORE INTO snapshots(chain_id, parent, diff_id, created) VALUES (?, ?, ?, ?)",
                         (chain_id, parent, diff_id, time.time()))

    def pin_snapshot(self, chain_id: str, owner: str) -> None:
        """Keep snapshot `chain_id` through prunes until `unpin_snapshot(…, owner)`."""
        with self._thread_lock, db.write(self._db) as conn:
            conn.execute("INSERT OR IGNORE INTO snapshot_pins(chain_id, owner) VALUES (?, ?)", (chain_id, owner))

    def unpin_snapshot(self, chain_id: str, owner: str) -> None:
        with self._thread_lock, db.write(self._db) as conn:
            conn.execute("DELETE FROM snapshot_pins WHERE chain_id = ? AND owner = ?", (chain_id, owner))

    # ---- garbage -------------------------------------------------------------------

    def prune(self) -> RemovalReport:
        """`docker image prune`: remove dangling images (no tag or digest), then every blob and
        snapshot no image references. Waits for leases held by other processes."""
        report = RemovalReport([], [])
        with self._gc_lock.hold():
            with self._writing():
                with db.write(self._db) as conn:
                    # Dangling as docker means it: no reference at all, neither a tag nor
                    # a repo digest (an image pulled by digest is kept).
                    dangling = conn.execute(
                        "SELECT id FROM images WHERE id NOT IN (SELECT image_id FROM tags)"
                        " AND id NOT IN (SELECT image_id FROM repo_digests) ORDER BY added").fetchall()
                    for (image_id,) in dangling:
                        conn.execute("DELETE FROM images WHERE id = ?", (image_id,))
                        report.deleted.append(image_id)
                # Always rewritten: this also repairs an index.json left stale by a
                # process that died between its commit and its rewrite.
                self._rewrite_index()
            report.reclaimed = self.collect_garbage(blocking=True) or 0
        return report

    def collect_garbage(self, *, blocking: bool = True) -> int | None:
        """Delete blobs and snapshots no image refers to, and leftovers in `tmp/`;
        returns the bytes freed, or None when `blocking` is off and a lease is held."""
        if not self._gc_lock.acquire(blocking=blocking):
            return None
        try:
            return self._collect()
        finally:
            self._gc_lock.release()

    def _collect(self) -> int:
        from oci.config import chain_ids

        live_blobs: set[str] = set()
        live_snapshots = {row[0] for row in self._all("SELECT chain_id FROM snapshot_pins")}
        for image in self.images():
            live_blobs.add(image.manifest_digest)
            live_blobs.add(image.id)
            try:
                manifest = self.manifest(image)
                config = json.loads(self.config_bytes(image))
            except BlobNotFound:
                continue
            live_blobs.update(layer.digest for layer in manifest.layers)
            live_snapshots.update(chain_ids((config.get("rootfs") or {}).get("diff_ids") or []))
        freed = 0
        for digest in list(self.blobs.digests()):
            if digest not in live_blobs:
                freed += self.blobs.remove(digest)
        dead = [c for c in self.snapshots.chain_ids() if c not in live_snapshots]
        for chain_id in dead:
            freed += self.snapshots.remove(chain_id)
        with self._thread_lock, db.write(self._db) as conn:
            for (chain_id,) in conn.execute("SELECT chain_id FROM snapshots").fetchall():
                if not self.snapshots.exists(chain_id):
                    conn.execute("DELETE FROM snapshots WHERE chain_id = ?", (chain_id,))
        for leftover in self.tmp_dir.iterdir():
            # Under the exclusive GC lock no writer is active: anything here is from a
            # process that died mid-write.
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        return freed
