"""Image commands with docker's names, flags and output: import, images, tag, rmi, inspect,
history, save, load and `image prune` (also reachable as `image ls/rm/…`)."""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import typer

app = typer.Typer(pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True)
image_app = typer.Typer(pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True,
                        help="Manage images")
app.add_typer(image_app, name="image")


def _store():
    from oci.store import Store

    return Store.open()


# ---- docker's human formats (go-units) ----------------------------------------------

def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision: decimal units, `%.<precision>g`."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.{precision}g}{units[i]}"


def human_duration(seconds: float) -> str:
    """go-units HumanDuration, as `docker images` prints CREATED (plus " ago")."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


_FRACTION = re.compile(r"\.(\d+)")


def parse_created(text: str | None) -> datetime | None:
    if not text:
        return None
    # Go writes up to nine fractional digits; fromisoformat takes at most six.
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def created_since(text: str | None) -> str:
    created = parse_created(text)
    if created is None:
        return "N/A"
    return human_duration((datetime.now(timezone.utc) - created).total_seconds()) + " ago"


def created_at(text: str | None) -> str:
    created = parse_created(text)
    return created.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S +0000 UTC") if created else ""


def table(rows: list[list[str]]) -> str:
    """Columns as docker's tabwriter lays them out: width of the widest cell + 3."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i] + 3) for i, cell in enumerate(row[:-1])] + [row[-1]]
        lines.append("".join(cells).rstrip())
    return "\n".join(lines)


def go_json(value: Any, indent: int | None = None) -> str:
    """JSON as Go's encoding/json writes it: `<`, `>`, `&` escaped."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, separators=None if indent else (",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# ---- a Go text/template subset for --format ---------------------------------------

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")


def _go_text(value: Any) -> str:
    """How Go's fmt prints a value in a template: `[a b]`, `map[k:v]`, `<nil>`."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_go_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_text(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def _field(data: Any, path: str) -> Any:
    if path == ".":
        return data
    value = data
    for part in path.lstrip(".").split("."):
        if not isinstance(value, dict) or part not in value:
            raise _template_error(f"can't evaluate field {part}")
        value = value[part]
    return value


def _template_error(message: str):
    from oci.errors import UserError

    return UserError(f"template: {message}")


def _evaluate(action: str, data: Any) -> str:
    words = action.split()
    if not words:
        raise _template_error("empty action")
    if words[0] == "json" and len(words) == 2:
        return go_json(_field(data, words[1]))
    if words[0] == "index" and len(words) >= 3:
        value = _field(data, words[1])
        for key in words[2:]:
            key = key.strip('"')
            try:
                value = value[int(key)] if isinstance(value, list) else value[key]
            except (KeyError, IndexError, ValueError, TypeError):
                raise _template_error(f"error calling index: no entry {key}") from None
        return _go_text(value)
    if words[0] in ("upper", "lower") and len(words) == 2:
        text = _go_text(_field(data, words[1]))
        return text.upper() if words[0] == "upper" else text.lower()
    if len(words) == 1 and words[0].startswith("."):
        return _go_text(_field(data, words[0]))
    raise _template_error(f"unsupported action {{{{{action}}}}}")


def render_template(template: str, data: Any) -> str:
    template = template.replace("\\t", "\t").replace("\\n", "\n")
    out, pos = [], 0
    for match in _ACTION.finditer(template):
        out.append(template[pos:match.start()])
        out.append(_evaluate(match.group(1), data))
        pos = match.end()
    out.append(template[pos:])
    return "".join(out)


def print_formatted(rows: list[dict], fmt: str, columns: list[tuple[str, str]]) -> None:
    """`--format json`, `--format 'table …'` or a template applied per row."""
    if fmt == "json":
        for row in rows:
            print(go_json(row))
        return
    if fmt.startswith("table"):
        template = fmt[len("table"):].strip() or "\t".join("{{.%s}}" % key for key, _ in columns)
        headers = {key: title for key, title in columns}
        header = _ACTION.sub(lambda m: headers.get(m.group(1).lstrip("."), m.group(1).lstrip(".").upper()),
                             template.replace("\\t", "\t"))
        lines = [header.split("\t")] + [render_template(template, row).split("\t") for row in rows]
        width = max(len(line) for line in lines)
        print(table([line + [""] * (width - len(line)) for line in lines]))
        return
    for row in rows:
        print(render_template(fmt, row))


