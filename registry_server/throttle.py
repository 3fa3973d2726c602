"""Slowing down password guessing: after a few failed logins for one user from one
address, each further attempt waits for a delay that doubles per failure up to a cap.
Attempts beyond the cap are turned away (429 TOOMANYREQUESTS with Retry-After).

The state lives in the accounts database, so every worker process sees the same count.
An attempt takes the next free slot before it is checked, so guesses sent in parallel
queue behind each other instead of all being checked at once."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS login_failures (
    user TEXT NOT NULL, address TEXT NOT NULL, failures INTEGER NOT NULL,
    next_allowed REAL NOT NULL, PRIMARY KEY (user, address)
) WITHOUT ROWID;
"""
# Rows of logins that went quiet this long ago are forgotten.
FORGET_AFTER = 24 * 3600.0


@dataclass(frozen=True)
class ThrottlePolicy:
    free_failures: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, failures: int) -> float:
        """How long the next attempt waits after `failures` failures in a row."""
        if failures < self.free_failures:
            return 0.0
        return min(self.max_delay, self.base_delay * 2.0 ** (failures - self.free_failures))


class LoginThrottle:
    def __init__(self, path: Path, policy: ThrottlePolicy) -> None:
        self.policy = policy
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout = 30000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def reserve(self, user: str, address: str, now: float) -> float | None:
        """Seconds this attempt must wait before its password is checked, or None when
        the wait would exceed the cap (turn the attempt away)."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT failures, next_allowed FROM login_failures WHERE user = ? AND address = ?",
                (user, address)).fetchone()
            if row is None:
                return 0.0
            failures, next_allowed = row
            wait = max(0.0, next_allowed - now)
            if wait > self.policy.max_delay:
                return None
            # Presume this attempt fails too: the one after it waits a further delay.
            self._db.execute(
                "UPDATE login_failures SET next_allowed = ? WHERE user = ? AND address = ?",
                (max(now, next_allowed) + self.policy.delay(failures), user, address))
            return wait

    def failed(self, user: str, address: str, now: float) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT failures, next_allowed FROM login_failures WHERE user = ? AND address = ?",
                (user, address)).fetchone()
            failures, next_allowed = row if row else (0, now)
            failures += 1
            self._db.execute(
                "INSERT OR REPLACE INTO login_failures (user, address, failures, next_allowed)"
                " VALUES (?, ?, ?, ?)",
                (user, address, failures, max(next_allowed, now + self.policy.delay(failures))))
            self._db.execute("DELETE FROM login_failures WHERE next_allowed < ?", (now - FORGET_AFTER,))

    def succeeded(self, user: str, address: str) -> None:
        with self._db:
            self._db.execute("DELETE FROM login_failures WHERE user = ? AND address = ?", (user, address))
