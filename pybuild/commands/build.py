"""`pybuild build` (also `pybuild -t NAME .`): build an image from a Dockerfile, docker's flags.

A cached rebuild costs little more than starting Python, so typer (~30 ms of imports)
stays out of it: `fast_main` parses the flags by hand and declines (returns None) what
it does not plainly understand (`--help`, an unknown or malformed flag); pybuild/main.py
then hands the same arguments to the typer app (`app`, built on first access), which
declares the same flags and prints help and usage errors. A test keeps the two flag
lists equal.
"""

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

# flag -> (parameter, takes a value, may repeat); the typer app declares the same
FLAGS: dict[str, tuple[str, bool, bool]] = {
    "--tag": ("tag", True, True), "-t": ("tag", True, True),
    "--file": ("file", True, False), "-f": ("file", True, False),
    "--build-arg": ("build_arg", True, True),
    "--target": ("target", True, False),
    "--no-cache": ("no_cache", False, False),
    "--label": ("label", True, True),
    "--network": ("network", True, False),
    "--progress": ("progress", True, False),
    "--quiet": ("quiet", False, False), "-q": ("quiet", False, False),
    "--iidfile": ("iidfile", True, False),
    "--compression": ("compression", True, False),
    "--platform": ("platform", True, False),
    "--output": ("output", True, False), "-o": ("output", True, False),
    "--secret": ("secret", True, True),
}


def parse_build_args(args: list[str]) -> dict | None:
    """The parameters of `execute` from `pybuild build ARGS…`, or None when the typer
    app should read them (help, an unknown or malformed flag, no or several contexts)."""
    values: dict = {"context": None}
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            if values["context"] is not None:
                return None
            values["context"] = arg
            continue
        name, eq, inline = arg.partition("=")
        spec = FLAGS.get(name) if name.startswith("--") else FLAGS.get(arg)
        if spec is None:
            return None
        param, takes_value, repeats = spec
        if not takes_value:
            if eq:
                return None
            values[param] = True
            continue
        if eq:
            value = inline
        elif i < len(args):
            value = args[i]
            i += 1
        else:
            return None
        if repeats:
            values.setdefault(param, []).append(value)
        else:
            values[param] = value  # the last one wins, as with typer
    if values["context"] is None:
        return None
    if "iidfile" in values:
        values["iidfile"] = Path(values["iidfile"])
    return values


def fast_main(command: str, args: list[str]) -> int | None:
    """Build from `pybuild build ARGS…` (ARGS after the word `build`) without typer."""
    values = parse_build_args(args)
    return None if values is None else execute(**values)


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


def _secrets(values: list[str]) -> dict[str, str | bytes]:
    """`--secret id=ID,src=FILE` (the file's path) or `id=ID,env=VAR` (the variable's
    value, kept in memory: no copy of it is left on disk); `id=ID` alone reads the file
    ID, as buildx does."""
    from oci.errors import UserError

    out: dict[str, str | bytes] = {}
    for value in values:
        options = _csv_options(value, "--secret")
        ident = options.get("id")
        if not ident:
            raise UserError(f"invalid --secret {value!r}: id= is required")
        source = options.get("src") or options.get("source")
        if source is None and "env" in options:
            if options["env"] not in os.environ:
                raise UserError(f"--secret {value!r}: environment variable {options['env']} is not set")
            out[ident] = os.environb[os.fsencode(options["env"])]
            continue
        if source is None:
            source = ident if os.path.isfile(ident) else None
        if source is None or not os.path.isfile(source):
            raise UserError(f"--secret {value!r}: no such file {source or ident!r}")
        out[ident] = os.path.abspath(source)
    return out


def execute(context: str, tag: Optional[list[str]] = None, file: Optional[str] = None,
            build_arg: Optional[list[str]] = None, target: Optional[str] = None, no_cache: bool = False,
            label: Optional[list[str]] = None, network: str = "host", progress: str = "auto",
            quiet: bool = False, iidfile: Optional[Path] = None, compression: str = "gzip",
            platform: Optional[str] = None, output: Optional[str] = None,
            secret: Optional[list[str]] = None) -> int:
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
        with _canceled_by_signals(), Store.open() as store:
            result = build(store, request, view, fetch_url=_fetch_url,
                           pull_image=lambda ref, platform: _pull_base(store, ref, platform))
            if exports is not None:
                _export(store, result, exports)
    except StepFailed as exc:
        view.close()
        print(failure_report(exc, text), file=sys.stderr)
        raise
    except DockerfileError as exc:
        view.close()
        print(f"Error: {exc.render()}", file=sys.stderr)
        return 1
    except BuildCanceled as exc:
        view.close()
        print("ERROR: canceled", file=sys.stderr)
        return 128 + exc.signum
    finally:
        view.close()
    summary = build_summary(result.warnings)
    if summary and not quiet:
        print(summary, file=sys.stderr, end="")
    if iidfile is not None:
        from oci.atomicfile import atomic_write

        atomic_write(iidfile, result.image.id)
    if quiet:
        print(result.image.id)
    return 0


