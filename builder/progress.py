"""What a build shows while it runs: one numbered vertex per step, as BuildKit does.

The solver reports through `Vertex` handles (`progress.vertex(name)` then `log`,
`cached`, `note`, `done`, `canceled` or `error`), from any thread. Three views render them:

- `PlainProgress` (`--progress=plain`, and `auto` when stderr is not a terminal): BuildKit's
  plain lines, `#5 [2/3] RUN make`, `#5 0.512 <output line>`, `#5 CACHED`, `#5 DONE 0.6s`,
  `#5 CANCELED`, `#5 ERROR: …`.
- `TtyProgress` (`tty`, and `auto` on a terminal): a rich live view with one line per
  step (state and time) and the last output lines of the steps running.
- `QuietProgress` (`-q`): nothing.

Every vertex keeps its last output lines, so a failing step can show them in the error.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from typing import TextIO

TAIL_LINES = 10
_LIVE_TAIL = 6


class Vertex:
    def __init__(self, progress: Progress, number: int, name: str) -> None:
        self.progress = progress
        self.number = number
        self.name = name
        self.started = time.monotonic()
        self.finished: float | None = None
        self.state = "running"  # running | cached | done | canceled | error
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._partial = b""

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def log(self, data: bytes) -> None:
        """Output of the step's process, in any chunking: shown line by line."""
        data = self._partial + data
        *lines, self._partial = data.split(b"\n")
        for line in lines:
            self._line(line)

    def _line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r")
        self.tail.append(text)
        self.progress._on_log(self, text)

    def note(self, text: str) -> None:
        """A line of the builder's own about this step (e.g. why it missed the cache)."""
        self.progress._on_note(self, text)

    def _finish(self, state: str) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = b""
        self.state = state
        self.finished = time.monotonic()

    def cached(self) -> None:
        self._finish("cached")
        self.progress._on_end(self, "CACHED")

    def done(self) -> None:
        self._finish("done")
        self.progress._on_end(self, f"DONE {self.elapsed:.1f}s")

    def canceled(self) -> None:
        self._finish("canceled")
        self.progress._on_end(self, "CANCELED")

    def error(self, message: str) -> None:
        self._finish("error")
        self.progress._on_end(self, f"ERROR: {message}")


class Progress:
    """The base view: numbers vertices; subclasses show them."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._count = 0
        self.vertices: list[Vertex] = []

    def vertex(self, name: str) -> Vertex:
        with self._lock:
            self._count += 1
            vertex = Vertex(self, self._count, name)
            self.vertices.append(vertex)
            self._on_start(vertex)
            return vertex

    def message(self, text: str) -> None:
        """A line outside any vertex (warnings, the final summary)."""

    def close(self) -> None:
        pass

    def _on_start(self, vertex: Vertex) -> None:
        pass

    def _on_log(self, vertex: Vertex, text: str) -> None:
        pass

    def _on_note(self, vertex: Vertex, text: str) -> None:
        pass

    def _on_end(self, vertex: Vertex, text: str) -> None:
        pass


class QuietProgress(Progress):
    pass


class PlainProgress(Progress):
    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self.stream = stream or sys.stderr

    def _write(self, text: str) -> None:
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def message(self, text: str) -> None:
        self._write(text)

    def _on_start(self, vertex: Vertex) -> None:
        self._write(f"#{vertex.number} {vertex.name}")

    def _on_log(self, vertex: Vertex, text: str) -> None:
        self._write(f"#{vertex.number} {vertex.elapsed:.3f} {text}")

    def _on_note(self, vertex: Vertex, text: str) -> None:
        self._write(f"#{vertex.number} {text}")

    def _on_end(self, vertex: Vertex, text: str) -> None:
        self._write(f"#{vertex.number} {text}\n")


class TtyProgress(Progress):
    """A rich Live view on stderr, refreshed a few times a second."""

    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console
        from rich.live import Live

        self.console = Console(stderr=True)
        self.started = time.monotonic()
        self._notes: dict[int, str] = {}
        self._live = Live(console=self.console, refresh_per_second=8, transient=False,
                          get_renderable=self._render)
        self._live.start()

    def _render(self):
        from rich.text import Text

        with self._lock:
            vertices = list(self.vertices)
        elapsed = time.monotonic() - self.started
        out = Text()
        out.append(f"[+] Building {elapsed:.1f}s ({sum(v.state != 'running' for v in vertices)}/{len(vertices)})\n",
                   style="bold")
        for vertex in vertices:
            style = {"running": "blue", "cached": "dim", "done": "green", "canceled": "yellow",
                     "error": "bold red"}[vertex.state]
            state = {"running": "", "cached": "CACHED ", "done": "", "canceled": "CANCELED ",
                     "error": "ERROR "}[vertex.state]
            width = max(self.console.width - 12, 20)
            out.append(f" => {state}{vertex.name}"[:width].ljust(width), style=style)
            out.append(f"{vertex.elapsed:6.1f}s\n", style=style)
            if vertex.number in self._notes and vertex.state != "cached":
                out.append(f" => => {self._notes[vertex.number]}\n", style="yellow")
            if vertex.state in ("running", "error"):
                for line in list(vertex.tail)[-_LIVE_TAIL:]:
                    out.append(f" => => # {line[:width]}\n", style="dim")
        return out

    def message(self, text: str) -> None:
        self._live.console.print(text, highlight=False, markup=False)

    def _on_note(self, vertex: Vertex, text: str) -> None:
        self._notes[vertex.number] = text

    def close(self) -> None:
        if self._live.is_started:
            self._live.stop()


def make_progress(mode: str, *, quiet: bool = False) -> Progress:
    """`auto`, `tty` or `plain` as docker's --progress; `quiet` wins."""
    if quiet:
        return QuietProgress()
    if mode == "auto":
        mode = "tty" if sys.stderr.isatty() else "plain"
    if mode == "tty":
        return TtyProgress()
    if mode == "plain":
        return PlainProgress()
    raise ValueError(f"unknown progress mode {mode!r}")
