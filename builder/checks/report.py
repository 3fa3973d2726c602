"""Warnings as `docker build --check` shows them, and as BuildKit's lint result JSON.

Text (buildx's printResult + BuildKit's Warning.PrintTo and errdefs.Source.Print):

    Check complete, 1 warning has been found!

    WARNING: FromAsCasing - https://docs.docker.com/go/dockerfile/rule/from-as-casing/
    'as' and 'FROM' keywords' casing do not match
    Dockerfile:1
    --------------------
       1 | >>> FROM alpine as base
       2 |     RUN true
    --------------------

Warnings are printed by line; the JSON keeps the order the checks ran in.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from builder.checks.linter import LintWarning

__all__ = ["build_summary", "render_text", "render_json", "source_excerpt", "summary_line"]


def summary_line(count: int) -> str:
    if count == 0:
        return "Check complete, no warnings found."
    if count == 1:
        return "Check complete, 1 warning has been found!"
    return f"Check complete, {count} warnings have been found!"


def source_excerpt(lines: Sequence[str], file: str, start: int, end: int) -> str:
    """The lines start..end marked with `>>>`, with up to four lines of context
    (two when one line is marked) split around them, as BuildKit prints a source range."""
    if start < 1 or start > len(lines):
        return ""
    end = min(max(end, start), len(lines))
    marked = range(start, end + 1)
    pad = 4 if end == start else 2
    first, last, p = start, end, 0
    while p < pad:
        if first > 1:
            first -= 1
            p += 1
        if last != len(lines):
            last += 1
            p += 1
        p += 1
    out = [f"{file}:{start}", "-" * 20]
    for number in range(first, last + 1):
        prefix = ">>>" if number in marked else "   "
        out.append(f" {number:3d} | {prefix} {lines[number - 1]}")
    out.append("-" * 20)
    return "\n".join(out) + "\n"


def render_text(warnings: Sequence[LintWarning], source: str, file: str) -> str:
    """The summary line, then each warning with its rule, URL, message and source lines."""
    lines = source.split("\n")
    out = [summary_line(len(warnings)) + "\n"] if warnings else []
    for warning in sorted(warnings, key=lambda w: w.start_line):
        out.append(f"\nWARNING: {warning.rule} - {warning.url}\n{warning.message}\n")
        out.append(source_excerpt(lines, file, warning.start_line, warning.end_line))
    if not warnings:
        out.append(summary_line(0) + "\n")
    return "".join(out)


def build_summary(warnings: Sequence[LintWarning]) -> str:
    """What a build prints after its progress when checks fired (buildx's form, without
    its pointer to `docker --debug`): a count, then one `Rule: message (line N)` line
    per warning."""
    if not warnings:
        return ""
    count = "1 warning found" if len(warnings) == 1 else f"{len(warnings)} warnings found"
    return f"\n {count}:\n" + "".join(f" - {w.short()}\n" for w in warnings)


def _location(start: int, end: int) -> dict[str, Any]:
    return {"ranges": [{"start": {"line": start}, "end": {"line": end}}]}


def render_json(warnings: Sequence[LintWarning], source: str, file: str,
                error: str | None = None, error_line: int = 0) -> str:
    """BuildKit's LintResults (`docker build --check --format json`): warnings with
    ruleName, description, url, detail and location; the Dockerfile as the one source
    (data in base64); `buildError` when the checks failed the build."""
    result: dict[str, Any] = {
        "warnings": [{"ruleName": w.rule, "description": w.description, "url": w.url,
                      "detail": w.message, "location": _location(w.start_line, w.end_line)}
                     for w in warnings],
        "sources": [{"filename": file,
                     "data": base64.b64encode(source.encode("utf-8", "surrogateescape")).decode(),
                     "language": "Dockerfile"}],
    }
    if error is not None:
        result["buildError"] = {"message": error,
                                "location": _location(error_line, error_line) if error_line else {}}
    return json.dumps(result, indent=2, ensure_ascii=False) + "\n"
