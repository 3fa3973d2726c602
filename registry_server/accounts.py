"""The registry's user accounts: names, bcrypt password hashes and a role, in their own
SQLite database (`accounts.db` beside the registry's `registry.db`, WAL) so that the
command line can add users while the server runs and the blob metadata never carries a
password hash.

bcrypt is slow on purpose (~0.3 s at cost 12), and clients using Basic auth send the
password with every request: a worker remembers which (user, stored hash, password)
triples it has already verified for a few minutes. The stored hash is part of the key, so
a password change ends the remembered logins at once."""

from __future__ import annotations

import enum
import hashlib
import os
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from oci.errors import UserError

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, hash TEXT NOT NULL, role TEXT NOT NULL, created REAL NOT NULL
) WITHOUT ROWID;
"""
# A user's name is also their namespace (alice pushes `alice/...`), so it must be one
# path component of a repository name as the distribution spec spells it.
_USER_NAME = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")
MAX_USER_NAME = 64
DEFAULT_ROUNDS = 12
VERIFIED_TTL = 300.0
VERIFIED_MAX = 4096


class Role(str, enum.Enum):
    ADMIN = "admin"
    USER = "user"


@dataclass(frozen=True)
class User:
    name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


class AccountError(UserError):
    """A user account command that cannot be carried out (unknown user, bad name...)."""


def validate_user_name(name: str) -> str:
    if len(name) > MAX_USER_NAME or not _USER_NAME.fullmatch(name):
        raise AccountError(
            f"invalid user name {name[:80]!r}: use lowercase letters, digits and single "
            "separators (. _ -), as in a repository path component")
    return name


def hash_password(password: str, rounds: int = DEFAULT_ROUNDS) -> str:
    if not password:
        raise AccountError("the password must not be empty")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


def check_password(password: str, stored_hash: str) -> bool:
    """bcrypt's check; htpasswd's `$2y$` hashes are the same algorithm as `$2b$`."""
    try:
        return bcrypt.checkpw(password.encode(), stored_hash.encode())
    except ValueError:  # a malformed stored hash matches nothing
        return False


@dataclass(frozen=True)
class HtpasswdEntry:
    name: str
    hash: str


def parse_htpasswd(path: Path) -> list[HtpasswdEntry]:
    """The `user:$2y$...` lines of an htpasswd file (`htpasswd -B`). Other hash kinds
    (MD5 `$apr1$`, `{SHA}`, crypt) are refused: they are too weak to keep."""
    entries: list[HtpasswdEntry] = []
    try:
        text = path.read_text()
    except OSError as exc:
        raise AccountError(f"{path}: cannot read: {exc.strerror}") from None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, stored = line.partition(":")
        if not sep:
            raise AccountError(f"{path}:{number}: expected user:hash")
        if not stored.startswith(("$2y$", "$2b$", "$2a$")):
            raise AccountError(f"{path}:{number}: user {name!r} has no bcrypt hash; "
                               "make the file with `htpasswd -B`")
        try:
            validate_user_name(name)
        except AccountError as exc:
            raise AccountError(f"{path}:{number}: {exc}") from None
        entries.append(HtpasswdEntry(name, stored))
    return entries


class Accounts:
    def __init__(self, path: Path, rounds: int = DEFAULT_ROUNDS) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Password hashes are for the registry's eyes only; SQLite gives its WAL and
        # shared-memory files the database file's mode.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self.path = path
        self.rounds = rounds
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout = 30000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.executescript(SCHEMA)
        # sha256(pepper || user || stored hash || password) of logins verified lately; the
        # pepper is per process, so the set says nothing useful outside it.
        self._pepper = secrets.token_bytes(16)
        self._verified: dict[bytes, float] = {}

    @classmethod
    def in_root(cls, root: Path) -> "Accounts":
        return cls(root / "accounts.db")

    def close(self) -> None:
        self._db.close()

    def has_users(self) -> bool:
        return self._db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None

    def get(self, name: str) -> User | None:
        row = self._db.execute("SELECT name, role FROM users WHERE name = ?", (name,)).fetchone()
        return User(row[0], Role(row[1])) if row else None

    def stored_hash(self, name: str) -> str | None:
        row = self._db.execute("SELECT hash FROM users WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def list(self) -> list[User]:
        return [User(name, Role(role))
                for name, role in self._db.execute("SELECT name, role FROM users ORDER BY name")]

    def add(self, name: str, password: str, role: Role = Role.USER) -> User:
        validate_user_name(name)
        stored = hash_password(password, self.rounds)
        try:
            with self._db:
                self._db.execute("INSERT INTO users (name, hash, role, created) VALUES (?, ?, ?, ?)",
                                 (name, stored, role.value, time.time()))
        except sqlite3.IntegrityError:
            raise AccountError(f"user {name!r} already exists (use `passwd` to change the password)") from None
        return User(name, role)

    def delete(self, name: str) -> None:
        with self._db:
            cursor = self._db.execute("DELETE FROM users WHERE name = ?", (name,))
        if not cursor.rowcount:
            raise AccountError(f"no user {name!r}")

    def set_password(self, name: str, password: str) -> None:
        stored = hash_password(password, self.rounds)
        self._update(name, "hash", stored)

    def set_role(self, name: str, role: Role) -> None:
        self._update(name, "role", role.value)

    def _update(self, name: str, column: str, value: str) -> None:
        with self._db:
            cursor = self._db.execute(f"UPDATE users SET {column} = ? WHERE name = ?", (value, name))
        if not cursor.rowcount:
            raise AccountError(f"no user {name!r}")

    def import_htpasswd(self, path: Path, role: Role = Role.USER) -> tuple[list[str], list[str]]:
        """Add the file's users (or replace the password of those that exist, keeping
        their role), all in one transaction; the names (added, updated)."""
        entries = parse_htpasswd(path)
        added: list[str] = []
        updated: list[str] = []
        now = time.time()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            for entry in entries:
                cursor = self._db.execute("UPDATE users SET hash = ? WHERE name = ?",
                                          (entry.hash, entry.name))
                if cursor.rowcount:
                    updated.append(entry.name)
                else:
                    self._db.execute("INSERT INTO users (name, hash, role, created) VALUES (?, ?, ?, ?)",
                                     (entry.name, entry.hash, role.value, now))
                    added.append(entry.name)
        return added, updated

    # verification, split so that the slow bcrypt step can run off the event loop

    def _cache_key(self, name: str, stored: str, password: str) -> bytes:
        return hashlib.sha256(b"\0".join(
            [self._pepper, name.encode(), stored.encode(), password.encode()])).digest()

    def verified_recently(self, name: str, stored: str, password: str) -> bool:
        expiry = self._verified.get(self._cache_key(name, stored, password))
        return expiry is not None and expiry > time.monotonic()

    def remember_verified(self, name: str, stored: str, password: str) -> None:
        if len(self._verified) >= VERIFIED_MAX:
            now = time.monotonic()
            self._verified = {k: v for k, v in self._verified.items() if v > now}
            if len(self._verified) >= VERIFIED_MAX:
                self._verified.clear()
        self._verified[self._cache_key(name, stored, password)] = time.monotonic() + VERIFIED_TTL

    def verify(self, name: str, password: str) -> User | None:
        """The user if the password is theirs (blocking: bcrypt)."""
        stored = self.stored_hash(name)
        if stored is None:
            return None
        if not self.verified_recently(name, stored, password):
            if not check_password(password, stored):
                return None
            self.remember_verified(name, stored, password)
        return self.get(name)
