"""Registry client commands with docker's (and crane's) names: login, logout, push,
pull, copy, ls, catalog, manifest inspect, delete, search. The work is done by the
`registry_client` package; this module parses flags and prints.

`push` and `pull` are timed against podman, and typer's import is a tenth of a
`pybuild pull`: `fast_main` parses their usual flags by hand, and the typer app is built
only for the other commands, help and usage errors (pybuild/main.py's fast path)."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Optional


def _options(insecure_hosts: list[str], tls_ca: Optional[Path]):
    from registry_client.transport import Options

    return Options(insecure=frozenset(insecure_hosts), tls_ca=tls_ca)


def _store():
    from oci.store import Store

    return Store.open()


def _reference(text: str):
    from registry_client.names import remote_reference

    return remote_reference(text)


def _short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


class LineProgress:
    """Docker's per-layer status lines: one per blob when it is done (plain output for
    logs and CI); on a TTY a rich bar per blob while it moves."""

    def __init__(self, verbs: dict[str, str], quiet: bool = False) -> None:
        self.verbs = verbs
        self.quiet = quiet
        self.bar = None
        self.tasks: dict[str, int] = {}
        self.lock = threading.Lock()  # transfers report from several threads
        if not quiet and sys.stderr.isatty():
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                transient=True)

    def __enter__(self) -> LineProgress:
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.bar:
            self.bar.stop()

    def start(self, digest: str, total: int) -> None:
        if self.bar and digest not in self.tasks:
            self.tasks[digest] = self.bar.add_task(_short(digest), total=total)

    def advance(self, digest: str, done: int) -> None:
        if self.bar and digest in self.tasks:
            self.bar.update(self.tasks[digest], completed=done)

    def finish(self, digest: str, state: str) -> None:
        if self.quiet:
            return
        line = f"{_short(digest)}: {self.verbs.get(state, state)}"
        with self.lock:
            if self.bar:
                self.bar.console.print(line)
            else:
                sys.stdout.write(line + "\n")
                sys.stdout.flush()


def push_image(image: str, quiet: bool = False, insecure: bool = False, tls_ca: Optional[Path] = None) -> None:
    """Push an image to a registry."""
    from registry_client.push import push as do_push

    reference = _reference(image)
    options = _options([reference.domain] if insecure else [], tls_ca)
    if not quiet:
        print(f"The push refers to repository [{reference.name}]")
    verbs = {"exists": "Layer already exists", "mounted": "Mounted from another repository", "pushed": "Pushed"}
    with _store() as store, LineProgress(verbs, quiet) as progress:
        result = do_push(reference, store, options, progress=progress)
    if quiet:
        print(result.digest)
    else:
        print(f"{reference.tag or 'latest'}: digest: {result.digest} size: {result.size}")


def pull_image(image: str, platform: Optional[str] = None, quiet: bool = False, insecure: bool = False,
               tls_ca: Optional[Path] = None) -> None:
    """Pull an image from a registry into the local store."""
    from registry_client.platforms import parse_platform
    from registry_client.pull import pull as do_pull

    reference = _reference(image)
    options = _options([reference.domain] if insecure else [], tls_ca)
    wanted = parse_platform(platform) if platform else None
    if not quiet:
        print(f"{reference.tag or reference.digest}: Pulling from {reference.familiar_name()}")
    with _store() as store, LineProgress({"done": "Pull complete"}, quiet) as progress:
        result = do_pull(reference, store, options, platform=wanted, progress=progress)
    if not quiet:
        for digest in result.existed:
            print(f"{_short(digest)}: Already exists")
        print(f"Digest: {result.digest}")
        state = "Downloaded newer image" if result.downloaded else "Image is up to date"
        print(f"Status: {state} for {reference.familiar()}")
    print(str(reference))


def tag_remote(source: str, target: str) -> None:
    """`pybuild tag --remote SRC DST` (the `tag` command is pybuild/commands/images.py's)."""
    from registry_client.tag import tag_remote as do_tag

    src, dst = _reference(source), _reference(target)
    digest = do_tag(src, dst, _options([], None))
    print(f"{dst}: digest: {digest}")


# flag -> (parameter, takes a value) of the invocations `fast_main` handles
_FAST_FLAGS: dict[str, dict[str, tuple[str, bool]]] = {
    "push": {"-q": ("quiet", False), "--quiet": ("quiet", False), "--insecure": ("insecure", False),
             "--tls-ca": ("tls_ca", True)},
    "pull": {"-q": ("quiet", False), "--quiet": ("quiet", False), "--insecure": ("insecure", False),
             "--tls-ca": ("tls_ca", True), "--platform": ("platform", True)},
}


def parse_fast_args(command: str, args: list[str]) -> dict | None:
    """`[FLAGS…] IMAGE [FLAGS…]` of `push`/`pull` as keyword arguments of `push_image` /
    `pull_image`, or None where the typer app should decide (help, unknown flags…)."""
    flags = _FAST_FLAGS.get(command)
    if flags is None:
        return None
    values: dict = {}
    images: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-"):
            images.append(arg)
            continue
        flag, has_inline, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if flag not in flags:
            return None
        name, takes_value = flags[flag]
        if not takes_value:
            if has_inline:
                return None
            values[name] = True
            continue
        if not has_inline:
            if i == len(args):
                return None
            inline, i = args[i], i + 1
        values[name] = Path(inline) if name == "tls_ca" else inline
    if len(images) != 1:
        return None
    return {"image": images[0], **values}


def fast_main(command: str, args: list[str]) -> int | None:
    """`pybuild push|pull ARGS…` without typer; None hands the arguments to the app."""
    values = parse_fast_args(command, args)
    if values is None:
        return None
    (push_image if command == "push" else pull_image)(**values)
    return 0


def _typer_app():
    """The typer app of these commands: help, usage errors and the commands `fast_main`
    leaves to it."""
    import typer

    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True)
    manifest_app = typer.Typer(pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True,
                               help="Inspect manifests in a registry")
    app.add_typer(manifest_app, name="manifest")

    InsecureOpt = typer.Option(False, "--insecure", help="Allow plain HTTP and unverified TLS for the registries named")
    TlsCaOpt = typer.Option(None, "--tls-ca", help="CA certificate (PEM) to verify the registry with")


    @app.command("login")
    def login(
        server: Optional[str] = typer.Argument(None, help="Registry (default: Docker Hub)"),
        username: Optional[str] = typer.Option(None, "-u", "--username"),
        password: Optional[str] = typer.Option(None, "-p", "--password"),
        password_stdin: bool = typer.Option(False, "--password-stdin", help="Take the password from stdin"),
        insecure: bool = InsecureOpt,
        tls_ca: Optional[Path] = TlsCaOpt,
    ) -> None:
        """Log in to a registry; the login is kept in docker's config.json."""
        from oci.errors import UserError
        from registry_client.login import login as do_login
        from registry_client.names import registry_host

        host = registry_host(server)
        if password_stdin:
            if password:
                raise UserError("--password and --password-stdin are mutually exclusive")
            if not username:
                raise UserError("Must provide --username with --password-stdin")
            password = sys.stdin.read().rstrip("\r\n")
        if password and not password_stdin:
            print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", file=sys.stderr)
        if not username:
            username = typer.prompt("Username")
        if password is None:
            password = typer.prompt("Password", hide_input=True)
        if not username or not password:
            raise UserError("Error: Non-null Username and Password Required")
        do_login(host, username, password, _options([host] if insecure else [], tls_ca))
        print("Login Succeeded")


    @app.command("logout")
    def logout(server: Optional[str] = typer.Argument(None, help="Registry (default: Docker Hub)")) -> None:
        """Log out from a registry."""
        from registry_client.login import logout as do_logout
        from registry_client.names import registry_host

        host = registry_host(server)
        if do_logout(host):
            print(f"Removing login credentials for {host}")
        else:
            print(f"Not logged in to {host}")


    @app.command("push")
    def push(
        image: str = typer.Argument(..., help="NAME[:TAG] of an image in the local store"),
        quiet: bool = typer.Option(False, "-q", "--quiet", help="Print only the digest"),
        insecure: bool = InsecureOpt,
        tls_ca: Optional[Path] = TlsCaOpt,
    ) -> None:
        """Push an image to a registry."""
        push_image(image, quiet, insecure, tls_ca)


    @app.command("pull")
    def pull(
        image: str = typer.Argument(..., help="NAME[:TAG|@DIGEST]"),
        platform: Optional[str] = typer.Option(None, "--platform", help="os/arch[/variant] of a multi-platform image"),
        quiet: bool = typer.Option(False, "-q", "--quiet", help="Print only the image reference"),
        insecure: bool = InsecureOpt,
        tls_ca: Optional[Path] = TlsCaOpt,
    ) -> None:
        """Pull an image from a registry into the local store."""
        pull_image(image, platform, quiet, insecure, tls_ca)


    @app.command("copy")
    def copy(
        source: str = typer.Argument(..., help="Source image in a registry"),
        destination: str = typer.Argument(..., help="Destination image in a registry"),
        insecure: bool = InsecureOpt,
        tls_ca: Optional[Path] = TlsCaOpt,
    ) -> None:
        """Copy an image (all its platforms) between registries without the local store."""
        from registry_client.copy import copy as do_copy

        src, dst = _reference(source), _reference(destination)
        options = _options([src.domain, dst.domain] if insecure else [], tls_ca)
        result = do_copy(src, dst, options)
        print(f"{dst}: digest: {result.digest}")


    @app.command("ls")
    def ls(
        repository: str = typer.Argument(..., help="Repository in a registry"),
        insecure: bool = InsecureOpt,
        tls_ca: Optional[Path] = TlsCaOpt,
    ) -> None:
        """List the tags of a repository."""
        from registry_client.client import RegistryClient
        from registry_client.names import repository_reference

        reference = repository_reference(repository)
        with RegistryClient(reference.domain, _options([reference.domain] if insecure else [], tls_ca)) as client:
            for tag in client.tags(reference.path):
                print(tag)


    @app.command("catalog")
    def catalog(
        registry: str = typer.Argument(..., help="Registry host[:port]"),
        insecure: bool = InsecureOpt,
        tls_ca: Optional[Path] = TlsCaOpt,
    ) -> None:
        """List the repositories of a registry."""
        from registry_client.client import RegistryClient
        from registry_client.names import registry_host

        host = registry_host(registry)
        with RegistryClient(host, _options([host] if insecure else [], tls_ca)) as client:
            for name in client.catalog():
                print(name)


    @manifest_app.command("inspect")
    def manifest_inspect(
        image: str = typer.Argument(..., help="NAME[:TAG|@DIGEST] in a registry"),
        raw: bool = typer.Option(False, "--raw", help="Print the manifest bytes as served"),
        insecure: bool = InsecureOpt,
        tls_ca: Optional[Path] = TlsCaOpt,
    ) -> None:
        """Show an image manifest or manifest list."""
        from registry_client.client import RegistryClient

        reference = _reference(image)
        with RegistryClient(reference.domain, _options([reference.domain] if insecure else [], tls_ca)) as client:
            fetched = client.get_manifest(reference.path, reference.digest or reference.tag or "latest")
        if raw:
            sys.stdout.buffer.write(fetched.data)
            sys.stdout.flush()
        else:
            print(json.dumps(json.loads(fetched.data), indent=3))


    @app.command("delete")
    def delete(
        image: str = typer.Argument(..., help="NAME:TAG or NAME@DIGEST in a registry"),
        insecure: bool = InsecureOpt,
        tls_ca: Optional[Path] = TlsCaOpt,
    ) -> None:
        """Delete a manifest from a registry (a tag deletes the manifest it points to)."""
        from registry_client.delete import delete as do_delete

        reference = _reference(image)
        digest = do_delete(reference, _options([reference.domain] if insecure else [], tls_ca))
        print(f"Deleted {reference.name}@{digest}")


    @app.command("search")
    def search(
        term: str = typer.Argument(..., help="[REGISTRY/]TERM"),
        limit: int = typer.Option(25, "--limit", help="Max number of search results"),
        filters: list[str] = typer.Option([], "-f", "--filter", help="stars=N, is-official=true|false"),
        fmt: Optional[str] = typer.Option(None, "--format", help="Go template, e.g. '{{.Name}}'"),
        no_trunc: bool = typer.Option(False, "--no-trunc", help="Don't truncate output"),
        insecure: bool = InsecureOpt,
        tls_ca: Optional[Path] = TlsCaOpt,
    ) -> None:
        """Search a registry for images (/v1/search, else its catalog)."""
        from registry_client.search import apply_filters, parse_filters, search as do_search, split_term

        host, text = split_term(term)
        wanted = parse_filters(filters)
        results = apply_filters(do_search(host, text, limit, _options([host] if insecure else [], tls_ca)), wanted)
        if fmt:
            from pybuild.commands.images import render_template

            for r in results:
                print(render_template(fmt, {"Name": r.name, "Description": r.description,
                                            "StarCount": r.star_count, "IsOfficial": r.is_official}))
            return
        rows = [["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]]
        for r in results:
            description = r.description if no_trunc or len(r.description) <= 45 else r.description[:44] + "…"
            rows.append([r.name, description, str(r.star_count), "[OK]" if r.is_official else ""])
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            print("   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "   " + row[3])

    return app


def __getattr__(name: str):
    # `app` is built on first use: `fast_main` serves push and pull without typer
    if name == "app":
        globals()["app"] = app = _typer_app()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
