"""The store's SQLite database (`pybuild.db`, WAL journal) for what is not an OCI object:
image records and tags, layer sizes, snapshots and their pins, and (from the builder)
cache records. WAL lets readers go on while one writer commits; writers use
`BEGIN IMMEDIATE` so that two processes never both hold a read snapshot that one of
them then fails to upgrade."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,                 -- the config digest (docker's image ID)
    manifest_digest TEXT NOT NULL,
    manifest_media_type TEXT NOT NULL,
    manifest_size INTEGER NOT NULL,
    created TEXT,                        -- the config's "created", as written there
    size INTEGER NOT NULL,               -- sum of the layers' uncompressed sizes
    added REAL NOT NULL                  -- when it entered this store (unix time)
);
CREATE TABLE IF NOT EXISTS tags (
    name TEXT PRIMARY KEY,               -- full reference: docker.io/library/busybox:latest
    image_id TEXT NOT NULL REFERENCES images(id)
);
CREATE INDEX IF NOT EXISTS tags_image ON tags(image_id);
CREATE TABLE IF NOT EXISTS repo_digests (
    name TEXT PRIMARY KEY,               -- docker.io/library/busybox@sha256:<manifest>
    image_id TEXT NOT NULL REFERENCES images(id)
);
CREATE INDEX IF NOT EXISTS repo_digests_image ON repo_digests(image_id);
CREATE TABLE IF NOT EXISTS layers (
    diff_id TEXT PRIMARY KEY,
    size INTEGER NOT NULL                -- bytes of the uncompressed layer tar
);
CREATE TABLE IF NOT EXISTS snapshots (
    chain_id TEXT PRIMARY KEY,
    parent TEXT,                         -- chain ID of the snapshot below, NULL for a base
    diff_id TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshot_pins (
    chain_id TEXT NOT NULL,
    owner TEXT NOT NULL,                 -- who needs it kept: a container, a cache record
    PRIMARY KEY (chain_id, owner)
);
"""


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 60000")
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
        with write(conn):
            # executescript() would commit first; one statement at a time stays in the
            # transaction, so two processes creating the store at once cannot interleave.
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return conn


@contextmanager
def write(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: committed on success, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
