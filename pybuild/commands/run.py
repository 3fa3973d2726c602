"""`pybuild run`: run a command in a new container of a local image, in the foreground.

Start-up is most of what `pybuild run --rm IMAGE true` costs, so this module imports
nothing heavy: `fast_main` parses docker's run flags by hand and runs the container
without typer or rich; it declines (returns None) whatever it does not plainly
understand (`--help`, an unknown or malformed flag, `--`), and pybuild/main.py then
hands the same arguments to the typer app, which prints help and usage errors. The
typer app (`app`, built on first access) declares the same flags for that; a test keeps
the two flag lists equal.
"""

import os
import sys

FORWARDED = ("SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH")

# flag -> (parameter, converter); converter None: a boolean flag; list: repeatable
_FLAGS: dict[str, tuple[str, object]] = {
    "--rm": ("rm", None),
    "-e": ("env", list), "--env": ("env", list),
    "-w": ("workdir", str), "--workdir": ("workdir", str),
    "-u": ("user", str), "--user": ("user", str),
    "--network": ("network", str),
    "-v": ("volume", list), "--volume": ("volume", list),
    "--tmpfs": ("tmpfs", list),
    "--entrypoint": ("entrypoint", str),
    "-m": ("memory", str), "--memory": ("memory", str),
    "--pids-limit": ("pids_limit", int),
    "--cpus": ("cpus", float),
    "-h": ("hostname", str), "--hostname": ("hostname", str),
}


def parse_run_args(args: list[str]) -> dict | None:
    """`[FLAGS…] IMAGE [COMMAND…]` (options end at the image, as docker's do) as the
    keyword arguments of `execute`, or None where the typer app should decide."""
    values: dict = {"env": [], "volume": [], "tmpfs": [], "network": "host", "workdir": None, "user": None,
                    "entrypoint": None, "memory": None, "pids_limit": None, "cpus": None, "hostname": None}
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "-":
        flag, inline, value = args[i].partition("=") if args[i].startswith("--") else (args[i], "", "")
        if flag not in _FLAGS:
            return None
        name, convert = _FLAGS[flag]
        i += 1
        if convert is None:
            if inline:
                return None
            continue
        if not inline:
            if i == len(args):
                return None
            value = args[i]
            i += 1
        if convert is list:
            values[name].append(value)
            continue
        try:
            values[name] = convert(value)
        except ValueError:
            return None
    if i == len(args):
        return None
    values["image"], values["command"] = args[i], args[i + 1:]
    return values


def fast_main(command: str, args: list[str]) -> int | None:
    """Run `pybuild run ARGS…` (ARGS after the word `run`) without typer; returns the
    exit code, or None when the typer app should handle these arguments."""
    values = parse_run_args(args)
    return None if values is None else execute(**values)


def _mounts(volumes: list[str], tmpfs: list[str]):
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


def _image(root: str, image: str) -> tuple[dict, list[str]]:
    """The image config and its snapshot directories: the store's read-only look-up when
    every snapshot exists, else the full store, which unpacks what is missing and
    explains an unknown name."""
    from oci.store import lookup

    found = lookup.image_snapshots(root, image)
    if found is not None:
        return found
    import json

    from oci.store import Store

    with Store.open(root) as store:
        stored = store.resolve(image)
        config = json.loads(store.config_bytes(stored))
        return config, [str(p) for p in store.ensure_snapshots(stored)]


def execute(*, image: str, command: list[str], rm: bool = False, env: list[str], workdir: str | None,
            user: str | None, network: str, volume: list[str], tmpfs: list[str], entrypoint: str | None,
            memory: str | None, pids_limit: int | None, cpus: float | None, hostname: str | None) -> int:
    """Run the container in the foreground; returns the exit code. `rm` is accepted for
    docker's sake: the container is always removed (stopped containers are not kept yet)."""
    import _signal  # `signal` would import enum: ~5 ms of every run
    import _thread

    from oci.store import lookup
    from runner.container import Container
    from runner.image import process_from_image
    from runner.spec import Limits, RunSpec, parse_size

    root = lookup.default_root()
    os.makedirs(root, exist_ok=True)
    # Held until the container is gone (the forked init inherits it): no prune removes
    # the snapshots under it.
    lease = lookup.Lease(root)
    try:
        config, layers = _image(root, image)
        argv, environment, cwd, run_user = process_from_image(
            config.get("config") or {}, command=command, entrypoint=entrypoint, env=env, workdir=workdir,
            user=user)
        if hostname is None and network == "host":
            hostname = os.uname().nodename  # Docker: a host-network container has the host's name
        spec = RunSpec(layers=layers, argv=argv, env=environment, cwd=cwd, user=run_user,
                       hostname=hostname or "", network=network, mounts=_mounts(volume, tmpfs),
                       limits=Limits(memory=parse_size(memory) if memory else None, pids=pids_limit,
                                     cpus=cpus))
        # As the program, this process has no other thread and the init can be a fork
        # of it (an interpreter's start saved); a caller of main() with threads gets the
        # spawned init.
        container = Container(spec, fork=not _thread._count())
        container.start()
        for name in FORWARDED:
            _signal.signal(getattr(_signal, name), lambda sig, _frame: container.signal(sig))
        try:
            result = container.wait()
        except KeyboardInterrupt:  # wait() has killed the container
            return 130
    finally:
        lease.close()
    if result.oom_killed or result.timed_out or result.canceled:
        print(f"pybuild: {result.describe()}", file=sys.stderr)
    return result.exit_code


def _typer_app():
    from typing import List, Optional

    import typer

    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True)

    @app.callback()
    def group() -> None:
        """Keeps `run` a named subcommand: a typer app with one command would otherwise take
        the word `run` as its IMAGE argument."""

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
        raise typer.Exit(execute(image=image, command=command or [], rm=rm, env=env, workdir=workdir, user=user,
                                 network=network, volume=volume, tmpfs=tmpfs, entrypoint=entrypoint,
                                 memory=memory, pids_limit=pids_limit, cpus=cpus, hostname=hostname))

    return app


def __getattr__(name: str):
    # `app` is built on first use: only help and usage errors need typer
    if name == "app":
        globals()["app"] = app = _typer_app()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
