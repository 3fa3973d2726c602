"""Transfers a few at a time, on plain threads: concurrent.futures would import logging
and traceback, a few milliseconds of every push and pull."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def run_all(items: Sequence[Item], parallel: int, one: Callable[[Item], Result]) -> list[Result]:
    """`one(item)` for every item, `parallel` at a time, results in the items' order.
    A failure does not stop the other items; the first one (in order) is raised once
    all have finished, so no transfer is still writing when the caller cleans up."""
    results: list = [None] * len(items)
    errors: list[BaseException | None] = [None] * len(items)
    pending = iter(range(len(items)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                index = next(pending, None)
            if index is None:
                return
            try:
                results[index] = one(items[index])
            except BaseException as e:  # re-raised in the caller's thread
                errors[index] = e

    # Daemon workers, joined from the calling thread: Ctrl-C there ends the command.
    workers = [threading.Thread(target=work, name="transfer", daemon=True)
               for _ in range(min(max(1, parallel), len(items)))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for error in errors:
        if error is not None:
            raise error
    return results
