"""Errors in a Dockerfile: one line naming `file:line`, plus the offending line with a
caret for a terminal when the column is known.

The one-line form is what `str()` gives (the entry point prints it after `Error: `); the
excerpt comes from `render()`, which `pybuild parse`/`lint` print instead.
"""

from __future__ import annotations

from oci.errors import UserError

__all__ = ["DockerfileError"]


class DockerfileError(UserError):
    """A Dockerfile that BuildKit's parser (or its instruction checks) would reject."""

    def __init__(self, message: str, *, file: str = "Dockerfile", line: int = 0,
                 column: int | None = None, source_line: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.source_line = source_line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line > 0 else self.file
        return f"{where}: {self.message}"

    def render(self) -> str:
        """The one-line message, then the source line and, when known, a caret under the
        column (1-based) where the problem starts."""
        text = str(self)
        if self.source_line is None:
            return text
        gutter = f"{self.line:>5} | "
        lines = [text, gutter + self.source_line.expandtabs(1)]
        if self.column is not None:
            lines.append(" " * (len(gutter) + max(self.column - 1, 0)) + "^")
        return "\n".join(lines)
