"""The local image store.

On disk, under the root (`Store.open(root)`; default `PYBUILD_ROOT`, else
`/var/lib/pybuild` as root, else `$XDG_DATA_HOME/pybuild`):

    oci-layout, index.json   an OCI image layout: `skopeo … oci:ROOT:busybox` and
                             `umoci unpack --image ROOT:busybox` read the store as it is
    blobs/sha256/<hex>       every manifest, config and layer, written once, verified
    snapshots/<chain hex>/   layers unpacked in overlay form, made on first use
    pybuild.db               SQLite (WAL): images, tags, repo digests, layer sizes,
                             snapshots and their pins (build cache tables come later)
    tmp/                     temp files and directories, renamed into place when done
    lock, gc.lock            flock files (below)

Tags: the database is the source of truth; index.json is rewritten from it after each
change. A tag `busybox:latest` appears there as two entries, ref.name `busybox:latest`
and `busybox` (a `latest` tag also answers to the bare name, as in docker), each with
`io.containerd.image.name` = `docker.io/library/busybox:latest`; other tags as one
entry, `localhost:5000/app:1.2`. Untagged images are listed without a name.

Images: an image is identified by its config digest (docker's image ID) and stored as
one manifest whose bytes are kept exactly as received (pulled, loaded) or written by
`commit_image` (an OCI manifest). `resolve()` reads names as docker does: a reference
(`busybox` = `docker.io/library/busybox:latest`), `name@sha256:…`, an ID or ID prefix.

Concurrency: two processes may use one store at once.
- Blobs and snapshots are published by rename of a finished temp file/directory, so
  readers never see partial content; equal content written twice is harmless.
- Tag and image changes run inside `lock` (exclusive) and one SQLite transaction, and
  index.json is rewritten atomically from the committed state before `lock` is released.
- Garbage collection (`prune`, and the space `remove` frees) takes `gc.lock`
  exclusively; `lease()` takes it shared. Ingesting, `add_image`, `commit_image` and
  `ensure_snapshots` hold a lease themselves; a caller that ingests blobs and registers
  them later (a pull, a build) wraps the whole span in `with store.lease():`, and so
  does a user of snapshot directories (or it pins them with `pin_snapshot`).

Main calls: `ingest(stream, expected_digest)`, `ingest_bytes`, `blob_writer()`,
`open_blob`, `add_image(manifest_bytes, tags=…)`, `commit_image(config_bytes, layers,
tags=…)`, `resolve(name)`, `images()`, `tag(image, name)`, `remove(name, force=)`,
`prune()`, `ensure_snapshots(image)`, `snapshot_path(chain_id)`, `add_snapshot(…)`.

Read path: `oci.store.lookup.image_snapshots(root, name)` answers "which snapshot
directories make up the image tagged `name`" with a read-only SQLite connection and the
shared GC lock only, importing none of the writers; `pybuild run` uses it first.
"""


__all__ = ["BlobInfo", "BlobWriter", "RemovalReport", "Store", "StoredImage", "default_root"]

_EXPORTS = {"BlobInfo": "oci.store.blobs", "BlobWriter": "oci.store.blobs", "RemovalReport": "oci.store.store",
            "Store": "oci.store.store", "StoredImage": "oci.store.store", "default_root": "oci.store.store"}


def __getattr__(name: str):
    # lazy: `oci.store.lookup` (the read path of `pybuild run`) must not pay for the
    # writers' imports (pathlib, tempfile, dataclasses: ~20 ms)
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'oci.store' has no attribute {name!r}")
