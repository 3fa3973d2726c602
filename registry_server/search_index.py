"""The search index: one row per repository with its description and star count, and an
SQLite FTS5 trigram index over name and description, so a substring query over 100,000
repositories answers in milliseconds (see bench/search.py).

The index lives in the registry's own database and follows it by triggers on the
`repositories` and `tags` tables: a new repository gets a row, a tag pushed or deleted
marks the row stale, and the next search reads the description afresh from the image
label `org.opencontainers.image.description` of the `latest` tag (else of the tag pushed
last). So the push path does no extra work and no write can be missed by a worker.

A description set through the API replaces the label's until it is cleared."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS search_repos (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    description_edited INTEGER NOT NULL DEFAULT 0,
    stars INTEGER NOT NULL DEFAULT 0,
    stale INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS search_repos_stale ON search_repos (id) WHERE stale = 1;
CREATE TABLE IF NOT EXISTS search_stars (
    repo TEXT NOT NULL, user TEXT NOT NULL, PRIMARY KEY (repo, user)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(
    name, description, content='search_repos', content_rowid='id', tokenize='trigram');
CREATE VIRTUAL TABLE IF NOT EXISTS search_words USING fts5(
    name, description, content='search_repos', content_rowid='id', prefix='1 2');
CREATE TRIGGER IF NOT EXISTS search_repos_inserted AFTER INSERT ON search_repos BEGIN
    INSERT INTO search_fts (rowid, name, description) VALUES (new.id, new.name, new.description);
    INSERT INTO search_words (rowid, name, description) VALUES (new.id, new.name, new.description);
END;
CREATE TRIGGER IF NOT EXISTS search_repos_deleted AFTER DELETE ON search_repos BEGIN
    INSERT INTO search_fts (search_fts, rowid, name, description)
        VALUES ('delete', old.id, old.name, old.description);
    INSERT INTO search_words (search_words, rowid, name, description)
        VALUES ('delete', old.id, old.name, old.description);
    DELETE FROM search_stars WHERE repo = old.name;
END;
CREATE TRIGGER IF NOT EXISTS search_repos_updated AFTER UPDATE OF name, description ON search_repos BEGIN
    INSERT INTO search_fts (search_fts, rowid, name, description)
        VALUES ('delete', old.id, old.name, old.description);
    INSERT INTO search_fts (rowid, name, description) VALUES (new.id, new.name, new.description);
    INSERT INTO search_words (search_words, rowid, name, description)
        VALUES ('delete', old.id, old.name, old.description);
    INSERT INTO search_words (rowid, name, description) VALUES (new.id, new.name, new.description);
END;
CREATE TRIGGER IF NOT EXISTS search_follow_new_repository AFTER INSERT ON repositories BEGIN
    INSERT OR IGNORE INTO search_repos (name) VALUES (new.name);
END;
CREATE TRIGGER IF NOT EXISTS search_follow_deleted_repository AFTER DELETE ON repositories BEGIN
    DELETE FROM search_repos WHERE name = old.name;
END;
CREATE TRIGGER IF NOT EXISTS search_follow_new_tag AFTER INSERT ON tags BEGIN
    UPDATE search_repos SET stale = 1 WHERE name = new.repo;
END;
CREATE TRIGGER IF NOT EXISTS search_follow_deleted_tag AFTER DELETE ON tags BEGIN
    UPDATE search_repos SET stale = 1 WHERE name = old.repo;
END;
"""
# The trigram index finds any substring of three characters or more. A shorter word
# would make it scan every row, so it is looked up in the word index instead (words split
# at `/`, `-`, `.`, `_` and spaces, with prefixes of one and two characters indexed): it
# matches the start of a word, as `ng` finds `nginx` and `library/nginx`.
MIN_INDEXED_TERM = 3
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 25
# Stale rows refreshed per search, so one search after a bulk import stays quick.
REFRESH_BATCH = 256
MAX_DESCRIPTION = 4096


@dataclass(frozen=True)
class SearchHit:
    name: str
    description: str
    stars: int


@dataclass(frozen=True)
class SearchPage:
    query: str
    page: int
    page_size: int
    total: int
    hits: list[SearchHit]

    @property
    def num_pages(self) -> int:
        return math.ceil(self.total / self.page_size) if self.total else 0


@dataclass(frozen=True)
class RepositoryInfo:
    name: str
    description: str
    description_edited: bool
    stars: int


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


