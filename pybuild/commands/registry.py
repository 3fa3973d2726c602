"""`pybuild registry serve`: run the bundled OCI distribution registry."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from pybuild.commands.registry_users import user_app

app = typer.Typer(pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True)
registry_app = typer.Typer(pretty_exceptions_enable=False, add_completion=False,
                           no_args_is_help=True, help="Run and manage the bundled registry")
app.add_typer(registry_app, name="registry")
registry_app.add_typer(user_app, name="user")


def default_root() -> Path:
    """`PYBUILD_REGISTRY_ROOT`, else `/var/lib/pybuild-registry` for root, else
    `$XDG_DATA_HOME/pybuild-registry`."""
    if env := os.environ.get("PYBUILD_REGISTRY_ROOT"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/pybuild-registry")
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(data_home) / "pybuild-registry"


@registry_app.command("serve")
def serve(
    addr: Optional[str] = typer.Option(
        None, "--addr", help="HOST:PORT to listen on [default: 127.0.0.1:5000]"),
    root: Optional[Path] = typer.Option(None, "--root", help="Where blobs and metadata live"),
    workers: Optional[int] = typer.Option(
        None, "--workers", min=1, help="Worker processes sharing the store [default: CPUs]"),
    config_file: Optional[Path] = typer.Option(
        None, "--config", help="TOML settings (flags and PYBUILD_REGISTRY_* override them)"),
    tls_cert: Optional[Path] = typer.Option(None, "--tls-cert", help="PEM certificate (with --tls-key)"),
    tls_key: Optional[Path] = typer.Option(None, "--tls-key", help="PEM private key"),
    tls_self_signed: bool = typer.Option(
        False, "--tls-self-signed", help="HTTPS with a certificate for 127.0.0.1/localhost kept in ROOT/tls"),
    access_log: Optional[str] = typer.Option(
        None, "--access-log", help="Log each request to FILE, or - for stderr [default: off]"),
    gc_interval: Optional[float] = typer.Option(
        None, "--gc-interval", min=0, help="Minutes between online garbage collections [default: never]"),
) -> None:
    """Serve the OCI distribution API (v1.1), the web page and /metrics on ADDR."""
    from registry_server import config as settings
    from registry_server.serve import serve as run

    config = settings.load(config_file, addr=addr, root=root, workers=workers, tls_cert=tls_cert,
                           tls_key=tls_key, tls_self_signed=tls_self_signed,
                           access_log=access_log, gc_interval=gc_interval)
    run(config.addr, config.root or default_root(), config.workers or os.cpu_count() or 1, config)


@registry_app.command("gc")
def gc(
    root: Optional[Path] = typer.Option(None, "--root", help="The registry's store"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report what would go, delete nothing"),
    delete_untagged: bool = typer.Option(
        False, "--delete-untagged", help="Also delete manifests no tag reaches"),
    grace: float = typer.Option(
        60, "--grace", min=0, help="Minutes during which new blobs and manifests are kept"),
    upload_ttl: float = typer.Option(
        24, "--upload-ttl", min=0, help="Hours after which an untouched upload is removed"),
) -> None:
    """Delete blobs no manifest uses (safe while the server runs)."""
    from registry_server.gc import collect
    from registry_server.storage import Storage

    storage = Storage.open_existing(root or default_root())
    try:
        report = collect(storage, dry_run=dry_run, delete_untagged=delete_untagged,
                         grace=grace * 60, upload_ttl=upload_ttl * 3600)
    finally:
        storage.close()
    verb = "would delete" if dry_run else "deleted"
    for manifest in report.manifests_deleted:
        print(f"{verb} manifest {manifest}")
    for digest in report.blobs_deleted:
        print(f"{verb} blob {digest}")
    print(f"{verb} {len(report.manifests_deleted)} manifests, {report.links_deleted} blob links, "
          f"{len(report.blobs_deleted)} blobs ({report.bytes_freed} bytes), "
          f"{report.uploads_deleted} uploads")

