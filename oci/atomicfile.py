"""Replacing a file so that a reader sees either the old content or all of the new,
never half of it, and a failure leaves the old file as it was.

The new content goes to a temporary file in the same directory (so the rename cannot
cross filesystems), is fsync'ed before the rename (so a crash cannot leave the new name
pointing at blocks that were never written) and gets its final permissions before it
becomes visible (mkstemp makes it 0600 first, so a secret is never readable by others,
even for a moment). The directory itself is not fsync'ed: that costs a journal commit
(milliseconds) on the build's hot path, and a crash then loses at most the rename,
leaving the old file whole."""

from __future__ import annotations

import os
from types import TracebackType
from typing import BinaryIO


class atomic_writer:  # noqa: N801 - used like open()
    """`with atomic_writer(path, mode) as f: f.write(...)`: `path` gets the bytes written
    and `mode` (exactly, whatever the umask) when the block ends without an exception;
    an exception removes the temporary file and leaves `path` untouched."""

    def __init__(self, path: str | os.PathLike[str], mode: int = 0o644) -> None:
        self.path = os.fspath(path)
        self.mode = mode
        self._temp = ""
        self._file: BinaryIO | None = None

    def __enter__(self) -> BinaryIO:
        # tempfile costs ~10 ms to import; commands that never write should not pay it.
        import tempfile

        # Not resolved: the kernel finds `path`'s directory through the same symlinks
        # when it renames, so the temporary file lands on the same filesystem.
        directory = os.path.dirname(self.path) or "."
        fd, self._temp = tempfile.mkstemp(
            prefix=f".{os.path.basename(self.path)}.", suffix=".tmp", dir=directory)
        self._file = os.fdopen(fd, "wb")
        return self._file

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._file is not None
        if exc_type is not None:
            self._abandon()
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.chmod(self._temp, self.mode)
            os.replace(self._temp, self.path)
        except BaseException:
            self._abandon()
            raise

    def _abandon(self) -> None:
        assert self._file is not None
        try:
            self._file.close()
        except OSError:
            pass  # unwritten bytes of a file being thrown away (a full disk...)
        try:
            os.unlink(self._temp)
        except FileNotFoundError:
            pass


def atomic_write(path: str | os.PathLike[str], data: bytes | str, mode: int = 0o644) -> None:
    """Replace `path` with `data` (a str is written as UTF-8) as `atomic_writer` does."""
    with atomic_writer(path, mode) as f:
        f.write(data.encode() if isinstance(data, str) else data)