# ---- import -------------------------------------------------------------------------

@app.command("import")
def import_(
    file: str = typer.Argument(..., metavar="file|-", help="Root filesystem tar (plain, gzip, zstd, xz, bzip2), - for stdin"),
    reference: Optional[str] = typer.Argument(None, metavar="[REPOSITORY[:TAG]]"),
    change: list[str] = typer.Option([], "--change", "-c", help="Apply a Dockerfile instruction to the image"),
    message: Optional[str] = typer.Option(None, "--message", "-m", help="Commit message for the imported image"),
) -> None:
    """Import the contents from a tarball to create a filesystem image."""
    from oci.errors import UserError
    from oci.importer import ImportOptions, import_rootfs
    from oci.reference import parse_reference

    if reference is not None:
        parse_reference(reference)  # a bad name fails before the tar is read
    options = ImportOptions(changes=change, message=message)
    with _store() as store:
        if file == "-":
            image = import_rootfs(store, sys.stdin.buffer, reference, options)
        else:
            try:
                tar = open(file, "rb")
            except OSError as e:
                raise UserError(f"{file}: {e.strerror}") from None
            with tar:
                image = import_rootfs(store, tar, reference, options)
    print(image.id)


image_app.command("import")(import_)


# ---- images -------------------------------------------------------------------------

IMAGE_COLUMNS = [("Repository", "REPOSITORY"), ("Tag", "TAG"), ("Digest", "DIGEST"), ("ID", "IMAGE ID"),
                 ("CreatedSince", "CREATED"), ("Size", "SIZE")]


def image_rows(store, repository: str | None, filters: list[str], no_trunc: bool) -> list[dict]:
    """One row per repository:tag (a `<none>` row for an untagged image), newest first."""
    from oci.errors import UserError
    from oci.reference import parse_reference

    wanted = parse_reference(repository, default_tag=False) if repository else None
    dangling: bool | None = None
    for f in filters:
        key, _, value = f.partition("=")
        if key == "dangling" and value in ("true", "false"):
            dangling = value == "true"
        else:
            raise UserError(f"invalid filter '{f}' (supported: dangling=true|false)")
    rows = []
    for image in store.images():
        if dangling is not None and dangling != (not image.tags and not image.repo_digests):
            continue
        names: list[tuple[str, str, str]] = []  # repository, tag, digest
        digests = {}
        for d in image.repo_digests:
            ref = parse_reference(d)
            digests[ref.name] = ref.digest
        for tag in image.tags:
            ref = parse_reference(tag)
            names.append((ref.name, ref.tag or "<none>", digests.get(ref.name, "<none>")))
        for name, digest in digests.items():
            if not any(n[0] == name for n in names):
                names.append((name, "<none>", digest))
        if not names:
            names.append(("", "<none>", "<none>"))
        for name, tag, digest in names:
            if wanted is not None:
                if not name or name != wanted.name or (wanted.tag and wanted.tag != tag):
                    continue
            repo = parse_reference(name).familiar_name() if name else "<none>"
            size = human_size(image.size)
            rows.append({
                "Containers": "N/A", "CreatedAt": created_at(image.created),
                "CreatedSince": created_since(image.created), "Digest": digest,
                "ID": image.id if no_trunc else image.short_id, "Repository": repo,
                "SharedSize": "N/A", "Size": size, "Tag": tag, "UniqueSize": "N/A", "VirtualSize": size,
            })
    return rows


@app.command("images")
def images(
    repository: Optional[str] = typer.Argument(None, metavar="[REPOSITORY[:TAG]]"),
    all_: bool = typer.Option(False, "--all", "-a", help="Show all images (no intermediate images are stored)"),
    digests: bool = typer.Option(False, "--digests", help="Show digests"),
    filter_: list[str] = typer.Option([], "--filter", "-f", help="Filter output (dangling=true|false)"),
    fmt: Optional[str] = typer.Option(None, "--format", help="'json', 'table …' or a Go template"),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="Don't truncate output"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only show image IDs"),
) -> None:
    """List images."""
    with _store() as store:
        rows = image_rows(store, repository, filter_, no_trunc)
    if quiet:
        # One ID per row, repeated for an image with several tags, as docker prints them.
        for row in rows:
            print(row["ID"])
        return
    columns = [c for c in IMAGE_COLUMNS if digests or c[0] != "Digest"]
    print_formatted(rows, fmt or "table", columns)


