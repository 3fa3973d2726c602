"""`pybuild parse` (and the Dockerfile checks beside it): commands that read a
Dockerfile without building it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from builder.ast import Dockerfile

app = typer.Typer(pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True)



@app.callback()
def dockerfile_commands() -> None:
    """Read a Dockerfile without building it."""


FileOption = Annotated[str, typer.Option("--file", "-f", help="Dockerfile to read ('-' reads standard input)")]


def load_dockerfile(path: str) -> Dockerfile:
    """Parse `path` (or standard input for '-'); a syntax error is printed with the
    offending line and a caret, and exits 1."""
    from builder.errors import DockerfileError
    from builder.parser import parse, parse_file

    try:
        if path == "-":
            data = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
            return parse(data, file="-")
        return parse_file(path)
    except DockerfileError as exc:
        print(f"Error: {exc.render()}", file=sys.stderr)
        raise typer.Exit(1) from None


@app.command("parse")
def parse_command(
    file: FileOption = "Dockerfile",
    format: Annotated[str, typer.Option("--format", help="json or text")] = "text",
) -> None:
    """Print a Dockerfile's syntax tree (docs/dockerfile-ast.md describes the JSON)."""
    if format not in ("json", "text"):
        print(f"Error: --format must be json or text, not {format!r}", file=sys.stderr)
        raise typer.Exit(2)
    dockerfile = load_dockerfile(file)
    for warning in dockerfile.warnings:
        print(f"[WARNING]: {warning.message} ({dockerfile.file}:{warning.line})", file=sys.stderr)
    out = sys.stdout.buffer
    if format == "json":
        import json

        text = json.dumps(dockerfile.to_json(), indent=2, ensure_ascii=False) + "\n"
    else:
        text = "".join(_text_lines(dockerfile))
    out.write(text.encode("utf-8", "surrogateescape"))
    out.flush()


def _text_lines(dockerfile: Dockerfile):
    for directive in dockerfile.directives:
        yield f"# {directive.name}={directive.value}\n"
    for instruction in dockerfile.instructions:
        yield _text(instruction, "")


def _text(instruction, indent: str) -> str:
    """One instruction per line: lines, name, flags, then its fields in Python repr
    (strings quoted, so blanks and escapes stay visible)."""
    from builder.ast import Onbuild

    head = f"{indent}{instruction.start_line}-{instruction.end_line} {instruction.name}"
    for flag in instruction.flags:
        head += f" --{flag.name}" + ("" if flag.value is None else f"={flag.value!r}")
    data = instruction.to_json()
    for key in ("instruction", "start_line", "end_line", "flags", "trigger", "heredocs"):
        data.pop(key, None)
    fields = " ".join(f"{k}={v!r}" for k, v in data.items() if v not in (None, [], False))
    text = f"{head} {fields}".rstrip() + "\n"
    for doc in getattr(instruction, "heredocs", ()):
        text += f"{indent}    <<{doc.name} fd={doc.fd} expand={doc.expand} body={doc.body!r}\n"
    if isinstance(instruction, Onbuild):
        text += _text(instruction.trigger, indent + "    ")
    return text