class SearchIndex:
    """Over the registry database at `path` (which must already hold the registry's
    `repositories` and `tags` tables)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout = 30000")
        # The registry's Metadata made the database WAL already; and only the first worker
        # to start needs the schema: the others must not queue for the write lock.
        installed = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'search_follow_deleted_tag'").fetchone()
        if installed is None:
            self._db.executescript(SCHEMA)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            known = self._db.execute("SELECT count(*) FROM search_repos").fetchone()[0]
            total = self._db.execute("SELECT count(*) FROM repositories").fetchone()[0]
            if known != total:  # repositories pushed before the index existed
                self._db.execute("INSERT OR IGNORE INTO search_repos (name) SELECT name FROM repositories")

    def close(self) -> None:
        self._db.close()

    # keeping descriptions current

    def stale(self, limit: int = REFRESH_BATCH) -> list[str]:
        return [row[0] for row in self._db.execute(
            "SELECT name FROM search_repos WHERE stale = 1 LIMIT ?", (limit,))]

    def description_digest(self, name: str) -> str | None:
        """The manifest whose label describes `name`: tag `latest`, else the newest tag."""
        row = self._db.execute(
            "SELECT digest FROM tags WHERE repo = ? ORDER BY tag = 'latest' DESC, updated DESC LIMIT 1",
            (name,)).fetchone()
        return row[0] if row else None

    def refresh(self, read_label: Callable[[str], str | None]) -> int:
        """Re-read the description of stale rows with `read_label(manifest digest)`."""
        names = self.stale()
        updates = []
        for name in names:
            digest = self.description_digest(name)
            label = read_label(digest) if digest else None
            updates.append(((label or "")[:MAX_DESCRIPTION], name))
        if updates:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "UPDATE search_repos SET description = CASE WHEN description_edited"
                    " THEN description ELSE ? END, stale = 0 WHERE name = ?", updates)
        return len(updates)

    # the JSON API

    def info(self, name: str) -> RepositoryInfo | None:
        row = self._db.execute(
            "SELECT name, description, description_edited, stars FROM search_repos WHERE name = ?",
            (name,)).fetchone()
        return RepositoryInfo(row[0], row[1], bool(row[2]), row[3]) if row else None

    def starred(self, name: str, user: str) -> bool:
        return self._db.execute("SELECT 1 FROM search_stars WHERE repo = ? AND user = ?",
                                (name, user)).fetchone() is not None

    def set_description(self, name: str, description: str | None) -> bool:
        """Set (or with None/empty, give back to the label) a description; False when the
        repository is unknown."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            if description:
                cursor = self._db.execute(
                    "UPDATE search_repos SET description = ?, description_edited = 1 WHERE name = ?",
                    (description[:MAX_DESCRIPTION], name))
            else:
                cursor = self._db.execute(
                    "UPDATE search_repos SET description_edited = 0, stale = 1 WHERE name = ?", (name,))
        return cursor.rowcount > 0

    def star(self, name: str, user: str, on: bool) -> int | None:
        """Star or unstar; the new star count, or None when the repository is unknown."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            if self._db.execute("SELECT 1 FROM search_repos WHERE name = ?", (name,)).fetchone() is None:
                return None
            if on:
                self._db.execute("INSERT OR IGNORE INTO search_stars (repo, user) VALUES (?, ?)", (name, user))
            else:
                self._db.execute("DELETE FROM search_stars WHERE repo = ? AND user = ?", (name, user))
            count = self._db.execute("SELECT count(*) FROM search_stars WHERE repo = ?", (name,)).fetchone()[0]
            self._db.execute("UPDATE search_repos SET stars = ? WHERE name = ?", (count, name))
        return count

    # searching

    def search(self, query: str, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE,
               visible: tuple[str, list[str]] = ("1", [])) -> SearchPage:
        """Repositories whose name or description contains every word of `query`
        (case-insensitive), best first: the whole name equal to the first word, then its
        last path component equal to it, then a name or component starting with it, then
        a name containing it, then a match in the description only; more stars first
        within a rank. `visible` is an SQL condition on `r.name` limiting the results."""
        terms = query.lower().split()
        page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        page = max(1, page)
        where: list[str] = []
        args: list[object] = []
        indexed = [t for t in terms if len(t) >= MIN_INDEXED_TERM]
        short = [t for t in terms if len(t) < MIN_INDEXED_TERM]
        if indexed:
            source = "search_fts f JOIN search_repos r ON r.id = f.rowid"
            where.append("search_fts MATCH ?")
            args.append(" AND ".join(_fts_phrase(t) for t in indexed))
        elif short:
            source = "search_words f JOIN search_repos r ON r.id = f.rowid"
        else:
            source = "search_repos r"
        if short:
            words = " AND ".join(_fts_phrase(t) + "*" for t in short)
            if indexed:
                where.append("r.id IN (SELECT rowid FROM search_words WHERE search_words MATCH ?)")
            else:
                where.append("search_words MATCH ?")
            args.append(words)
        if visible[0] != "1":
            where.append(visible[0])
            args += visible[1]
        condition = " AND ".join(where) or "1"
        if len(where) == 1 and source != "search_repos r":  # the index alone counts
            table = source.split()[0]
            total = self._db.execute(f"SELECT count(*) FROM {table} WHERE {where[0]}", args).fetchone()[0]
        else:
            total = self._db.execute(f"SELECT count(*) FROM {source} WHERE {condition}", args).fetchone()[0]
        order = "r.stars DESC, r.name"
        order_args: list[object] = []
        if terms:
            # Names are lowercase, so instr() (cheaper than LIKE on every row) compares
            # them with the lowercased word.
            key = f"?{len(args) + 1}"  # numbered: the word appears five times
            order = (f"CASE WHEN r.name = {key} THEN 0"
                     f" WHEN substr(r.name, -length({key}) - 1) = '/' || {key} THEN 1"
                     f" WHEN instr(r.name, {key}) = 1 OR instr(r.name, '/' || {key}) THEN 2"
                     f" WHEN instr(r.name, {key}) THEN 3 ELSE 4 END, " + order)
            order_args = [terms[0]]
        rows = self._db.execute(
            f"SELECT r.name, r.description, r.stars FROM {source} WHERE {condition}"
            f" ORDER BY {order} LIMIT ? OFFSET ?",
            [*args, *order_args, page_size, (page - 1) * page_size]).fetchall()
        return SearchPage(query, page, page_size, total, [SearchHit(*row) for row in rows])
