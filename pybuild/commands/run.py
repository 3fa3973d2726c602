"""`pybuild run`: run a command in a new container of a local image, in the foreground."""

from typing import List, Optional

import typer

app = typer.Typer(pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True)

@app.callback()
def group() -> None:
    """Keeps `run` a named subcommand: a typer app with one command would otherwise take
    the word `run` as its IMAGE argument."""


FORWARDED = ("SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH")


def _mounts(volumes: list[str], tmpfs: list[str]):
    import os

    from runner.spec import InvalidRunSpec, Mount

    mounts = []
    for volume in volumes:
        parts = volume.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
            raise InvalidRunSpec(f"invalid volume specification: '{volume}' (HOST:CONTAINER[:ro|rw])")
        if not os.path.isabs(parts[0]):
            raise InvalidRunSpec(f"invalid volume specification: '{volume}': named volumes are not "
                                 "supported yet, give an absolute host path")
        mounts.append(Mount(target=parts[1], source=parts[0], readonly=parts[2:] == ["ro"]))
    for entry in tmpfs:
        target, _, options = entry.partition(":")
        mounts.append(Mount(target=target, type="tmpfs", options=options))
    return mounts


@app.command("run", context_settings={"allow_interspersed_args": False},
             help="Run a command in a new container (foreground; the container is always removed)")
def run(
    image: str = typer.Argument(..., help="Image name or ID"),
    command: Optional[List[str]] = typer.Argument(None, help="Command and arguments (replace CMD)"),
    rm: bool = typer.Option(False, "--rm", help="Remove the container when it exits (always done for now: "
                                               "stopped containers are not kept yet)"),
    env: List[str] = typer.Option([], "-e", "--env", help="Set an environment variable (K=V, or K from here)"),
    workdir: Optional[str] = typer.Option(None, "-w", "--workdir", help="Working directory inside"),
    user: Optional[str] = typer.Option(None, "-u", "--user", help="name|uid[:group|gid]"),
    network: str = typer.Option("host", "--network", help="host, none, or a network namespace path"),
    volume: List[str] = typer.Option([], "-v", "--volume", help="Bind mount HOST:CONTAINER[:ro|rw]"),
    tmpfs: List[str] = typer.Option([], "--tmpfs", help="Mount a tmpfs: PATH[:OPTIONS]"),
    entrypoint: Optional[str] = typer.Option(None, "--entrypoint", help="Replace the image's ENTRYPOINT"),
    memory: Optional[str] = typer.Option(None, "-m", "--memory", help="Memory limit (e.g. 256m)"),
    pids_limit: Optional[int] = typer.Option(None, "--pids-limit", help="Process limit"),
    cpus: Optional[float] = typer.Option(None, "--cpus", help="CPU quota in CPUs"),
    hostname: Optional[str] = typer.Option(None, "-h", "--hostname", help="Container hostname"),
) -> None:
    import json
    import signal
    import sys

    from oci.store import Store
    from runner.container import Container
    from runner.image import process_from_image
    from runner.spec import Limits, RunSpec, parse_size

    with Store.open() as store, store.lease():
        stored = store.resolve(image)
        config = json.loads(store.config_bytes(stored)).get("config") or {}
        argv, environment, cwd, run_user = process_from_image(
            config, command=command or [], entrypoint=entrypoint, env=env, workdir=workdir, user=user)
        layers = [str(p) for p in store.ensure_snapshots(stored)]
        if hostname is None and network == "host":
            import os

            hostname = os.uname().nodename  # Docker: a host-network container has the host's name
        spec = RunSpec(layers=layers, argv=argv, env=environment, cwd=cwd, user=run_user,
                       hostname=hostname or "", network=network, mounts=_mounts(volume, tmpfs),
                       limits=Limits(memory=parse_size(memory) if memory else None, pids=pids_limit,
                                     cpus=cpus))
        container = Container(spec)
        container.start()
        for name in FORWARDED:
            signal.signal(getattr(signal, name), lambda sig, _frame: container.signal(sig))
        try:
            result = container.wait()
        except KeyboardInterrupt:  # wait() has killed the container
            raise typer.Exit(130) from None
    if result.oom_killed or result.timed_out or result.canceled:
        print(f"pybuild: {result.describe()}", file=sys.stderr)
    raise typer.Exit(result.exit_code)
