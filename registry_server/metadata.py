"""What the registry knows besides blob bytes, in SQLite (WAL, so each worker process has
its own connection and readers never wait for a writer): repositories, which blobs each
repository may serve, manifests with their subject for the referrers API, tags, upload
sessions."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS repositories (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blob_links (
    repo TEXT NOT NULL, digest TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (repo, digest)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS manifests (
    repo TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,
    subject TEXT, artifact_type TEXT, annotations TEXT, created REAL NOT NULL,
    PRIMARY KEY (repo, digest)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS manifests_by_subject ON manifests (repo, subject)
    WHERE subject IS NOT NULL;
CREATE TABLE IF NOT EXISTS manifest_refs (
    repo TEXT NOT NULL, manifest TEXT NOT NULL, digest TEXT NOT NULL,
    PRIMARY KEY (repo, manifest, digest)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS manifest_refs_by_digest ON manifest_refs (repo, digest);
CREATE TABLE IF NOT EXISTS tags (
    repo TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL, updated REAL NOT NULL,
    PRIMARY KEY (repo, tag)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    uuid TEXT PRIMARY KEY, repo TEXT NOT NULL, created REAL NOT NULL) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class ManifestRecord:
    digest: str
    media_type: str
    size: int
    subject: str | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None


class Metadata:
    def __init__(self, path: Path) -> None:
        # autocommit mode: every statement commits at once unless inside `with self._db`.
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout = 30000")
        self._db.execute("PRAGMA journal_mode = WAL")
        # WAL with NORMAL survives a killed process (the WAL is in the page cache); only a
        # power cut can lose the last commits, never corrupt the database.
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def transaction(self, commit: bool = True) -> Iterator[None]:
        """A write transaction that takes the database's write lock at once (other
        workers wait, up to the busy timeout); rolled back on error or when not `commit`."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.rollback()
            raise
        if commit:
            self._db.commit()
        else:
            self._db.rollback()

    def _write(self, statements: list[tuple[str, tuple]]) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            for sql, args in statements:
                self._db.execute(sql, args)

    # repositories and blob links

    def repository_exists(self, repo: str) -> bool:
        return self._db.execute("SELECT 1 FROM repositories WHERE name = ?", (repo,)).fetchone() is not None

    def repositories(self, after: str | None, limit: int | None) -> tuple[list[str], bool]:
        return self._page("SELECT name FROM repositories WHERE name > ? ORDER BY name", (), after, limit)

    def link_blob(self, repo: str, digest: str) -> None:
        self._write([
            ("INSERT OR IGNORE INTO repositories (name) VALUES (?)", (repo,)),
            ("INSERT OR IGNORE INTO blob_links (repo, digest, created) VALUES (?, ?, ?)",
             (repo, digest, time.time())),
        ])

    def mount_blob(self, repo: str, digest: str, source: str | None) -> bool:
        """Link a blob that `source` (any repository when None) has to `repo`; False when
        there is nothing to mount. The check and the link are one transaction, so a
        concurrent garbage collection cannot remove the blob in between."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            if source is None:
                found = self._db.execute(
                    "SELECT 1 FROM blob_links WHERE digest = ? LIMIT 1", (digest,)).fetchone()
            else:
                found = self._db.execute("SELECT 1 FROM blob_links WHERE repo = ? AND digest = ?",
                                         (source, digest)).fetchone()
            if found is None:
                return False
            self._db.execute("INSERT OR IGNORE INTO repositories (name) VALUES (?)", (repo,))
            self._db.execute("INSERT OR IGNORE INTO blob_links (repo, digest, created) VALUES (?, ?, ?)",
                             (repo, digest, time.time()))
        return True

    def is_linked(self, repo: str, digest: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM blob_links WHERE repo = ? AND digest = ?", (repo, digest)).fetchone()
        return row is not None

    def unlink_blob(self, repo: str, digest: str) -> bool:
        with self._db:
            cursor = self._db.execute(
                "DELETE FROM blob_links WHERE repo = ? AND digest = ?", (repo, digest))
        return cursor.rowcount > 0

    # manifests and tags

    def put_manifest(self, repo: str, record: ManifestRecord, blobs: list[str],
                     manifests: list[str], tags: list[str]) -> list[str]:
        """Store a manifest that references `blobs` and `manifests`, and tag it. Returns
        the references `repo` does not have (and stores nothing) if there are any: checked
        in the same transaction as the write, so garbage collection cannot slip between."""
        now = time.time()
        annotations = json.dumps(record.annotations) if record.annotations else None
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            missing = self.missing_blobs(repo, blobs) + self.missing_manifests(repo, manifests)
            if missing:
                return missing
            self._db.execute("INSERT OR IGNORE INTO repositories (name) VALUES (?)", (repo,))
            self._db.execute(
                "INSERT OR IGNORE INTO blob_links (repo, digest, created) VALUES (?, ?, ?)",
                (repo, record.digest, now))
            self._db.execute(
                "INSERT OR REPLACE INTO manifests (repo, digest, media_type, size, subject,"
                " artifact_type, annotations, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (repo, record.digest, record.media_type, record.size, record.subject,
                 record.artifact_type, annotations, now))
            self._db.executemany(
                "INSERT OR IGNORE INTO manifest_refs (repo, manifest, digest) VALUES (?, ?, ?)",
                [(repo, record.digest, ref) for ref in [*blobs, *manifests]])
            self._db.executemany(
                "INSERT OR REPLACE INTO tags (repo, tag, digest, updated) VALUES (?, ?, ?, ?)",
                [(repo, tag, record.digest, now) for tag in tags])
        return []

    def manifest(self, repo: str, digest: str) -> ManifestRecord | None:
        row = self._db.execute(
            "SELECT digest, media_type, size FROM manifests WHERE repo = ? AND digest = ?",
            (repo, digest)).fetchone()
        return ManifestRecord(*row) if row else None

    def manifest_by_tag(self, repo: str, tag: str) -> ManifestRecord | None:
        row = self._db.execute(
            "SELECT m.digest, m.media_type, m.size FROM tags t JOIN manifests m"
            " ON m.repo = t.repo AND m.digest = t.digest WHERE t.repo = ? AND t.tag = ?",
            (repo, tag)).fetchone()
        return ManifestRecord(*row) if row else None

    def missing_manifests(self, repo: str, digests: list[str]) -> list[str]:
        """The digests in `digests` that are not manifests of `repo`."""
        return [digest for digest in digests if self.manifest(repo, digest) is None]

    def missing_blobs(self, repo: str, digests: list[str]) -> list[str]:
        """The digests in `digests` that `repo` may not serve."""
        return [digest for digest in digests if not self.is_linked(repo, digest)]

    def delete_tag(self, repo: str, tag: str) -> bool:
        with self._db:
            cursor = self._db.execute("DELETE FROM tags WHERE repo = ? AND tag = ?", (repo, tag))
        return cursor.rowcount > 0

    def delete_manifest(self, repo: str, digest: str) -> bool:
        with self.transaction():
            return self.delete_manifest_rows(repo, digest)

    def delete_manifest_rows(self, repo: str, digest: str) -> bool:
        """The manifest, its tags, references and link (call inside `transaction()`)."""
        cursor = self._db.execute("DELETE FROM manifests WHERE repo = ? AND digest = ?", (repo, digest))
        if cursor.rowcount:
            self._db.execute("DELETE FROM tags WHERE repo = ? AND digest = ?", (repo, digest))
            self._db.execute("DELETE FROM manifest_refs WHERE repo = ? AND manifest = ?", (repo, digest))
            self._db.execute("DELETE FROM blob_links WHERE repo = ? AND digest = ?", (repo, digest))
        return cursor.rowcount > 0

    def tags(self, repo: str, after: str | None, limit: int | None) -> tuple[list[str], bool]:
        return self._page("SELECT tag FROM tags WHERE repo = ? AND tag > ? ORDER BY tag",
                          (repo,), after, limit)

    def referrers(self, repo: str, subject: str, artifact_type: str | None) -> list[ManifestRecord]:
        sql = ("SELECT digest, media_type, size, subject, artifact_type, annotations FROM manifests"
               " WHERE repo = ? AND subject = ?")
        args: tuple = (repo, subject)
        if artifact_type is not None:
            sql += " AND artifact_type = ?"
            args += (artifact_type,)
        rows = self._db.execute(sql + " ORDER BY created, digest", args).fetchall()
        return [ManifestRecord(d, mt, size, subj, at, json.loads(ann) if ann else None)
                for d, mt, size, subj, at, ann in rows]

    def _page(self, sql: str, args: tuple, after: str | None, limit: int | None
              ) -> tuple[list[str], bool]:
        """One page of a sorted listing, and whether more follow. SQLite compares TEXT with
        memcmp, which is the byte order Go's sort.Strings gives (the spec's "ASCIIbetical")."""
        args = args + (after or "",)
        if limit is None:
            return [row[0] for row in self._db.execute(sql, args)], False
        rows = [row[0] for row in self._db.execute(sql + " LIMIT ?", args + (limit + 1,))]
        return rows[:limit], len(rows) > limit

    # upload sessions

    def create_upload(self, uuid: str, repo: str) -> None:
        with self._db:
            self._db.execute("INSERT INTO uploads (uuid, repo, created) VALUES (?, ?, ?)",
                             (uuid, repo, time.time()))

    def upload_repo(self, uuid: str) -> str | None:
        row = self._db.execute("SELECT repo FROM uploads WHERE uuid = ?", (uuid,)).fetchone()
        return row[0] if row else None

    def delete_upload(self, uuid: str) -> bool:
        with self._db:
            cursor = self._db.execute("DELETE FROM uploads WHERE uuid = ?", (uuid,))
        return cursor.rowcount > 0

    # garbage collection (call inside `transaction()`)

    def gc_graph(self) -> tuple[list[tuple[str, str, float, str | None]], list[tuple[str, str]],
                                list[tuple[str, str, str]]]:
        """Everything reachability needs: manifests (repo, digest, created, subject), tags
        (repo, digest) and references (repo, manifest, digest)."""
        manifests = self._db.execute("SELECT repo, digest, created, subject FROM manifests").fetchall()
        tags = self._db.execute("SELECT repo, digest FROM tags").fetchall()
        refs = self._db.execute("SELECT repo, manifest, digest FROM manifest_refs").fetchall()
        return manifests, tags, refs

    def delete_unreferenced_links(self, before: float) -> int:
        """Drop links older than `before` that no manifest of their repository is or uses."""
        cursor = self._db.execute(
            "DELETE FROM blob_links WHERE created < ?"
            " AND NOT EXISTS (SELECT 1 FROM manifests m"
            "                 WHERE m.repo = blob_links.repo AND m.digest = blob_links.digest)"
            " AND NOT EXISTS (SELECT 1 FROM manifest_refs r"
            "                 WHERE r.repo = blob_links.repo AND r.digest = blob_links.digest)",
            (before,))
        return cursor.rowcount

    def linked_digests(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT DISTINCT digest FROM blob_links")}

    def has_links(self, digest: str) -> bool:
        return self._db.execute(
            "SELECT 1 FROM blob_links WHERE digest = ? LIMIT 1", (digest,)).fetchone() is not None

    def uploads_started_before(self, before: float) -> list[str]:
        return [row[0] for row in self._db.execute(
            "SELECT uuid FROM uploads WHERE created < ?", (before,))]

    def upload_ids(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT uuid FROM uploads")}
