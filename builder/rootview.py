"""A stage's root filesystem as one directory, for the steps that change it from Python
(COPY, ADD, WORKDIR): an overlay of the stage's snapshots with a fresh upperdir, so what
the step writes lands in the upperdir exactly as a RUN's does (and becomes the next layer
the same way), while paths, symlinks, existing directories and /etc/passwd are read
through the whole stack.

The overlay is mounted in a mount namespace of its own, made by a worker thread with
`unshare(CLONE_NEWNS)` (which also unshares that thread's cwd/root, so other threads are
untouched) and mount propagation turned private first: nothing is ever mounted in the
host's namespace, and if the process dies the kernel drops the mounts with the thread.
The overlay is unmounted before the thread returns, so the upperdir is complete and
free when the caller turns it into a layer.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from runner import libc

T = TypeVar("T")

_OVERLAY_DATA_MAX = 4000  # the mount data page is 4096 bytes


def in_private_mounts(fn: Callable[[], T]) -> T:
    """Run `fn` in a new thread that has a private mount namespace; return its result or
    raise its exception."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            libc.unshare(libc.CLONE_NEWNS)
            # Without this, mounts made under a shared mount (systemd's /) would
            # propagate back into the host's namespace.
            libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread as it is
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="pybuild-mounts")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _lowerdir_option(lowers: Sequence[str]) -> str:
    """`lowerdir=` with the top layer first; when the absolute list would not fit in a
    page and the layers share a parent (the store's snapshots/), the thread's cwd moves
    there and the layers are named relative to it (the cwd is this thread's own)."""
    top_first = [os.path.abspath(p) for p in reversed(lowers)]
    option = "lowerdir=" + ":".join(top_first)
    if len(option) > _OVERLAY_DATA_MAX and len({os.path.dirname(p) for p in top_first}) == 1:
        os.chdir(os.path.dirname(top_first[0]))
        option = "lowerdir=" + ":".join(os.path.basename(p) for p in top_first)
    if len(option) > _OVERLAY_DATA_MAX:
        raise OSError(7, f"{len(lowers)} layers do not fit in one overlay mount")
    return option


class RootView:
    """Mount points of one step, valid only inside `in_private_mounts`.

    `scratch` is a directory on the store's filesystem holding `upper`, `work` and the
    mount points; `upper` survives for the caller."""

    def __init__(self, scratch: str) -> None:
        self.scratch = scratch
        self.upper = os.path.join(scratch, "upper")
        self._mounted: list[str] = []

    def writable(self, lowers: Sequence[str]) -> str:
        """The overlay of `lowers` (bottom first) over a fresh upperdir; its path."""
        work = os.path.join(self.scratch, "work")
        merged = os.path.join(self.scratch, "merged")
        for path in (self.upper, work, merged):
            os.mkdir(path, 0o755)
        if not lowers:
            empty = os.path.join(self.scratch, "empty")
            os.mkdir(empty, 0o755)
            lowers = [empty]
        options = f"{_lowerdir_option(lowers)},upperdir={self.upper},workdir={work}"
        libc.mount("overlay", merged, "overlay", 0, options)
        self._mounted.append(merged)
        return merged

    def readonly(self, lowers: Sequence[str]) -> str:
        """A read-only view of `lowers` (another stage's or an image's root)."""
        if len(lowers) == 1:
            return os.path.abspath(lowers[0])
        if not lowers:
            return tempfile.mkdtemp(prefix="empty-", dir=self.scratch)
        merged = tempfile.mkdtemp(prefix="source-", dir=self.scratch)
        libc.mount("overlay", merged, "overlay", libc.MS_RDONLY, _lowerdir_option(lowers))
        self._mounted.append(merged)
        return merged

    def discardable(self, directory: str) -> str:
        """`directory` made writable through an overlay whose upperdir is thrown away
        with the scratch directory (RUN --mount=type=bind,rw)."""
        work = tempfile.mkdtemp(prefix="discard-", dir=self.scratch)
        for name in ("upper", "work", "merged"):
            os.mkdir(os.path.join(work, name))
        merged = os.path.join(work, "merged")
        libc.mount("overlay", merged, "overlay", 0, f"{_lowerdir_option([directory])},"
                   f"upperdir={os.path.join(work, 'upper')},workdir={os.path.join(work, 'work')}")
        self._mounted.append(merged)
        return merged

    def unmount_all(self) -> None:
        while self._mounted:
            libc.umount2(self._mounted.pop(), 0)
