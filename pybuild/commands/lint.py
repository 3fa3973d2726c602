"""`pybuild lint`: BuildKit's build checks on a Dockerfile, printed as
`docker build --check` prints them (docs/lint.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from builder.checks import BaseImage

app = typer.Typer(pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True)


@app.callback()
def lint_commands() -> None:
    """Check a Dockerfile against BuildKit's build checks."""


@app.command("lint")
def lint_command(
    context: Annotated[Optional[str], typer.Argument(
        help="Build context; the Dockerfile is read from it unless -f is given")] = None,
    file: Annotated[Optional[str], typer.Option(
        "--file", "-f", help="Dockerfile to check ('-' reads standard input)")] = None,
    build_arg: Annotated[Optional[list[str]], typer.Option(
        "--build-arg", help="Set a build-time variable (NAME=VALUE, or NAME to take it "
        "from the environment); BUILDKIT_DOCKERFILE_CHECK=... sets the check options")] = None,
    target: Annotated[Optional[str], typer.Option(
        "--target", help="Check the instructions of this stage and the stages it needs")] = None,
    format: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Run the build checks (StageNameCasing, UndefinedVar, ...) without building.

    Exits 0 when the checks only warn.

    Exits 1 when a check fired under `# check=error=true`, or the Dockerfile cannot be read."""
    from builder.checks import LintError, check_config, lint, violation_message
    from builder.checks.report import render_json, render_text
    from builder.errors import DockerfileError
    from builder.parser import parse

    if format not in ("text", "json"):
        raise typer.BadParameter("must be text or json", param_hint="--format")
    path = file if file is not None else str(Path(context or ".") / "Dockerfile")
    source = _read(path)
    args = _build_args(build_arg or [])
    warnings = []
    error: DockerfileError | None = None
    try:
        dockerfile = parse(source, file=path)
        config = check_config(dockerfile, args)
        warnings = lint(dockerfile, args, target=target, base_image=_store_lookup(),
                        config=config)
        if config.error and warnings:
            error = DockerfileError(violation_message(warnings), file=path)
    except LintError as exc:
        warnings, error = exc.warnings, exc
    except DockerfileError as exc:
        error = exc
    if format == "json":
        message = error.message if error is not None else None
        text = render_json(warnings, source, path, message, error.line if error else 0)
    else:
        shown = source.removeprefix("\ufeff")
        text = render_text(warnings, shown, path) if warnings or error is None else ""
    out = sys.stdout.buffer
    out.write(text.encode("utf-8", "surrogateescape"))
    out.flush()
    if error is not None:
        shown = error.render() if error.line else error.message
        print(("\n" if warnings and format == "text" else "") + f"Error: {shown}", file=sys.stderr)
        raise typer.Exit(1)


def _read(path: str) -> str:
    from builder.errors import DockerfileError

    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise DockerfileError(f"cannot read Dockerfile: {exc.strerror}", file=path) from None
    return data.decode("utf-8", "surrogateescape")


def _build_args(values: list[str]) -> dict[str, str]:
    """docker's --build-arg: NAME=VALUE, or NAME alone for the value in the environment
    (ignored when the environment has none)."""
    args: dict[str, str] = {}
    for value in values:
        name, eq, text = value.partition("=")
        if eq:
            args[name] = text
        elif name in os.environ:
            args[name] = os.environ[name]
    return args


def _store_lookup():
    """Base image Env and Shell from the local store, when there is one: BuildKit knows
    them from the registry, and UndefinedVar needs them (`ENV P=$GOPATH/bin`). Nothing
    is created when there is no store yet."""
    from builder.checks import BaseImage
    from oci.store.store import default_root

    root = default_root()
    if not (root / "pybuild.db").exists():
        return None
    images: dict[str, BaseImage | None] = {}

    def lookup(name: str) -> BaseImage | None:
        if name not in images:
            images[name] = _base_image(root, name)
        return images[name]

    return lookup


def _base_image(root: Path, name: str) -> BaseImage | None:
    import json

    from builder.checks import BaseImage
    from oci.errors import UserError
    from oci.store.store import Store

    try:
        with Store.open(root) as store:
            config = json.loads(store.config_bytes(store.resolve(name)))
    except (UserError, OSError, ValueError):
        return None
    settings = config.get("config") or {}
    return BaseImage(tuple(settings.get("Env") or ()), tuple(settings.get("Shell") or ()))