class BuildCanceled(KeyboardInterrupt):
    """SIGINT or SIGTERM during a build: raised in the main thread, where the solver
    kills the running containers (as on Ctrl-C) and nothing is committed."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _canceled_by_signals() -> Iterator[None]:
    """SIGINT and SIGTERM cancel the build, as they do docker's. SIGINT is handled even
    when it was ignored at start (a `&` job of a script), as docker's CLI does. Only the
    first signal raises: further ones must not cut short the cancel's cleanup."""
    import signal

    received: list[int] = []

    def cancel(signum: int, _frame: object) -> None:
        if not received:
            received.append(signum)
            raise BuildCanceled(signum)

    previous = {sig: signal.signal(sig, cancel) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)  # None: set outside Python


def _fetch_url(url, sink):
    from registry_client.fetch import fetch_url

    return fetch_url(url, sink)


def _pull_base(store, reference: str, platform: str | None) -> bool:
    from registry_client.basepull import pull_base_image

    return pull_base_image(store, reference, platform)


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
    from oci.archive import save, select_images
    from oci.atomicfile import atomic_writer

    entries = select_images(store, list(result.image.tags) or [result.image.id])
    with atomic_writer(dest) as f:
        save(store, entries, f)


def _typer_app():
    import typer

    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True)

    @app.callback()
    def build_commands() -> None:
        """Build images from a Dockerfile."""

    @app.command("build")
    def build_command(
        context: str = typer.Argument(..., help="Build context directory"),
        tag: Optional[list[str]] = typer.Option(None, "--tag", "-t", help="Name and optionally a tag "
                                                "(name:tag); may be given several times"),
        file: Optional[str] = typer.Option(None, "--file", "-f", help="Dockerfile (default: CONTEXT/Dockerfile; "
                                           "'-' reads standard input)"),
        build_arg: Optional[list[str]] = typer.Option(None, "--build-arg", help="Set a build-time variable "
                                                      "(NAME=VALUE, or NAME from the environment)"),
        target: Optional[str] = typer.Option(None, "--target", help="Build this stage"),
        no_cache: bool = typer.Option(False, "--no-cache", help="Do not use the cache"),
        label: Optional[list[str]] = typer.Option(None, "--label", help="Set a label (NAME=VALUE)"),
        network: str = typer.Option("host", "--network", help="Network of RUN steps: host or none"),
        progress: str = typer.Option("auto", "--progress", help="auto, tty or plain"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the image ID"),
        iidfile: Optional[Path] = typer.Option(None, "--iidfile", help="Write the image ID to this file"),
        compression: str = typer.Option("gzip", "--compression", help="Layer compression: gzip, zstd or "
                                        "uncompressed"),
        platform: Optional[str] = typer.Option(None, "--platform", help="Target platform (only the host's)"),
        output: Optional[str] = typer.Option(None, "--output", "-o", help="Also export: type=local,dest=DIR | "
                                             "type=docker|oci,dest=FILE.tar"),
        secret: Optional[list[str]] = typer.Option(None, "--secret", help="Secret for RUN --mount=type=secret: "
                                                   "id=ID,src=FILE or id=ID,env=VAR"),
    ) -> None:
        """Build an image from a Dockerfile."""
        code = execute(context, tag=tag, file=file, build_arg=build_arg, target=target, no_cache=no_cache,
                       label=label, network=network, progress=progress, quiet=quiet, iidfile=iidfile,
                       compression=compression, platform=platform, output=output, secret=secret)
        if code:
            raise typer.Exit(code)

    return app


def __getattr__(name: str):
    # `app` is built on first use: only help and usage errors need typer
    if name == "app":
        globals()["app"] = app = _typer_app()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
