"""Advisory file locks (flock) between pybuild processes sharing one store.

flock locks belong to an open file description, so a second open of the same file in
one process would conflict with the first; a FileLock is therefore reentrant and shared
by the threads of its process, and refuses to wait for an exclusive lock while its own
process holds it shared (it would wait forever)."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class FileLock:
    path: Path
    _fd: int | None = field(default=None, init=False, repr=False)
    _depth: int = field(default=0, init=False, repr=False)
    _shared: bool = field(default=False, init=False, repr=False)
    _mutex: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd

    def acquire(self, *, shared: bool = False, blocking: bool = True) -> bool:
        """Take the lock; reentrant (a nested acquire only counts, and threads of one
        process share it). Returns False when `blocking` is off and another process holds
        a conflicting lock. Asking for exclusive while holding shared is refused: flock
        would trade the shared lock away before waiting, and the holder would lose it."""
        with self._mutex:
            if self._depth:
                if self._shared and not shared:
                    if not blocking:
                        return False
                    raise RuntimeError(f"{self.path}: held shared by this process, cannot take it exclusively")
                self._depth += 1
                return True
            # Waiting with the mutex held is safe: at depth 0 no thread of this process
            # holds the flock, so none needs the mutex to release it.
            flags = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
            try:
                fcntl.flock(self._open(), flags if blocking else flags | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            self._shared = shared
            self._depth = 1
            return True

    def release(self) -> None:
        with self._mutex:
            if not self._depth:
                raise RuntimeError(f"{self.path} is not locked")
            self._depth -= 1
            if not self._depth:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    @contextmanager
    def hold(self, *, shared: bool = False) -> Iterator[None]:
        self.acquire(shared=shared)
        try:
            yield
        finally:
            self.release()

    @property
    def held(self) -> bool:
        return self._depth > 0

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._depth = 0