image_app.command("ls")(images)
image_app.command("list")(images)


# ---- tag ----------------------------------------------------------------------------

@app.command("tag")
def tag(
    source: str = typer.Argument(..., metavar="SOURCE_IMAGE[:TAG]"),
    target: str = typer.Argument(..., metavar="TARGET_IMAGE[:TAG]"),
    remote: bool = typer.Option(False, "--remote", help="Tag in the registry, without pulling (crane tag)"),
) -> None:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE."""
    if remote:
        from pybuild.commands.registry_client import tag_remote

        return tag_remote(source, target)
    with _store() as store:
        store.tag(store.resolve(source), target)


image_app.command("tag")(tag)


# ---- rmi ----------------------------------------------------------------------------

@app.command("rmi")
def rmi(
    names: list[str] = typer.Argument(..., metavar="IMAGE [IMAGE...]"),
    force: bool = typer.Option(False, "--force", "-f", help="Force removal of the image"),
    no_prune: bool = typer.Option(False, "--no-prune", help="Accepted for docker compatibility"),
) -> None:
    """Remove one or more images."""
    from oci.errors import UserError

    failed = False
    with _store() as store:
        for name in names:
            try:
                report = store.remove(name, force=force)
            except UserError as e:
                print(f"Error: {e}", file=sys.stderr)
                failed = True
                continue
            for untagged in report.untagged:
                print(f"Untagged: {untagged}")
            for deleted in report.deleted:
                print(f"Deleted: {deleted}")
    if failed:
        raise typer.Exit(1)


image_app.command("rm")(rmi)


# ---- inspect ------------------------------------------------------------------------

def inspect_document(store, image) -> dict:
    """docker image inspect's shape, from the config exactly as stored."""
    from oci.reference import parse_reference

    config = json.loads(store.config_bytes(image))
    rootfs = config.get("rootfs") or {}
    added = datetime.fromtimestamp(image.added, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    document = {
        "Id": image.id,
        "RepoTags": [parse_reference(t).familiar() for t in image.tags],
        "RepoDigests": [parse_reference(d).familiar() for d in image.repo_digests],
        "Parent": config.get("parent", ""),
        "Comment": config.get("comment", ""),
        "Created": config.get("created", ""),
        "Container": config.get("container", ""),
        "ContainerConfig": config.get("container_config"),
        "DockerVersion": config.get("docker_version", ""),
        "Author": config.get("author", ""),
        "Config": config.get("config"),
        "Architecture": config.get("architecture", ""),
        "Os": config.get("os", ""),
        "Size": image.size,
        "VirtualSize": image.size,
        "RootFS": {"Type": rootfs.get("type", "layers"), "Layers": rootfs.get("diff_ids") or []},
        "Metadata": {"LastTagTime": added},
    }
    if config.get("variant"):
        document["Variant"] = config["variant"]
    return document


@app.command("inspect")
def inspect(
    names: list[str] = typer.Argument(..., metavar="IMAGE [IMAGE...]"),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="Format the output using a Go template"),
) -> None:
    """Display detailed information on one or more images."""
    from oci.errors import UserError

    documents, errors = [], []
    with _store() as store:
        for name in names:
            try:
                documents.append(inspect_document(store, store.resolve(name)))
            except UserError as e:
                errors.append(str(e))
    if fmt and fmt != "json":
        for document in documents:
            print(render_template(fmt, document))
    else:
        print(go_json(documents, indent=4))
    for error in errors:
        print(f"Error: {error}", file=sys.stderr)
    if errors:
        raise typer.Exit(1)


image_app.command("inspect")(inspect)


# ---- history ------------------------------------------------------------------------

