"""`pybuild build` (also `pybuild -t NAME .`): build an image from a Dockerfile, docker's flags."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True)


@app.callback()
def build_commands() -> None:
    """Build images from a Dockerfile."""


def _pairs(values: list[str], flag: str, from_env: bool) -> dict[str, str]:
    """NAME=VALUE pairs; with `from_env`, NAME alone takes the value from the environment
    (and is dropped when it has none), as docker's --build-arg."""
    from oci.errors import UserError

    out: dict[str, str] = {}
    for value in values:
        name, eq, text = value.partition("=")
        if not name:
            raise UserError(f"invalid {flag} {value!r}: expected NAME=VALUE")
        if eq:
            out[name] = text
        elif from_env:
            if name in os.environ:
                out[name] = os.environ[name]
        else:
            out[name] = ""
    return out


def _csv_options(value: str, flag: str) -> dict[str, str]:
    import csv

    from oci.errors import UserError

    out = {}
    for item in next(csv.reader([value])):
        key, eq, text = item.partition("=")
        if not eq:
            raise UserError(f"invalid {flag} {value!r}: {item!r} is not key=value")
        out[key.strip().lower()] = text
    return out


def _secrets(values: list[str]) -> dict[str, str]:
    """`--secret id=ID,src=FILE` or `id=ID,env=VAR` (the variable's value goes to a temp
    file); `id=ID` alone reads the file ID, as buildx does."""
    from oci.errors import UserError

    out = {}
    for value in values:
        options = _csv_options(value, "--secret")
        ident = options.get("id")
        if not ident:
            raise UserError(f"invalid --secret {value!r}: id= is required")
        source = options.get("src") or options.get("source")
        if source is None and "env" in options:
            import tempfile

            if options["env"] not in os.environ:
                raise UserError(f"--secret {value!r}: environment variable {options['env']} is not set")
            fd, source = tempfile.mkstemp(prefix="pybuild-secret-")
            with os.fdopen(fd, "w") as f:
                f.write(os.environ[options["env"]])
        if source is None:
            source = ident if os.path.isfile(ident) else None
        if source is None or not os.path.isfile(source):
            raise UserError(f"--secret {value!r}: no such file {source or ident!r}")
        out[ident] = os.path.abspath(source)
    return out


@app.command("build")
def build_command(
    context: Annotated[str, typer.Argument(help="Build context directory")],
    tag: Annotated[Optional[list[str]], typer.Option("--tag", "-t", help="Name and optionally a tag "
                                                     "(name:tag); may be given several times")] = None,
    file: Annotated[Optional[str], typer.Option("--file", "-f", help="Dockerfile (default: CONTEXT/Dockerfile; "
                                                "'-' reads standard input)")] = None,
    build_arg: Annotated[Optional[list[str]], typer.Option("--build-arg", help="Set a build-time variable "
                                                           "(NAME=VALUE, or NAME from the environment)")] = None,
    target: Annotated[Optional[str], typer.Option("--target", help="Build this stage")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not use the cache")] = False,
    label: Annotated[Optional[list[str]], typer.Option("--label", help="Set a label (NAME=VALUE)")] = None,
    network: Annotated[str, typer.Option("--network", help="Network of RUN steps: host or none")] = "host",
    progress: Annotated[str, typer.Option("--progress", help="auto, tty or plain")] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the image ID")] = False,
    iidfile: Annotated[Optional[Path], typer.Option("--iidfile", help="Write the image ID to this file")] = None,
    compression: Annotated[str, typer.Option("--compression", help="Layer compression: gzip, zstd or "
                                             "uncompressed")] = "gzip",
    platform: Annotated[Optional[str], typer.Option("--platform", help="Target platform (only the host's)")] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Also export: type=local,dest=DIR | "
                                                  "type=docker|oci,dest=FILE.tar")] = None,
    secret: Annotated[Optional[list[str]], typer.Option("--secret", help="Secret for RUN --mount=type=secret: "
                                                        "id=ID,src=FILE or id=ID,env=VAR")] = None,
) -> None:
    """Build an image from a Dockerfile."""
    from builder.build import BuildRequest, build, failure_report, source_date_epoch
    from builder.buildargs import Platform, host_platform
    from builder.checks.report import build_summary
    from builder.errors import DockerfileError
    from builder.progress import make_progress
    from builder.solve import StepFailed
    from oci.errors import UserError
    from oci.store import Store

    if progress not in ("auto", "tty", "plain"):
        raise UserError(f"invalid --progress {progress!r}: auto, tty or plain")
    if platform is not None and str(Platform.parse(platform)) != str(host_platform()):
        raise UserError(f"--platform {platform}: only the host's platform ({host_platform()}) can be built")
    if not os.path.isdir(context):
        raise UserError(f"unable to prepare context: path {context!r} not found")
    exports = _csv_options(output, "--output") if output else None
    if exports is not None and (exports.get("type") not in ("local", "docker", "oci") or not exports.get("dest")):
        raise UserError(f"invalid --output {output!r}: type=local|docker|oci,dest=PATH")
    if file == "-":
        name, path = "Dockerfile", None
        text = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
    else:
        path = file if file is not None else os.path.join(context, "Dockerfile")
        name = path if file is not None else "Dockerfile"
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "surrogateescape")
        except OSError as exc:
            raise UserError(f"failed to read dockerfile {path}: {exc.strerror}") from None
    args = _pairs(build_arg or [], "--build-arg", from_env=True)
    request = BuildRequest(
        context=context, dockerfile=text, dockerfile_name=name, dockerfile_path=path, tags=tuple(tag or ()),
        build_args=args, target=target, no_cache=no_cache, labels=_pairs(label or [], "--label", from_env=False),
        network=network, compression=compression, secrets=_secrets(secret or []),
        source_date_epoch=source_date_epoch(args, os.environ))
    view = make_progress(progress, quiet=quiet)
    try:
        with Store.open() as store:
            result = build(store, request, view)
            if exports is not None:
                _export(store, result, exports)
    except StepFailed as exc:
        view.close()
        print(failure_report(exc, text), file=sys.stderr)
        raise
    except DockerfileError as exc:
        view.close()
        print(f"Error: {exc.render()}", file=sys.stderr)
        raise typer.Exit(1) from None
    finally:
        view.close()
    summary = build_summary(result.warnings)
    if summary and not quiet:
        print(summary, file=sys.stderr, end="")
    if iidfile is not None:
        _write_atomic(iidfile, result.image.id)
    if quiet:
        print(result.image.id)


def _write_atomic(path: Path, text: str) -> None:
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.resolve().parent)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def _export(store, result, exports: dict[str, str]) -> None:
    """--output: the root filesystem into a directory, or the image as an archive."""
    dest = Path(exports["dest"])
    if exports["type"] == "local":
        from oci.apply import apply_layer

        dest.mkdir(parents=True, exist_ok=True)
        for layer in store.manifest(result.image).layers:
            with store.open_blob(layer.digest) as blob:
                apply_layer(blob, dest, overlay=False)
        return
    import tempfile

    from oci.archive import save, select_images

    entries = select_images(store, list(result.image.tags) or [result.image.id])
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.resolve().parent)
    try:
        with os.fdopen(fd, "wb") as f:
            save(store, entries, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.rename(tmp, dest)
    except BaseException:
        os.unlink(tmp)
        raise
