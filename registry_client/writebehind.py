"""Writing a download to its sink in a second thread, so that receiving the next bytes
overlaps hashing and writing the last ones.

A store blob writer hashes what it is given and writes it to a file; both release the
GIL for large buffers, as does the socket read, so with one thread receiving and one
hashing and writing a download costs about the longer of the two instead of their sum.
A few buffers in flight bound the memory a transfer holds, whatever the blob's size."""

from __future__ import annotations

import queue
import threading
from typing import BinaryIO

IN_FLIGHT = 4  # buffers queued for the writer: at 1 MiB each, 4 MiB per transfer


class WriteBehind:
    """`write()` queues a chunk and returns; the chunks reach `sink.write` (and
    `hasher.update`, when given) in order in the writer thread. `finish()` waits until
    all are written and raises what the writer raised; leaving a `with` block stops the
    writer first, so the caller may throw the sink away afterwards."""

    def __init__(self, sink: BinaryIO, hasher=None) -> None:
        self._sink = sink
        self._hasher = hasher
        self._queue: queue.Queue[bytes | None] = queue.Queue(IN_FLIGHT)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="write-behind", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain, so the producer never blocks on a dead writer
            try:
                if self._hasher is not None:
                    self._hasher.update(chunk)
                self._sink.write(chunk)
            except BaseException as e:  # re-raised in the producer's thread
                self._error = e

    def write(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def finish(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish()
        elif self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