@app.command("history")
def history(
    name: str = typer.Argument(..., metavar="IMAGE"),
    fmt: Optional[str] = typer.Option(None, "--format", help="'json', 'table …' or a Go template"),
    human: bool = typer.Option(True, "--human", "-H", help="Print sizes and dates in human readable format"),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="Don't truncate output"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only show image IDs"),
) -> None:
    """Show the history of an image (newest first)."""
    with _store() as store:
        image = store.resolve(name)
        config = json.loads(store.config_bytes(image))
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        layers = store.manifest(image).layers
        sizes = [store.layer_size(d) or (layers[i].size if i < len(layers) else 0) for i, d in enumerate(diff_ids)]
    entries = config.get("history") or [{"created": config.get("created")} for _ in diff_ids]
    rows, layer = [], 0
    for entry in entries:
        size = 0
        if not entry.get("empty_layer") and layer < len(sizes):
            size = sizes[layer]
            layer += 1
        created_by = entry.get("created_by", "")
        if not no_trunc:
            created_by = created_by.replace("\t", " ")
            if len(created_by) > 45:
                created_by = created_by[:44] + "…"
        rows.append({
            "Comment": entry.get("comment", ""),
            "CreatedAt": created_at(entry.get("created")) if human else entry.get("created", ""),
            "CreatedBy": created_by,
            "CreatedSince": created_since(entry.get("created")),
            "ID": "<missing>",
            "Size": human_size(size) if human else str(size),
        })
    rows.reverse()
    if rows:
        rows[0]["ID"] = image.id if no_trunc else image.short_id
    if quiet:
        print("\n".join(row["ID"] for row in rows))
        return
    created_column = "CreatedSince" if human else "CreatedAt"
    columns = [("ID", "IMAGE"), (created_column, "CREATED"), ("CreatedBy", "CREATED BY"), ("Size", "SIZE"),
               ("Comment", "COMMENT")]
    print_formatted(rows, fmt or "table", columns)


image_app.command("history")(history)


# ---- save / load --------------------------------------------------------------------

@app.command("save")
def save(
    names: list[str] = typer.Argument(..., metavar="IMAGE [IMAGE...]"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to a file, instead of STDOUT"),
) -> None:
    """Save one or more images to a tar archive (docker-archive and OCI layout in one)."""
    from oci.archive import save as save_archive
    from oci.archive import select_images
    from oci.atomicfile import atomic_writer
    from oci.errors import UserError

    with _store() as store:
        entries = select_images(store, names)
        if output is None:
            if sys.stdout.isatty():
                raise UserError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
            save_archive(store, entries, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        directory = output.resolve().parent
        if not directory.is_dir():
            raise UserError(f"failed to save image: invalid output path: directory {str(directory)!r} does not exist")
        with atomic_writer(output) as f:
            save_archive(store, entries, f)


image_app.command("save")(save)


@app.command("load")
def load(
    input_: Optional[Path] = typer.Option(None, "--input", "-i", help="Read from tar archive file, instead of STDIN"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Suppress the load output"),
) -> None:
    """Load images from a tar archive (docker save output or an OCI layout tar)."""
    from oci.archive import load as load_archive
    from oci.errors import UserError

    with _store() as store:
        if input_ is None:
            if sys.stdin.isatty():
                raise UserError("requested load from stdin, but stdin is empty")
            loaded = load_archive(store, sys.stdin.buffer)
        else:
            try:
                f = open(input_, "rb")
            except OSError as e:
                raise UserError(f"{input_}: {e.strerror}") from None
            with f:
                loaded = load_archive(store, f)
    if quiet:
        return
    for item in loaded:
        if item.tags:
            for t in item.tags:
                print(f"Loaded image: {t}")
        else:
            print(f"Loaded image ID: {item.image.id}")


image_app.command("load")(load)


# ---- image prune --------------------------------------------------------------------

@image_app.command("prune")
def prune(
    force: bool = typer.Option(False, "--force", "-f", help="Do not prompt for confirmation"),
) -> None:
    """Remove dangling images, and every blob and snapshot no image uses."""
    if not force:
        print("WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ", end="",
              flush=True)
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            return
    with _store() as store:
        report = store.prune()
    if report.untagged or report.deleted:
        print("Deleted Images:")
        for name in report.untagged:
            print(f"untagged: {name}")
        for image_id in report.deleted:
            print(f"deleted: {image_id}")
        print()
    print(f"Total reclaimed space: {human_size(report.reclaimed, 4)}")
