"""`pybuild builder prune`: remove build cache, as `docker builder prune`."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

app = typer.Typer(pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True)
builder_app = typer.Typer(pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True,
                          help="Manage the build cache")
app.add_typer(builder_app, name="builder")


@builder_app.command("prune")
def prune(
    all_: Annotated[bool, typer.Option("--all", "-a", help="Remove all build cache (also what images use, and "
                                       "RUN cache mounts), not just dangling records")] = False,
    filter_: Annotated[Optional[list[str]], typer.Option("--filter", help="Filter: until=DURATION (e.g. 24h)")] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not prompt for confirmation")] = False,
) -> None:
    """Remove build cache."""
    from builder.prune import InvalidFilter, parse_until, prune_build_cache
    from oci.store import Store
    from pybuild.commands.images import human_size

    older_than = None
    for item in filter_ or []:
        name, eq, value = item.partition("=")
        if name != "until" or not eq:
            raise InvalidFilter(f"invalid --filter {item!r}: only until=DURATION is supported")
        older_than = parse_until(value)
    if not force:
        what = "all build cache" if all_ else "all dangling build cache"
        print(f"WARNING! This will remove {what}. Are you sure you want to continue? [y/N] ", end="", flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return
    with Store.open() as store:
        report = prune_build_cache(store, everything=all_, older_than=older_than)
    print(f"Deleted build cache records: {report.records}")
    if report.cache_mounts:
        print(f"Deleted cache mounts: {report.cache_mounts}")
    print(f"Total reclaimed space: {human_size(report.reclaimed)}")
